//! The development issuer of `zhengqi up` and `zhengqi token` (API.md, "Operating the
//! suite"): an Ed25519 key and its JWKS kept in the data folder.

use std::fs;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;

use super::config::{AuthConfig, DEFAULT_AUDIENCE, JwksSource};
use super::signer::{Signer, SigningError, TokenRequest, pkcs8_pem};

/// The development private key (PKCS#8 v1 PEM, as `openssl genpkey` writes and
/// `openssl pkey` reads; mode 0600), inside the data folder.
pub const DEV_SIGNING_KEY_FILE: &str = "dev-signing-key.pem";
/// The development public key as a JWKS, inside the data folder.
pub const DEV_JWKS_FILE: &str = "jwks.json";

/// A local issuer whose key lives in a folder: created on first use, reused after.
#[derive(Debug)]
pub struct DevIssuer {
    signer: Signer,
    key_path: PathBuf,
    jwks_path: PathBuf,
}

impl DevIssuer {
    /// Loads the key in `dir`, creating the folder, an Ed25519 key and `jwks.json` if
    /// they are missing. Tokens it mints name `issuer` and, unless asked otherwise, the
    /// audience `zhengqi`.
    ///
    /// Blocking file I/O; meant for start-up and the `token` command.
    pub fn load_or_create(dir: &Path, issuer: &str) -> Result<DevIssuer, SigningError> {
        let (signer, key_path, jwks_path) =
            load_or_create_key(dir, DEV_SIGNING_KEY_FILE, DEV_JWKS_FILE, issuer)?;
        Ok(DevIssuer {
            signer,
            key_path,
            jwks_path,
        })
    }

    /// Signs a token with the development key.
    pub fn mint(&self, request: &TokenRequest) -> Result<String, SigningError> {
        self.signer.mint(request)
    }

    /// `jwks.json`, holding the public key.
    pub fn jwks_path(&self) -> &Path {
        &self.jwks_path
    }

    /// `dev-signing-key.pem`, the private key.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    pub fn issuer(&self) -> &str {
        self.signer.issuer()
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Verifier settings that trust this issuer, everything else at its default.
    pub fn auth_config(&self) -> AuthConfig {
        AuthConfig::new(self.issuer(), JwksSource::File(self.jwks_path.clone()))
    }
}

/// The key `key_file` in `dir` and its public JWKS `jwks_file`, created (the
/// folder too) when missing: a signer for `issuer` and the two paths.
///
/// Blocking file I/O; meant for start-up and the operator's commands.
pub(crate) fn load_or_create_key(
    dir: &Path,
    key_file: &str,
    jwks_file: &str,
    issuer: &str,
) -> Result<(Signer, PathBuf, PathBuf), SigningError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SigningError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let key_path = dir.join(key_file);
    let pem = match fs::read(&key_path) {
        Ok(pem) => {
            warn_if_readable_by_others(&key_path);
            pem
        }
        Err(err) if err.kind() == ErrorKind::NotFound => create_key(&key_path)?,
        Err(err) => return Err(io(&key_path)(err)),
    };
    let signer = Signer::from_pem(&pem, None, issuer, DEFAULT_AUDIENCE)?;

    let jwks_path = dir.join(jwks_file);
    if !jwks_holds(&jwks_path, signer.kid()) {
        let tmp = dir.join(format!("{jwks_file}.tmp"));
        fs::write(&tmp, signer.jwks_json()).map_err(io(&tmp))?;
        fs::rename(&tmp, &jwks_path).map_err(io(&jwks_path))?;
        tracing::info!(path = %jwks_path.display(), kid = signer.kid(), "public key written as a JWKS");
    }
    Ok((signer, key_path, jwks_path))
}

/// Generates an Ed25519 key and writes it as PKCS#8 v1, readable by the owner
/// only. If another process created the file first, its key is used.
fn create_key(path: &Path) -> Result<Vec<u8>, SigningError> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
        .map_err(|_| SigningError::Key("cannot generate an Ed25519 key".to_owned()))?;
    let pem = pkcs8_pem(pkcs8.as_ref());
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let io = |source| SigningError::Io {
        path: path.to_owned(),
        source,
    };
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(pem.as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            tracing::info!(path = %path.display(), "signing key created");
            Ok(pem.into_bytes())
        }
        Err(err) if err.kind() == ErrorKind::AlreadyExists => fs::read(path).map_err(io),
        Err(err) => Err(io(err)),
    }
}

/// Whether the JWKS file at `path` already publishes the key `kid`.
fn jwks_holds(path: &Path, kid: &str) -> bool {
    let Ok(text) = fs::read_to_string(path) else {
        return false;
    };
    let Ok(jwks) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    jwks["keys"]
        .as_array()
        .is_some_and(|keys| keys.iter().any(|key| key["kid"] == kid))
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(metadata) = fs::metadata(path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "a signing key is readable by other users");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
