//! Minting tokens: service-to-service calls and the development issuer.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::principal::Role;

/// What a minted token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The person or system.
    pub sub: String,
    pub roles: Vec<Role>,
    /// GB/T 2260 code, e.g. `510821`.
    pub jurisdiction: Option<String>,
    pub department: Option<String>,
    /// Unified social credit code, for enterprise users.
    pub uscc: Option<String>,
    pub name: Option<String>,
    /// `aud`; the signer's audience when `None`.
    pub audience: Option<String>,
    /// Lifetime from now; at least one second.
    pub ttl: Duration,
}

impl TokenRequest {
    /// A one-hour token for `sub` with `roles` and nothing else.
    pub fn new(sub: impl Into<String>, roles: Vec<Role>) -> Self {
        TokenRequest {
            sub: sub.into(),
            roles,
            jurisdiction: None,
            department: None,
            uscc: None,
            name: None,
            audience: None,
            ttl: Duration::from_secs(60 * 60),
        }
    }
}

/// Why a key could not be loaded or a token not be minted.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("unusable private key: {0}")]
    Key(String),
    #[error("cannot mint the token: {0}")]
    Request(String),
    #[error("signing failed")]
    Sign,
}

enum SigningKey {
    Ed25519(Ed25519KeyPair),
    P256(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// Signs tokens with one private key (Ed25519 → EdDSA, P-256 → ES256,
/// RSA → RS256) for one issuer.
pub struct Signer {
    key: SigningKey,
    kid: String,
    issuer: String,
    audience: String,
    public_jwk: serde_json::Value,
}

impl Signer {
    /// Loads an unencrypted PEM private key: PKCS#8 (`PRIVATE KEY`, any of the three
    /// kinds), SEC1 (`EC PRIVATE KEY`, P-256) or PKCS#1 (`RSA PRIVATE KEY`).
    ///
    /// Without a `kid`, the key's RFC 7638 SHA-256 thumbprint is used.
    pub fn from_pem(
        pem: &[u8],
        kid: Option<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Signer, SigningError> {
        let (label, der) = pem_to_der(pem)?;
        let key = match label.as_str() {
            "PRIVATE KEY" => {
                if let Ok(key) = Ed25519KeyPair::from_pkcs8(&der) {
                    SigningKey::Ed25519(key)
                } else if let Ok(key) =
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                {
                    SigningKey::P256(key)
                } else if let Ok(key) = RsaKeyPair::from_pkcs8(&der) {
                    SigningKey::Rsa(key)
                } else {
                    return Err(SigningError::Key(
                        "the PKCS#8 key is not Ed25519, P-256 or RSA".to_owned(),
                    ));
                }
            }
            "EC PRIVATE KEY" => SigningKey::P256(
                EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                    .map_err(|err| SigningError::Key(format!("not a P-256 key: {err}")))?,
            ),
            "RSA PRIVATE KEY" => SigningKey::Rsa(
                RsaKeyPair::from_der(&der)
                    .map_err(|err| SigningError::Key(format!("not an RSA key: {err}")))?,
            ),
            "ENCRYPTED PRIVATE KEY" => {
                return Err(SigningError::Key(
                    "encrypted keys are not supported".to_owned(),
                ));
            }
            other => {
                return Err(SigningError::Key(format!(
                    "a PEM {other:?} is not a private key"
                )));
            }
        };
        if let SigningKey::Rsa(rsa) = &key
            && rsa.public_modulus_len() < 256
        {
            return Err(SigningError::Key(
                "RSA keys must have at least 2048 bits".to_owned(),
            ));
        }
        let (thumbprint_input, mut public_jwk) = public_parameters(&key);
        let kid = kid.unwrap_or_else(|| URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint_input)));
        let alg = algorithm(&key);
        public_jwk["kid"] = json!(kid);
        public_jwk["alg"] = json!(alg_name(alg));
        public_jwk["use"] = json!("sig");
        Ok(Signer {
            key,
            kid,
            issuer: issuer.into(),
            audience: audience.into(),
            public_jwk,
        })
    }

    /// The signing algorithm, fixed by the key.
    pub fn algorithm(&self) -> Algorithm {
        algorithm(&self.key)
    }

    /// The `kid` every minted token carries.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The default `aud`.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The public key as a JWK, with `kid`, `alg` and `use: sig`.
    pub fn public_jwk(&self) -> &serde_json::Value {
        &self.public_jwk
    }

    /// A JWKS holding only this signer's public key, for a verifier to load.
    pub fn jwks_json(&self) -> String {
        let jwks = json!({ "keys": [self.public_jwk] });
        serde_json::to_string_pretty(&jwks).unwrap_or_default() + "\n"
    }

    /// Signs a token with `iss`, `aud`, `sub`, `iat`, `nbf` and `exp` (now + ttl), the
    /// roles and whichever optional claims are set.
    pub fn mint(&self, request: &TokenRequest) -> Result<String, SigningError> {
        if request.sub.is_empty() {
            return Err(SigningError::Request("sub is empty".to_owned()));
        }
        let ttl = i64::try_from(request.ttl.as_secs())
            .ok()
            .filter(|ttl| *ttl > 0)
            .ok_or_else(|| {
                SigningError::Request("ttl must be between 1 s and i64::MAX s".to_owned())
            })?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| SigningError::Request("the clock is before 1970".to_owned()))?
            .as_secs() as i64;
        let mut claims = json!({
            "iss": self.issuer,
            "aud": request.audience.as_deref().unwrap_or(&self.audience),
            "sub": request.sub,
            "iat": now,
            "nbf": now,
            "exp": now.saturating_add(ttl),
            "roles": request.roles.iter().map(|role| role.as_str()).collect::<Vec<_>>(),
        });
        for (claim, value) in [
            ("jurisdiction", &request.jurisdiction),
            ("department", &request.department),
            ("uscc", &request.uscc),
            ("name", &request.name),
        ] {
            if let Some(value) = value {
                claims[claim] = json!(value);
            }
        }
        let header = json!({ "alg": alg_name(self.algorithm()), "typ": "JWT", "kid": self.kid });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.sign(signing_input.as_bytes())?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        match &self.key {
            SigningKey::Ed25519(key) => Ok(key.sign(message).as_ref().to_vec()),
            SigningKey::P256(key) => key
                .sign(&SystemRandom::new(), message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| SigningError::Sign),
            SigningKey::Rsa(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| SigningError::Sign)?;
                Ok(signature)
            }
        }
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("alg", &self.algorithm())
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Default for TokenRequest {
    fn default() -> Self {
        TokenRequest::new(String::new(), Vec::new())
    }
}

fn algorithm(key: &SigningKey) -> Algorithm {
    match key {
        SigningKey::Ed25519(_) => Algorithm::EdDSA,
        SigningKey::P256(_) => Algorithm::ES256,
        SigningKey::Rsa(_) => Algorithm::RS256,
    }
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::EdDSA => "EdDSA",
        Algorithm::ES256 => "ES256",
        _ => "RS256",
    }
}

/// The RFC 7638 thumbprint input (required members, lexicographic order, no
/// whitespace) and the public JWK.
fn public_parameters(key: &SigningKey) -> (String, serde_json::Value) {
    match key {
        SigningKey::Ed25519(key) => {
            let x = URL_SAFE_NO_PAD.encode(key.public_key().as_ref());
            (
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
                json!({ "kty": "OKP", "crv": "Ed25519", "x": x }),
            )
        }
        SigningKey::P256(key) => {
            // Uncompressed point: 0x04 ‖ x ‖ y.
            let point = key.public_key().as_ref();
            let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
            let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
            (
                format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#),
                json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }),
            )
        }
        SigningKey::Rsa(key) => {
            let public = key.public_key();
            let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
            let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
            (
                format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
                json!({ "kty": "RSA", "n": n, "e": e }),
            )
        }
    }
}

/// The label and DER body of the first PEM block.
fn pem_to_der(text: &[u8]) -> Result<(String, Vec<u8>), SigningError> {
    let block = pem::parse(text).map_err(|_| SigningError::Key("not a PEM document".to_owned()))?;
    // RFC 1421 headers such as `Proc-Type: 4,ENCRYPTED`.
    if block.headers().iter().next().is_some() {
        return Err(SigningError::Key(
            "encrypted PEM keys are not supported".to_owned(),
        ));
    }
    Ok((block.tag().to_owned(), block.into_contents()))
}

/// PEM text of a PKCS#8 DER private key.
pub(crate) fn pkcs8_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("PRIVATE KEY", der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}
