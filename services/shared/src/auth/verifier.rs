//! Verifying bearer tokens against the configured issuer and JWKS.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::cache::{CachedToken, TokenCache, TokenDigest};
use super::config::{AuthConfig, ClaimMapping, Trust};
use super::error::AuthError;
use super::jwks::{Fetcher, KeySet, Lookup, ParsedKeys, parse_jwks};
use super::principal::{Principal, Role};

/// Longer tokens are refused before any work: ours are well under 2 KiB.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The claims a token must carry (API.md); `nbf` and `iat` are optional.
const REQUIRED_CLAIMS: [&str; 4] = ["exp", "iss", "aud", "sub"];
/// More clock skew than this is a misconfiguration, not tolerance.
const MAX_LEEWAY_S: u64 = 24 * 60 * 60;

/// Verifies bearer tokens; cheap to clone (the state is shared).
///
/// It trusts one or several anchors (the people's identity providers, this
/// deployment's service key, other deployments' service keys), each an issuer
/// with its own keys, claim names and the roles it may grant; a token is
/// checked against the anchor its `iss` names, which must be a single string.
///
/// Built once per process with [`Verifier::new`] or [`Verifier::trusting`],
/// which load each anchor's JWKS. Keys are
/// refetched when a token names an unknown `kid` (at most once per
/// [`AuthConfig::jwks_refresh_cooldown`], callers sharing the one fetch) and, for file
/// and URL sources, in the background once they are older than
/// [`AuthConfig::jwks_ttl`]; a token whose key is known never waits for I/O.
#[derive(Clone)]
pub struct Verifier {
    anchors: Arc<[Arc<Inner>]>,
}

struct Inner {
    issuer: String,
    audience: String,
    claims: ClaimMapping,
    trust: Trust,
    leeway_s: u64,
    jwks_ttl: Duration,
    refresh_cooldown: Duration,
    fetcher: Fetcher,
    keys: RwLock<Arc<KeySet>>,
    /// Held while the JWKS is being refetched, so concurrent callers share one fetch.
    refresh: tokio::sync::Mutex<()>,
    /// When the JWKS was last fetched after start-up, successful or not.
    last_refetch: Mutex<Option<Instant>>,
    background_refresh_running: AtomicBool,
    /// JWKS loads, start-up included.
    fetches: AtomicU64,
    /// Bumped whenever the keys in force change; cache entries of older epochs are
    /// stale, so a token whose key was withdrawn is not accepted from the cache.
    key_epoch: AtomicU64,
    cache: TokenCache,
    hs256: Option<DecodingKey>,
    validations: Validations,
}

/// One claims validation per algorithm we accept.
struct Validations {
    eddsa: Validation,
    es256: Validation,
    rs256: Validation,
    hs256: Validation,
}

/// A token's claims, read by the names of the anchor's [`ClaimMapping`];
/// `jsonwebtoken` reports the required ones as missing by name.
type Claims = serde_json::Map<String, serde_json::Value>;

/// The one payload field read before the signature is checked: which anchor
/// the token claims to come from.
#[derive(serde::Deserialize)]
struct Issuer {
    iss: Option<serde_json::Value>,
}

/// Where [`Inner::start`] leaves a token.
enum Start {
    Cached(Principal),
    Verify(TokenDigest, u64, Header),
}

/// The key for a token, or the key set generation that lacked its `kid`.
enum Selected {
    Key(DecodingKey, Algorithm),
    UnknownKid(u64),
}

/// The two header fields we act on; read before any key is chosen.
#[derive(serde::Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

impl Verifier {
    /// Trusts one anchor: loads its JWKS and checks the settings.
    ///
    /// # Errors
    /// [`AuthError::Jwks`] if the JWKS cannot be read or holds no usable key (unless an
    /// HS256 development secret is set); [`AuthError::Config`] for an empty issuer or
    /// audience, an excessive leeway, an empty HS256 secret or a non-https JWKS URL.
    pub async fn new(config: AuthConfig) -> Result<Verifier, AuthError> {
        Verifier::trusting(vec![config]).await
    }

    /// Trusts every anchor of `configs`, each naming an issuer no other names.
    ///
    /// # Errors
    /// As [`Verifier::new`] for any anchor, and [`AuthError::Config`] when there
    /// is none or two name the same issuer.
    pub async fn trusting(configs: Vec<AuthConfig>) -> Result<Verifier, AuthError> {
        if configs.is_empty() {
            return Err(AuthError::Config("no issuer is trusted".to_owned()));
        }
        let mut anchors: Vec<Arc<Inner>> = Vec::with_capacity(configs.len());
        for config in configs {
            if anchors.iter().any(|anchor| anchor.issuer == config.issuer) {
                return Err(AuthError::Config(format!(
                    "the issuer {:?} is configured twice",
                    config.issuer
                )));
            }
            anchors.push(Arc::new(Inner::load(config).await?));
        }
        Ok(Verifier {
            anchors: anchors.into(),
        })
    }

    /// The issuers whose tokens are accepted, the first one's first.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.anchors.iter().map(|anchor| anchor.issuer.as_str())
    }

    /// Verifies `token` (the JWT alone, without `Bearer `) and returns its caller.
    ///
    /// Waits only when the token names a `kid` the JWKS lacks: then the JWKS is
    /// refetched (at most once per cooldown, shared with concurrent callers) and the
    /// lookup retried once. Never returns [`AuthError::Jwks`] or [`AuthError::Config`]:
    /// a failed refetch keeps the previous keys and is logged.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let (inner, digest, key_epoch, header) = match self.start(token)? {
            (_, Start::Cached(principal)) => return Ok(principal),
            (inner, Start::Verify(digest, key_epoch, header)) => (inner, digest, key_epoch, header),
        };
        let (key, alg) = match inner.select_key(&header)? {
            Selected::Key(key, alg) => (key, alg),
            Selected::UnknownKid(generation) => {
                inner.refetch_for_unknown_kid(generation).await;
                match inner.select_key(&header)? {
                    Selected::Key(key, alg) => (key, alg),
                    Selected::UnknownKid(_) => return Err(AuthError::UnknownKey),
                }
            }
        };
        inner.finish(token, digest, key_epoch, &key, alg)
    }

    /// [`verify`](Self::verify) without ever waiting, for tonic's synchronous
    /// interceptors: a token naming an unknown `kid` is refused at once with
    /// [`AuthError::UnknownKey`] while the JWKS is refetched in the background (same
    /// cooldown), so a retry shortly after can succeed.
    pub fn verify_now(&self, token: &str) -> Result<Principal, AuthError> {
        let (inner, digest, key_epoch, header) = match self.start(token)? {
            (_, Start::Cached(principal)) => return Ok(principal),
            (inner, Start::Verify(digest, key_epoch, header)) => (inner, digest, key_epoch, header),
        };
        match inner.select_key(&header)? {
            Selected::Key(key, alg) => inner.finish(token, digest, key_epoch, &key, alg),
            Selected::UnknownKid(generation) => {
                Inner::refetch_in_background(inner, "a token names an unknown kid", move |inner| {
                    inner.current_keys().generation == generation
                });
                Err(AuthError::UnknownKey)
            }
        }
    }

    /// Cheap checks and the caches; the anchor and what is left to do for a
    /// token not cached.
    fn start(&self, token: &str) -> Result<(&Arc<Inner>, Start), AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        for anchor in self.anchors.iter() {
            anchor.refresh_if_stale();
        }
        let digest: TokenDigest = Sha256::digest(token.as_bytes()).into();
        for anchor in self.anchors.iter() {
            if let Some(principal) = anchor.cached(&digest)? {
                return Ok((anchor, Start::Cached(principal)));
            }
        }
        let header = read_header(token)?;
        let issuer = read_issuer(token)?;
        let anchor = self
            .anchors
            .iter()
            .find(|anchor| anchor.issuer == issuer)
            .ok_or(AuthError::WrongIssuer)?;
        let key_epoch = anchor.key_epoch.load(Ordering::Acquire);
        Ok((anchor, Start::Verify(digest, key_epoch, header)))
    }

    /// JWKS loads of the first anchor so far, the one at start-up included.
    #[cfg(test)]
    pub(crate) fn jwks_fetches(&self) -> u64 {
        self.anchors[0].fetches.load(Ordering::Acquire)
    }

    #[cfg(test)]
    pub(crate) fn cached_tokens(&self) -> usize {
        self.anchors.iter().map(|anchor| anchor.cache.len()).sum()
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for anchor in self.anchors.iter() {
            list.entry(&format_args!(
                "{{ issuer: {:?}, audience: {:?}, jwks: {}, trust: {:?}, hs256: {} }}",
                anchor.issuer,
                anchor.audience,
                anchor.fetcher,
                anchor.trust,
                anchor.hs256.is_some()
            ));
        }
        list.finish()
    }
}

impl Inner {
    /// One anchor's settings checked and its JWKS loaded.
    async fn load(config: AuthConfig) -> Result<Inner, AuthError> {
        if config.issuer.trim().is_empty() {
            return Err(AuthError::Config("the issuer is not set".to_owned()));
        }
        if config.audience.trim().is_empty() {
            return Err(AuthError::Config("the audience is empty".to_owned()));
        }
        if config.leeway_s > MAX_LEEWAY_S {
            return Err(AuthError::Config(format!(
                "a leeway of {} s exceeds {MAX_LEEWAY_S} s",
                config.leeway_s
            )));
        }
        let hs256 = match &config.hs256_secret {
            None => None,
            Some(secret) if secret.expose_secret().is_empty() => {
                return Err(AuthError::Config("the HS256 secret is empty".to_owned()));
            }
            Some(secret) => {
                tracing::warn!(
                    "HS256 tokens signed with a shared secret are accepted; this is for development only"
                );
                Some(DecodingKey::from_secret(secret.expose_secret().as_bytes()))
            }
        };

        let fetcher = Fetcher::new(&config.jwks, &config.issuer, config.jwks_ca.as_deref())?;
        let text = fetcher.fetch().await.map_err(AuthError::Jwks)?;
        let keys = parse_jwks(&text).map_err(|err| AuthError::Jwks(format!("{fetcher}: {err}")))?;
        if keys.entries.is_empty() && hs256.is_none() {
            return Err(AuthError::Jwks(format!("{fetcher}: no usable key")));
        }
        tracing::info!(issuer = %config.issuer, source = %fetcher, keys = keys.entries.len(), "token signing keys loaded");

        let validation = |alg| claims_validation(alg, &config);
        Ok(Inner {
            validations: Validations {
                eddsa: validation(Algorithm::EdDSA),
                es256: validation(Algorithm::ES256),
                rs256: validation(Algorithm::RS256),
                hs256: validation(Algorithm::HS256),
            },
            issuer: config.issuer,
            audience: config.audience,
            claims: config.claims,
            trust: config.trust,
            leeway_s: config.leeway_s,
            jwks_ttl: config.jwks_ttl,
            refresh_cooldown: config.jwks_refresh_cooldown,
            fetcher,
            keys: RwLock::new(Arc::new(KeySet {
                keys,
                generation: 0,
                loaded_at: Instant::now(),
            })),
            refresh: tokio::sync::Mutex::new(()),
            last_refetch: Mutex::new(None),
            background_refresh_running: AtomicBool::new(false),
            fetches: AtomicU64::new(1),
            key_epoch: AtomicU64::new(0),
            cache: TokenCache::new(config.cache_capacity),
            hs256,
        })
    }

    fn current_keys(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// `exp` and `nbf` against the clock, with the same bounds as `jsonwebtoken`.
    fn check_times(
        &self,
        expires_at: i64,
        not_before: Option<i64>,
        now: i64,
    ) -> Result<(), AuthError> {
        let leeway = self.leeway_s as i64;
        if expires_at.saturating_add(leeway) < now {
            return Err(AuthError::Expired);
        }
        if not_before.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(AuthError::NotYetValid);
        }
        Ok(())
    }

    /// A cached principal for the token of `digest`, if this anchor verified it
    /// with the keys still in force; its times are checked again.
    fn cached(&self, digest: &TokenDigest) -> Result<Option<Principal>, AuthError> {
        let key_epoch = self.key_epoch.load(Ordering::Acquire);
        let Some(hit) = self.cache.get(digest, key_epoch) else {
            return Ok(None);
        };
        if let Err(err) = self.check_times(hit.principal.expires_at, hit.not_before, unix_now()) {
            if err == AuthError::Expired {
                self.cache.remove(digest);
            }
            return Err(err);
        }
        Ok(Some(Principal::clone(&hit.principal)))
    }

    /// Starts a background refetch when the keys are older than the JWKS TTL.
    fn refresh_if_stale(self: &Arc<Self>) {
        if self.keys_are_stale() {
            Inner::refetch_in_background(self, "the keys are older than the JWKS TTL", |inner| {
                inner.keys_are_stale()
            });
        }
    }

    /// Checks signature and claims, and remembers the verified token.
    fn finish(
        &self,
        token: &str,
        digest: TokenDigest,
        key_epoch: u64,
        key: &DecodingKey,
        alg: Algorithm,
    ) -> Result<Principal, AuthError> {
        let claims = jsonwebtoken::decode::<Claims>(token, key, self.validations.get(alg))
            .map_err(from_jwt_error)?
            .claims;
        let not_before = number(&claims, "nbf").map(numeric_date);
        let principal = Arc::new(principal_from(&claims, &self.claims, self.trust)?);
        self.cache.insert(
            digest,
            CachedToken {
                principal: Arc::clone(&principal),
                not_before,
                key_epoch,
            },
            unix_now().saturating_sub(self.leeway_s as i64),
        );
        Ok(Arc::unwrap_or_clone(principal))
    }

    /// The key and algorithm a token must be checked with. The algorithm comes from
    /// the key; the header's `alg` only has to agree with it.
    fn select_key(&self, header: &Header) -> Result<Selected, AuthError> {
        let alg = accepted_algorithm(&header.alg)?;
        let kid = header.kid.as_deref();
        let keys = self.current_keys();
        if alg == Algorithm::HS256 {
            let secret = self.hs256.as_ref().ok_or(AuthError::AlgorithmNotAllowed)?;
            // HS256 naming an asymmetric key is the RSA-public-key-as-secret attack.
            if kid.is_some_and(|kid| keys.has_kid(kid)) {
                return Err(AuthError::AlgorithmNotAllowed);
            }
            return Ok(Selected::Key(secret.clone(), Algorithm::HS256));
        }
        match keys.find(kid) {
            Lookup::Found(entry) if entry.alg == alg => Ok(Selected::Key(entry.key.clone(), alg)),
            Lookup::Found(_) => Err(AuthError::AlgorithmNotAllowed),
            Lookup::Ambiguous => Err(AuthError::UnknownKey),
            Lookup::UnknownKid if self.fetcher.is_refreshable() => {
                Ok(Selected::UnknownKid(keys.generation))
            }
            Lookup::UnknownKid => Err(AuthError::UnknownKey),
        }
    }

    /// Refetches the JWKS for a token whose `kid` was not in `seen_generation`, unless
    /// another caller already did or the cooldown has not passed.
    async fn refetch_for_unknown_kid(&self, seen_generation: u64) {
        let _refreshing = self.refresh.lock().await;
        if self.current_keys().generation != seen_generation {
            return; // fetched while we waited
        }
        if !self.refetch_cooldown_passed() {
            tracing::debug!("unknown kid; the JWKS was refetched recently, not again yet");
            return;
        }
        self.refetch("a token names an unknown kid").await;
    }

    fn keys_are_stale(&self) -> bool {
        self.fetcher.is_refreshable()
            && self.current_keys().loaded_at.elapsed() >= self.jwks_ttl
            && self.refetch_cooldown_passed()
    }

    /// Refetches the JWKS on a spawned task if `still_needed` holds once the refresh
    /// lock is taken; one such task at a time, none outside a tokio runtime.
    fn refetch_in_background(
        self: &Arc<Self>,
        reason: &'static str,
        still_needed: impl FnOnce(&Inner) -> bool + Send + 'static,
    ) {
        if !self.refetch_cooldown_passed() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.background_refresh_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(self);
        runtime.spawn(async move {
            let _running = ClearOnDrop(&inner.background_refresh_running);
            let _refreshing = inner.refresh.lock().await;
            if still_needed(&inner) && inner.refetch_cooldown_passed() {
                inner.refetch(reason).await;
            }
        });
    }

    fn refetch_cooldown_passed(&self) -> bool {
        let last = *self
            .last_refetch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        last.is_none_or(|at| at.elapsed() >= self.refresh_cooldown)
    }

    /// Fetches the JWKS and puts it in force; on failure the previous keys stay.
    /// Callers hold `self.refresh`.
    async fn refetch(&self, reason: &'static str) {
        *self
            .last_refetch
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::AcqRel);
        let source = &self.fetcher;
        let fetched = self
            .fetcher
            .fetch()
            .await
            .and_then(|text| parse_jwks(&text));
        match fetched {
            Ok(keys) if keys.entries.is_empty() => {
                tracing::warn!(%source, reason, "the refetched JWKS has no usable key; keeping the previous keys");
            }
            Ok(keys) => self.install(keys, reason),
            Err(err) => {
                tracing::warn!(%source, reason, error = %err, "refetching the JWKS failed; keeping the previous keys");
            }
        }
    }

    fn install(&self, keys: ParsedKeys, reason: &'static str) {
        let count = keys.entries.len();
        let mut current = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let changed = current.keys.fingerprint != keys.fingerprint;
        *current = Arc::new(KeySet {
            keys,
            generation: current.generation + 1,
            loaded_at: Instant::now(),
        });
        drop(current);
        if changed {
            self.key_epoch.fetch_add(1, Ordering::AcqRel);
            self.cache.clear();
            tracing::info!(source = %self.fetcher, reason, keys = count, "token signing keys changed");
        } else {
            tracing::debug!(source = %self.fetcher, reason, "token signing keys unchanged");
        }
    }
}

/// Clears a "running" flag however the task ends.
struct ClearOnDrop<'a>(&'a AtomicBool);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Validations {
    fn get(&self, alg: Algorithm) -> &Validation {
        match alg {
            Algorithm::EdDSA => &self.eddsa,
            Algorithm::ES256 => &self.es256,
            Algorithm::RS256 => &self.rs256,
            // `accepted_algorithm` admits nothing else.
            _ => &self.hs256,
        }
    }
}

fn claims_validation(alg: Algorithm, config: &AuthConfig) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = config.leeway_s;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.set_issuer(&[&config.issuer]);
    validation.set_audience(&[&config.audience]);
    validation.set_required_spec_claims(&REQUIRED_CLAIMS);
    validation
}

/// The header's algorithm, if it is one we ever accept.
fn accepted_algorithm(name: &str) -> Result<Algorithm, AuthError> {
    match name {
        "EdDSA" => Ok(Algorithm::EdDSA),
        "ES256" => Ok(Algorithm::ES256),
        "RS256" => Ok(Algorithm::RS256),
        "HS256" => Ok(Algorithm::HS256),
        _ => Err(AuthError::AlgorithmNotAllowed),
    }
}

fn read_header(token: &str) -> Result<Header, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::Malformed)?;
    let header: Header = serde_json::from_slice(&json).map_err(|_| AuthError::Malformed)?;
    // RFC 7515 §4.1.11: extensions we do not understand must be refused.
    if header.crit.is_some() {
        return Err(AuthError::Malformed);
    }
    Ok(header)
}

fn from_jwt_error(err: jsonwebtoken::errors::Error) -> AuthError {
    // `ErrorKind` is non_exhaustive, hence the final arm: anything new is a token we
    // could not read.
    match err.kind() {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(
            REQUIRED_CLAIMS
                .into_iter()
                .find(|required| required == claim)
                .unwrap_or("exp"),
        ),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName => AuthError::AlgorithmNotAllowed,
        ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => {
            tracing::warn!(error = %err, "a JWKS key cannot verify signatures");
            AuthError::BadSignature
        }
        _ => AuthError::Malformed,
    }
}

/// The caller a verified token names, read through `mapping`; refused when
/// it names a role its issuer may not grant.
fn principal_from(
    claims: &Claims,
    mapping: &ClaimMapping,
    trust: Trust,
) -> Result<Principal, AuthError> {
    let sub = claims
        .get("sub")
        .and_then(|sub| sub.as_str())
        .filter(|sub| !sub.is_empty())
        .ok_or(AuthError::MissingClaim("sub"))?
        .to_owned();
    let expires_at = number(claims, "exp")
        .map(numeric_date)
        .ok_or(AuthError::MissingClaim("exp"))?;
    let roles = roles(claims, mapping, &sub);
    let allowed = match trust {
        Trust::ServiceOnly => roles == [Role::Service],
        Trust::Users { allow_service } => allow_service || !roles.contains(&Role::Service),
    };
    if !allowed {
        tracing::warn!(sub = %sub, ?roles, ?trust, "refusing a token that names a role its issuer may not grant");
        return Err(AuthError::RoleNotAllowed);
    }
    let text = |name: &str| claim(claims, name).and_then(single_text);
    Ok(Principal {
        roles,
        jurisdiction: text(&mapping.jurisdiction),
        department: text(&mapping.department),
        uscc: text(&mapping.uscc),
        name: text(&mapping.name),
        sub,
        expires_at,
    })
}

/// The roles the token grants: the names in the roles claim, through the
/// role map when there is one, without duplicates; unknown names grant nothing.
fn roles(claims: &Claims, mapping: &ClaimMapping, sub: &str) -> Vec<Role> {
    let names: Vec<&str> = match claim(claims, &mapping.roles) {
        Some(serde_json::Value::Array(items)) => {
            items.iter().filter_map(|item| item.as_str()).collect()
        }
        Some(serde_json::Value::String(text)) => text.split_whitespace().collect(),
        _ => Vec::new(),
    };
    let mut roles = Vec::with_capacity(names.len());
    for name in names {
        let role = if mapping.role_map.is_empty() {
            name.parse::<Role>().ok()
        } else {
            mapping.role_map.get(name).copied()
        };
        match role {
            Some(role) if !roles.contains(&role) => roles.push(role),
            Some(_) => {}
            None => {
                tracing::debug!(role = %name, sub = %sub, "ignoring a role name that grants nothing")
            }
        }
    }
    roles
}

/// The claim `name`: a top-level claim of that name, else the dotted path
/// through nested objects (`realm_access.roles`).
fn claim<'a>(claims: &'a Claims, name: &str) -> Option<&'a serde_json::Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// A claim's text: a string, a number (a code some providers emit as one), or
/// an array of exactly one of those (a multi-valued user attribute).
fn single_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) if !text.is_empty() => Some(text.clone()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        serde_json::Value::Array(items) if items.len() == 1 => single_text(&items[0]),
        _ => None,
    }
}

fn number<'a>(claims: &'a Claims, name: &str) -> Option<&'a serde_json::Number> {
    match claims.get(name) {
        Some(serde_json::Value::Number(number)) => Some(number),
        _ => None,
    }
}

/// The token's `iss`, read before its signature is checked to choose the
/// anchor; it must be one string (RFC 7519 §4.1.1), never an array.
fn read_issuer(token: &str) -> Result<String, AuthError> {
    let payload = token.split('.').nth(1).ok_or(AuthError::Malformed)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| AuthError::Malformed)?;
    let claims: Issuer = serde_json::from_slice(&json).map_err(|_| AuthError::Malformed)?;
    match claims.iss {
        Some(serde_json::Value::String(issuer)) => Ok(issuer),
        Some(_) => Err(AuthError::WrongIssuer),
        None => Err(AuthError::MissingClaim("iss")),
    }
}

/// A JWT NumericDate (RFC 7519 §2), which may carry a fraction, in whole seconds,
/// rounded as `jsonwebtoken` does so cache hits expire when misses would.
fn numeric_date(value: &serde_json::Number) -> i64 {
    value
        .as_i64()
        .or_else(|| value.as_f64().map(|seconds| seconds.round() as i64))
        .unwrap_or(i64::MAX)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}
