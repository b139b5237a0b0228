//! A deployment's own service key: the second trust anchor (DESIGN.md,
//! "Identity and access").
//!
//! The parts of a deployment call one another (following event logs, reopening a
//! case) with tokens of the `service` role signed by this key. Its public key is
//! trusted for that role alone, whatever identity provider the city's people sign
//! in with, and the people's provider is not trusted for it: a city need not list
//! zhengqi's key in its provider, and a token of the provider cannot pose as a
//! part of zhengqi.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::{AuthConfig, JwksSource};
use super::dev_issuer::load_or_create_key;
use super::principal::Role;
use super::signer::{Signer, SigningError, TokenRequest};

/// The service key `zhengqi up` (and `serve` without `ZHENGQI_SERVICE_KEY`)
/// keeps in the data folder (PKCS#8 v1 PEM, mode 0600).
pub const SERVICE_KEY_FILE: &str = "service-key.pem";
/// Its public key as a JWKS, for another deployment to trust
/// (`[[auth.services]]`).
pub const SERVICE_JWKS_FILE: &str = "service-jwks.json";
/// The issuer of service tokens when `ZHENGQI_SERVICE_ISSUER` is unset.
pub const DEFAULT_SERVICE_ISSUER: &str = "zhengqi-service";

/// This deployment's service key and the issuer its tokens name.
#[derive(Debug, Clone)]
pub struct ServiceKey {
    signer: Arc<Signer>,
    path: PathBuf,
}

impl ServiceKey {
    /// The key in the PEM file `path` (`ZHENGQI_SERVICE_KEY`, a mounted secret):
    /// Ed25519, P-256 or RSA, as `openssl genpkey` writes them.
    pub fn from_file(path: &Path, issuer: &str) -> Result<ServiceKey, SigningError> {
        let pem = std::fs::read(path).map_err(|source| SigningError::Io {
            path: path.to_owned(),
            source,
        })?;
        let signer = Signer::from_pem(&pem, None, issuer, super::DEFAULT_AUDIENCE)?;
        Ok(ServiceKey {
            signer: Arc::new(signer),
            path: path.to_owned(),
        })
    }

    /// The key in the data folder `dir`, created with its public JWKS when missing.
    pub fn load_or_create(dir: &Path, issuer: &str) -> Result<ServiceKey, SigningError> {
        let (signer, path, _) =
            load_or_create_key(dir, SERVICE_KEY_FILE, SERVICE_JWKS_FILE, issuer)?;
        Ok(ServiceKey {
            signer: Arc::new(signer),
            path,
        })
    }

    /// The signer of this deployment's service tokens.
    pub fn signer(&self) -> Arc<Signer> {
        Arc::clone(&self.signer)
    }

    /// Where the private key was read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn issuer(&self) -> &str {
        self.signer.issuer()
    }

    /// The anchor that trusts this key for the `service` role alone.
    pub fn anchor(&self) -> AuthConfig {
        AuthConfig::service(self.issuer(), JwksSource::Inline(self.signer.jwks_json()))
    }

    /// A `service` token for `subject` (`zhengqi token --role service`, a
    /// county system's configuration): the role and nothing else.
    pub fn mint(&self, subject: &str, ttl: std::time::Duration) -> Result<String, SigningError> {
        self.signer.mint(&TokenRequest {
            ttl,
            ..TokenRequest::new(subject, vec![Role::Service])
        })
    }
}
