//! Who is calling: bearer-token verification and the [`Principal`] it yields.
//!
//! Every external call carries `authorization: Bearer <jwt>` (API.md, "Identity: the
//! JWT"). The gateway and every service verify it with a [`Verifier`]:
//!
//! - the signature, with a key from the configured JWKS chosen by the token's `kid`;
//!   the algorithm always comes from the key (Ed25519 → EdDSA, P-256 → ES256,
//!   RSA → RS256), never from the token, so `alg: none` and algorithm confusion
//!   (an HS256 token "signed" with an RSA public key) are refused;
//! - `iss`, `aud`, `exp`, `nbf` and `sub`, with the configured leeway;
//! - verified tokens are kept in a bounded cache keyed by the token's SHA-256, as
//!   Envoy's jwt_authn does, so a client that reuses its token pays for the signature
//!   check once; `exp` and `nbf` are still checked on every call.
//!
//! A verifier trusts one or more anchors ([`AuthConfig`]): the people's identity
//! providers (a JWKS file or URL, or OpenID Connect discovery from the issuer, with
//! the provider's claim names mapped by [`ClaimMapping`]) and the deployments'
//! service keys ([`ServiceKey`]), which grant the `service` role and nothing else
//! ([`Trust`]).
//!
//! For `zhengqi up` and `zhengqi token` a [`DevIssuer`] keeps an Ed25519 key and its
//! `jwks.json` in the data folder; a [`Signer`] mints tokens from any PEM key.
//!
//! Use from a server (the lead's wiring; this module knows nothing of tonic):
//!
//! ```text
//! // once, at start-up
//! let verifier = Verifier::new(AuthConfig::new(issuer, JwksSource::from_setting(&jwks))).await?;
//! // per call: in an async tower layer …
//! let token = auth::bearer_token(headers.get("authorization").and_then(|v| v.to_str().ok()))?;
//! let principal = verifier.verify(token).await?;
//! // … or in tonic's synchronous interceptor, which cannot await:
//! let principal = verifier.verify_now(token)?;
//! request.extensions_mut().insert(principal);
//! ```
//!
//! Every [`AuthError`] a token causes is `UNAUTHENTICATED`; [`AuthError::reason`]
//! labels metrics and audit records.

mod cache;
mod config;
mod dev_issuer;
mod error;
mod jwks;
mod principal;
mod service_key;
mod signer;
mod verifier;

#[cfg(test)]
mod tests;

pub use config::{
    AuthConfig, ClaimMapping, DEFAULT_AUDIENCE, DEFAULT_CACHE_CAPACITY,
    DEFAULT_JWKS_REFRESH_COOLDOWN, DEFAULT_JWKS_TTL, DEFAULT_LEEWAY_S, JwksSource, Trust,
};
pub use dev_issuer::{DEV_JWKS_FILE, DEV_SIGNING_KEY_FILE, DevIssuer};
pub use error::{AuthError, bearer_token};
pub use principal::{Principal, Role, UnknownRole};
pub use service_key::{DEFAULT_SERVICE_ISSUER, SERVICE_JWKS_FILE, SERVICE_KEY_FILE, ServiceKey};
pub use signer::{Signer, SigningError, TokenRequest};
pub use verifier::Verifier;
