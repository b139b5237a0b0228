//! Behaviour of token verification, signing and the development issuer.
//!
//! Test keys are generated here with aws-lc-rs and published as JWKs built from the
//! raw public key bytes, independently of [`Signer`], so the verifier is tested
//! against tokens it did not mint itself.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::signer::pkcs8_pem;
use super::*;

const ISSUER: &str = "https://id.zhengqi.example";

enum Private {
    Ed25519(Ed25519KeyPair),
    P256(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A key pair of some outside issuer, with its public JWK.
struct TestKey {
    kid: String,
    alg: &'static str,
    private: Private,
    jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestKey {
    fn ed25519(kid: &str) -> TestKey {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "x": b64(key.public_key().as_ref()),
            "kid": kid, "alg": "EdDSA", "use": "sig",
        });
        TestKey {
            kid: kid.to_owned(),
            alg: "EdDSA",
            private: Private::Ed25519(key),
            jwk,
        }
    }

    fn p256(kid: &str) -> TestKey {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = key.public_key().as_ref(); // 0x04 ‖ x ‖ y
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]),
            "kid": kid, "alg": "ES256", "use": "sig",
        });
        TestKey {
            kid: kid.to_owned(),
            alg: "ES256",
            private: Private::P256(key),
            jwk,
        }
    }

    fn rsa(kid: &str) -> TestKey {
        let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = key.public_key();
        let jwk = json!({
            "kty": "RSA",
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
            "kid": kid, "alg": "RS256", "use": "sig",
        });
        TestKey {
            kid: kid.to_owned(),
            alg: "RS256",
            private: Private::Rsa(key),
            jwk,
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.private {
            Private::Ed25519(key) => key.sign(message).as_ref().to_vec(),
            Private::P256(key) => key
                .sign(&SystemRandom::new(), message)
                .unwrap()
                .as_ref()
                .to_vec(),
            Private::Rsa(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .unwrap();
                signature
            }
        }
    }

    /// A token with the usual header: this key's `alg` and `kid`.
    fn token(&self, claims: &Value) -> String {
        self.token_with_header(
            &json!({ "alg": self.alg, "typ": "JWT", "kid": self.kid }),
            claims,
        )
    }

    fn token_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let signature = self.sign(input.as_bytes());
        format!("{input}.{}", b64(&signature))
    }

    /// The public key as PEM (SubjectPublicKeyInfo), as an issuer would publish it.
    fn public_pem(&self) -> String {
        let Private::Rsa(key) = &self.private else {
            panic!("RSA only")
        };
        let der: PublicKeyX509Der<'static> = key.public_key().as_der().unwrap();
        let body = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }
}

/// RSA key generation takes a while; one key serves every test.
static RSA_KEY: LazyLock<TestKey> = LazyLock::new(|| TestKey::rsa("rsa-1"));

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

fn hs256_token(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

fn jwks(keys: &[&TestKey]) -> String {
    json!({ "keys": keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>() }).to_string()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Valid claims of a handler in 旺苍县 (510821).
fn claims() -> Value {
    let now = now();
    json!({
        "iss": ISSUER,
        "aud": "zhengqi",
        "sub": "handler-7",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "roles": ["handler", "coordinator"],
        "jurisdiction": "510821",
        "department": "dept-housing",
        "name": "王芳",
    })
}

fn claims_with(changes: Value) -> Value {
    let mut claims = claims();
    for (claim, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(claim);
        } else {
            claims[claim] = value.clone();
        }
    }
    claims
}

fn config(source: JwksSource) -> AuthConfig {
    AuthConfig::new(ISSUER, source)
}

async fn verifier_for(keys: &[&TestKey]) -> Verifier {
    Verifier::new(config(JwksSource::Inline(jwks(keys))))
        .await
        .unwrap()
}

fn write_jwks(path: &Path, keys: &[&TestKey]) {
    std::fs::write(path, jwks(keys)).unwrap();
}

// --- accepted tokens -------------------------------------------------------------

#[tokio::test]
async fn an_eddsa_token_from_an_inline_jwks_is_accepted() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    let claims = claims();

    let principal = verifier.verify(&key.token(&claims)).await.unwrap();

    assert_eq!(
        principal,
        Principal {
            sub: "handler-7".to_owned(),
            roles: vec![Role::Handler, Role::Coordinator],
            jurisdiction: Some("510821".to_owned()),
            department: Some("dept-housing".to_owned()),
            uscc: None,
            name: Some("王芳".to_owned()),
            expires_at: claims["exp"].as_i64().unwrap(),
        }
    );
    assert!(principal.has_role(Role::Handler));
    assert!(!principal.has_role(Role::Admin));
    assert!(principal.has_any(&[Role::Admin, Role::Coordinator]));
    assert!(!principal.has_any(&[Role::Admin, Role::Enterprise]));
}

#[tokio::test]
async fn an_es256_token_from_an_inline_jwks_is_accepted() {
    let key = TestKey::p256("ec-1");
    let verifier = verifier_for(&[&TestKey::ed25519("ed-1"), &key]).await;

    let principal = verifier.verify(&key.token(&claims())).await.unwrap();

    assert_eq!(principal.sub, "handler-7");
}

#[tokio::test]
async fn an_rs256_token_from_an_inline_jwks_is_accepted() {
    let verifier = verifier_for(&[&TestKey::ed25519("ed-1"), &RSA_KEY]).await;

    let principal = verifier.verify(&RSA_KEY.token(&claims())).await.unwrap();

    assert_eq!(principal.sub, "handler-7");
}

#[tokio::test]
async fn an_enterprise_token_carries_its_uscc() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    let claims = claims_with(json!({
        "sub": "ent-1", "roles": ["enterprise"], "uscc": "91510800MA62XXXX1X",
        "department": null, "name": null,
    }));

    let principal = verifier.verify(&key.token(&claims)).await.unwrap();

    assert_eq!(principal.roles, vec![Role::Enterprise]);
    assert_eq!(principal.uscc.as_deref(), Some("91510800MA62XXXX1X"));
    assert_eq!(principal.department, None);
}

#[tokio::test]
async fn unknown_and_repeated_role_names_are_ignored() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    let claims = claims_with(json!({ "roles": ["astronaut", "leader", "Admin", "leader"] }));

    let principal = verifier.verify(&key.token(&claims)).await.unwrap();

    assert_eq!(principal.roles, vec![Role::Leader]);
}

#[tokio::test]
async fn a_token_without_roles_grants_none() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;

    for roles in [json!(null), json!([])] {
        let mut claims = claims();
        claims["roles"] = roles;
        let principal = verifier.verify(&key.token(&claims)).await.unwrap();
        assert!(principal.roles.is_empty());
    }
}

#[tokio::test]
async fn an_audience_list_naming_ours_is_accepted() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    let claims = claims_with(json!({ "aud": ["portal", "zhengqi"] }));

    assert!(verifier.verify(&key.token(&claims)).await.is_ok());
}

#[tokio::test]
async fn a_token_expired_within_the_leeway_is_accepted() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    let claims = claims_with(json!({ "exp": now() - 10, "iat": now() - 600, "nbf": now() - 600 }));

    assert!(verifier.verify(&key.token(&claims)).await.is_ok());
}

#[tokio::test]
async fn a_token_without_kid_is_accepted_when_the_jwks_holds_one_key() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    let token = key.token_with_header(&json!({ "alg": "EdDSA", "typ": "JWT" }), &claims());

    assert!(verifier.verify(&token).await.is_ok());
}

// --- rejected tokens ---------------------------------------------------------------

#[tokio::test]
async fn an_expired_token_is_rejected() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    let claims = claims_with(json!({ "exp": now() - 31, "iat": now() - 600, "nbf": now() - 600 }));

    let err = verifier.verify(&key.token(&claims)).await.unwrap_err();

    assert_eq!(err, AuthError::Expired);
    assert_eq!(err.reason(), "expired");
}

#[tokio::test]
async fn a_token_before_its_not_before_time_is_rejected() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    let claims = claims_with(json!({ "nbf": now() + 120 }));

    assert_eq!(
        verifier.verify(&key.token(&claims)).await,
        Err(AuthError::NotYetValid)
    );
}

#[tokio::test]
async fn a_token_from_another_issuer_is_rejected() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    let claims = claims_with(json!({ "iss": "https://evil.example" }));

    assert_eq!(
        verifier.verify(&key.token(&claims)).await,
        Err(AuthError::WrongIssuer)
    );
}

#[tokio::test]
async fn a_token_for_another_audience_is_rejected() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    let claims = claims_with(json!({ "aud": "another-system" }));

    assert_eq!(
        verifier.verify(&key.token(&claims)).await,
        Err(AuthError::WrongAudience)
    );
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_rejected() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    let unsigned = format!(
        "{}.",
        signing_input(
            &json!({ "alg": "none", "typ": "JWT", "kid": "ed-1" }),
            &claims()
        )
    );

    assert_eq!(
        verifier.verify(&unsigned).await,
        Err(AuthError::AlgorithmNotAllowed)
    );
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_rsa_public_key_is_rejected() {
    let verifier = verifier_for(&[&RSA_KEY]).await;
    let pem = RSA_KEY.public_pem();
    let forged = hs256_token(
        pem.as_bytes(),
        &json!({ "alg": "HS256", "typ": "JWT", "kid": "rsa-1" }),
        &claims(),
    );
    let forged_without_kid = hs256_token(
        pem.as_bytes(),
        &json!({ "alg": "HS256", "typ": "JWT" }),
        &claims(),
    );

    assert_eq!(
        verifier.verify(&forged).await,
        Err(AuthError::AlgorithmNotAllowed)
    );
    assert_eq!(
        verifier.verify(&forged_without_kid).await,
        Err(AuthError::AlgorithmNotAllowed)
    );
}

#[tokio::test]
async fn with_a_dev_secret_an_hs256_token_naming_an_rsa_kid_is_still_rejected() {
    let mut config = config(JwksSource::Inline(jwks(&[&RSA_KEY])));
    config.hs256_secret = Some(SecretString::from("a development secret of some length"));
    let verifier = Verifier::new(config).await.unwrap();
    let pem = RSA_KEY.public_pem();
    let forged = hs256_token(
        pem.as_bytes(),
        &json!({ "alg": "HS256", "typ": "JWT", "kid": "rsa-1" }),
        &claims(),
    );
    let forged_without_kid = hs256_token(
        pem.as_bytes(),
        &json!({ "alg": "HS256", "typ": "JWT" }),
        &claims(),
    );

    assert_eq!(
        verifier.verify(&forged).await,
        Err(AuthError::AlgorithmNotAllowed)
    );
    assert_eq!(
        verifier.verify(&forged_without_kid).await,
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn an_hs256_token_is_accepted_only_when_a_dev_secret_is_configured() {
    let secret = "a development secret of some length";
    let token = hs256_token(
        secret.as_bytes(),
        &json!({ "alg": "HS256", "typ": "JWT" }),
        &claims(),
    );
    let without_secret = verifier_for(&[&TestKey::ed25519("ed-1")]).await;
    let mut config = config(JwksSource::Inline(jwks(&[&TestKey::ed25519("ed-1")])));
    config.hs256_secret = Some(SecretString::from(secret));
    let with_secret = Verifier::new(config).await.unwrap();

    assert_eq!(
        without_secret.verify(&token).await,
        Err(AuthError::AlgorithmNotAllowed)
    );
    assert_eq!(with_secret.verify(&token).await.unwrap().sub, "handler-7");
}

#[tokio::test]
async fn a_header_alg_other_than_the_keys_is_rejected() {
    let ed = TestKey::ed25519("ed-1");
    let ec = TestKey::p256("ec-1");
    let verifier = verifier_for(&[&ed, &ec]).await;
    // Signed by the EC key, but naming the Ed25519 key's kid.
    let token = ec.token_with_header(&json!({ "alg": "ES256", "kid": "ed-1" }), &claims());
    // Naming the right key, but claiming another algorithm.
    let rs_claim = ed.token_with_header(&json!({ "alg": "RS256", "kid": "ed-1" }), &claims());

    assert_eq!(
        verifier.verify(&token).await,
        Err(AuthError::AlgorithmNotAllowed)
    );
    assert_eq!(
        verifier.verify(&rs_claim).await,
        Err(AuthError::AlgorithmNotAllowed)
    );
}

#[tokio::test]
async fn a_token_naming_an_unknown_kid_is_rejected() {
    let verifier = verifier_for(&[&TestKey::ed25519("ed-1")]).await;
    let stranger = TestKey::ed25519("ed-2");

    assert_eq!(
        verifier.verify(&stranger.token(&claims())).await,
        Err(AuthError::UnknownKey)
    );
}

#[tokio::test]
async fn a_token_without_kid_is_rejected_when_the_jwks_holds_several_keys() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key, &TestKey::ed25519("ed-2")]).await;
    let token = key.token_with_header(&json!({ "alg": "EdDSA" }), &claims());

    assert_eq!(verifier.verify(&token).await, Err(AuthError::UnknownKey));
}

#[tokio::test]
async fn a_token_with_a_tampered_payload_is_rejected() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    let token = key.token(&claims());
    let [header, _, signature]: [&str; 3] =
        token.split('.').collect::<Vec<_>>().try_into().unwrap();
    let elevated = b64(claims_with(json!({ "roles": ["admin"] }))
        .to_string()
        .as_bytes());
    let tampered = format!("{header}.{elevated}.{signature}");

    assert_eq!(
        verifier.verify(&tampered).await,
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_a_known_kid_is_rejected() {
    let key = TestKey::ed25519("ed-1");
    let impostor = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;

    assert_eq!(
        verifier.verify(&impostor.token(&claims())).await,
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn a_token_without_required_claims_is_rejected_naming_the_claim() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;

    for claim in ["sub", "exp", "iss", "aud"] {
        let token = key.token(&claims_with(json!({ claim: null })));
        assert_eq!(
            verifier.verify(&token).await,
            Err(AuthError::MissingClaim(claim)),
            "{claim}"
        );
    }
    let empty_sub = key.token(&claims_with(json!({ "sub": "" })));
    assert_eq!(
        verifier.verify(&empty_sub).await,
        Err(AuthError::MissingClaim("sub"))
    );
}

#[tokio::test]
async fn text_that_is_not_a_jwt_is_malformed() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    let five_parts = format!("{}.x.y", key.token(&claims()));

    for token in ["abc", "a.b", "a.b.c", "%%.e30.sig", five_parts.as_str()] {
        assert_eq!(
            verifier.verify(token).await,
            Err(AuthError::Malformed),
            "{token}"
        );
    }
    assert_eq!(verifier.verify("").await, Err(AuthError::Missing));
}

#[tokio::test]
async fn a_token_with_critical_header_extensions_is_rejected() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    let header = json!({ "alg": "EdDSA", "kid": "ed-1", "crit": ["exp"], "exp": 1 });

    assert_eq!(
        verifier
            .verify(&key.token_with_header(&header, &claims()))
            .await,
        Err(AuthError::Malformed)
    );
}

#[tokio::test]
async fn error_messages_never_contain_the_token() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    let token = key.token(&claims_with(json!({ "iss": "https://evil.example" })));

    let err = verifier.verify(&token).await.unwrap_err();

    let message = format!("{err} {err:?}");
    assert!(!message.contains(&token));
    assert!(!message.contains(token.split('.').nth(1).unwrap()));
}

// --- JWKS contents ---------------------------------------------------------------

#[tokio::test]
async fn a_jwks_key_whose_alg_contradicts_its_type_is_not_used() {
    let ed = TestKey::ed25519("ed-1");
    let mut mislabelled = ed.jwk.clone();
    mislabelled["alg"] = json!("RS256");
    let ec = TestKey::p256("ec-1");
    let text = json!({ "keys": [mislabelled, ec.jwk] }).to_string();
    let verifier = Verifier::new(config(JwksSource::Inline(text)))
        .await
        .unwrap();

    assert_eq!(
        verifier.verify(&ed.token(&claims())).await,
        Err(AuthError::UnknownKey)
    );
    assert!(verifier.verify(&ec.token(&claims())).await.is_ok());
}

#[tokio::test]
async fn symmetric_and_encryption_keys_in_a_jwks_are_not_used() {
    let ed = TestKey::ed25519("ed-1");
    let mut for_encryption = TestKey::p256("ec-enc");
    for_encryption.jwk["use"] = json!("enc");
    let oct = json!({ "kty": "oct", "k": b64(b"secret"), "kid": "oct-1", "alg": "HS256" });
    let text = json!({ "keys": [ed.jwk, for_encryption.jwk, oct] }).to_string();
    let verifier = Verifier::new(config(JwksSource::Inline(text)))
        .await
        .unwrap();
    let hs = hs256_token(
        b"secret",
        &json!({ "alg": "HS256", "kid": "oct-1" }),
        &claims(),
    );

    assert_eq!(
        verifier.verify(&hs).await,
        Err(AuthError::AlgorithmNotAllowed)
    );
    assert_eq!(
        verifier.verify(&for_encryption.token(&claims())).await,
        Err(AuthError::UnknownKey)
    );
    assert!(verifier.verify(&ed.token(&claims())).await.is_ok());
}

#[tokio::test]
async fn a_verifier_cannot_be_built_without_a_usable_jwks() {
    let dir = tempfile::tempdir().unwrap();
    let unusable = [
        JwksSource::File(dir.path().join("none.json")),
        JwksSource::Inline("<html>".to_owned()),
        JwksSource::Inline(r#"{"keys":[]}"#.to_owned()),
        JwksSource::Url("https://127.0.0.1:1/jwks.json".to_owned()),
    ];

    for source in unusable {
        let result = Verifier::new(config(source.clone())).await;
        assert!(
            matches!(result, Err(AuthError::Jwks(_))),
            "{source:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_verifier_refuses_unsafe_settings() {
    let inline = JwksSource::Inline(jwks(&[&TestKey::ed25519("ed-1")]));
    let plain_http = config(JwksSource::Url("http://id.example/jwks.json".to_owned()));
    let blank_issuer = AuthConfig::new(" ", inline.clone());
    let huge_leeway = AuthConfig {
        leeway_s: 100_000,
        ..config(inline.clone())
    };
    let empty_secret = AuthConfig {
        hs256_secret: Some(SecretString::from("")),
        ..config(inline)
    };

    for settings in [plain_http, blank_issuer, huge_leeway, empty_secret] {
        let result = Verifier::new(settings.clone()).await;
        assert!(
            matches!(result, Err(AuthError::Config(_))),
            "{settings:?}: {result:?}"
        );
    }
}

// --- the cache -------------------------------------------------------------------

#[tokio::test]
async fn a_cached_token_is_still_rejected_once_it_expires() {
    let key = TestKey::ed25519("ed-1");
    let mut config = config(JwksSource::Inline(jwks(&[&key])));
    config.leeway_s = 0;
    let verifier = Verifier::new(config).await.unwrap();
    let expires_at = now() + 2;
    let token = key.token(&claims_with(json!({ "exp": expires_at })));

    assert!(verifier.verify(&token).await.is_ok());
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(verifier.cached_tokens(), 1);
    while now() <= expires_at {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(verifier.verify(&token).await, Err(AuthError::Expired));
    assert_eq!(verifier.cached_tokens(), 0);
}

#[tokio::test]
async fn a_cached_token_whose_key_was_withdrawn_is_rejected_after_the_refetch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let old = TestKey::ed25519("old");
    let new = TestKey::ed25519("new");
    write_jwks(&path, &[&old]);
    let verifier = Verifier::new(config(JwksSource::File(path.clone())))
        .await
        .unwrap();
    let old_token = old.token(&claims());
    assert!(verifier.verify(&old_token).await.is_ok());

    write_jwks(&path, &[&new]);
    assert!(verifier.verify(&new.token(&claims())).await.is_ok());

    assert_eq!(
        verifier.verify(&old_token).await,
        Err(AuthError::UnknownKey)
    );
}

// --- refetching the JWKS -------------------------------------------------------------

#[tokio::test]
async fn an_unknown_kid_refetches_a_file_jwks_once_per_cooldown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let first = TestKey::ed25519("first");
    let rotated = TestKey::ed25519("rotated");
    let later = TestKey::p256("later");
    write_jwks(&path, &[&first]);
    let verifier = Verifier::new(config(JwksSource::File(path.clone())))
        .await
        .unwrap();
    assert_eq!(verifier.jwks_fetches(), 1);

    write_jwks(&path, &[&first, &rotated]);
    assert!(verifier.verify(&rotated.token(&claims())).await.is_ok());
    assert_eq!(verifier.jwks_fetches(), 2);

    write_jwks(&path, &[&first, &rotated, &later]);
    assert_eq!(
        verifier.verify(&later.token(&claims())).await,
        Err(AuthError::UnknownKey)
    );
    let strangers: Vec<String> = (0..20)
        .map(|n| TestKey::ed25519(&format!("random-{n}")).token(&claims()))
        .collect();
    for token in &strangers {
        assert_eq!(verifier.verify(token).await, Err(AuthError::UnknownKey));
    }
    assert_eq!(verifier.jwks_fetches(), 2);
    assert!(verifier.verify(&first.token(&claims())).await.is_ok());
}

#[tokio::test]
async fn after_the_cooldown_an_unknown_kid_refetches_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let first = TestKey::ed25519("first");
    let later = TestKey::ed25519("later");
    write_jwks(&path, &[&first]);
    let mut config = config(JwksSource::File(path.clone()));
    config.jwks_refresh_cooldown = Duration::from_millis(50);
    let verifier = Verifier::new(config).await.unwrap();

    assert_eq!(
        verifier.verify(&later.token(&claims())).await,
        Err(AuthError::UnknownKey)
    );
    assert_eq!(verifier.jwks_fetches(), 2);
    write_jwks(&path, &[&first, &later]);
    tokio::time::sleep(Duration::from_millis(60)).await;

    assert!(verifier.verify(&later.token(&claims())).await.is_ok());
    assert_eq!(verifier.jwks_fetches(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_with_a_new_kid_share_one_refetch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let first = TestKey::ed25519("first");
    let rotated = TestKey::ed25519("rotated");
    write_jwks(&path, &[&first]);
    let verifier = Verifier::new(config(JwksSource::File(path.clone())))
        .await
        .unwrap();
    write_jwks(&path, &[&first, &rotated]);

    let callers: Vec<_> = (0..32)
        .map(|n| {
            let verifier = verifier.clone();
            let token = rotated.token(&claims_with(json!({ "sub": format!("caller-{n}") })));
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for caller in callers {
        assert!(caller.await.unwrap().is_ok());
    }

    assert_eq!(verifier.jwks_fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_burst_of_random_kids_causes_one_refetch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    write_jwks(&path, &[&TestKey::ed25519("first")]);
    let verifier = Verifier::new(config(JwksSource::File(path))).await.unwrap();

    let callers: Vec<_> = (0..32)
        .map(|n| {
            let verifier = verifier.clone();
            let token = TestKey::ed25519(&format!("random-{n}")).token(&claims());
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.await.unwrap(), Err(AuthError::UnknownKey));
    }

    assert_eq!(verifier.jwks_fetches(), 2);
}

#[tokio::test]
async fn verify_now_refuses_an_unknown_kid_at_once_and_refetches_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let first = TestKey::ed25519("first");
    let rotated = TestKey::ed25519("rotated");
    write_jwks(&path, &[&first]);
    let verifier = Verifier::new(config(JwksSource::File(path.clone())))
        .await
        .unwrap();
    assert!(verifier.verify_now(&first.token(&claims())).is_ok());
    write_jwks(&path, &[&first, &rotated]);
    let token = rotated.token(&claims());

    assert_eq!(verifier.verify_now(&token), Err(AuthError::UnknownKey));
    let mut outcome = Err(AuthError::UnknownKey);
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        outcome = verifier.verify_now(&token);
        if outcome.is_ok() {
            break;
        }
    }

    assert_eq!(
        outcome.map(|principal| principal.sub),
        Ok("handler-7".to_owned())
    );
    assert_eq!(verifier.jwks_fetches(), 2);
}

/// A JWKS endpoint on 127.0.0.1 that counts the requests it answers.
struct JwksServer {
    url: String,
    body: Arc<Mutex<String>>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// A test CA, and a certificate it issued for `localhost`, for an https JWKS.
struct TestTls {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl TestTls {
    fn new() -> TestTls {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "广元市身份认证 test CA");
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
                .unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server_cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::try_from(server_key.serialize_der()).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone()], key)
        .unwrap();
        TestTls {
            ca_pem: ca.pem(),
            server: Arc::new(server),
        }
    }
}

impl JwksServer {
    fn start(body: String) -> JwksServer {
        JwksServer::serve_on(body, None)
    }

    /// Over https with `tls`'s certificate, at `https://localhost:<port>/…`.
    fn start_https(body: String, tls: &TestTls) -> JwksServer {
        JwksServer::serve_on(body, Some(Arc::clone(&tls.server)))
    }

    fn serve_on(body: String, tls: Option<Arc<rustls::ServerConfig>>) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = match tls {
            Some(_) => format!("https://localhost:{port}/.well-known/jwks.json"),
            None => format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
        };
        let body = Arc::new(Mutex::new(body));
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (served, counter, stopped) =
            (Arc::clone(&body), Arc::clone(&requests), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Acquire) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let mut tls_session = tls
                    .as_ref()
                    .map(|config| rustls::ServerConnection::new(Arc::clone(config)).unwrap());
                let mut stream: Box<dyn ReadWrite + '_> = match tls_session.as_mut() {
                    Some(session) => Box::new(rustls::Stream::new(session, &mut stream)),
                    None => Box::new(&mut stream),
                };
                let mut request = Vec::new();
                let mut buffer = [0; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::AcqRel);
                let body = served.lock().unwrap().clone();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
                let _ = stream.flush();
            }
        });
        JwksServer {
            url,
            body,
            requests,
            stop,
        }
    }

    fn serve(&self, body: String) {
        *self.body.lock().unwrap() = body;
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::Acquire)
    }
}

/// A plain or a TLS stream.
trait ReadWrite: std::io::Read + std::io::Write {}
impl<T: std::io::Read + std::io::Write> ReadWrite for T {}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

#[tokio::test]
async fn a_url_jwks_is_fetched_and_refetched_once_for_an_unknown_kid() {
    let first = TestKey::ed25519("first");
    let rotated = TestKey::p256("rotated");
    let server = JwksServer::start(jwks(&[&first]));
    let verifier = Verifier::new(config(JwksSource::from_setting(&server.url)))
        .await
        .unwrap();
    assert_eq!(server.requests(), 1);
    assert!(verifier.verify(&first.token(&claims())).await.is_ok());

    server.serve(jwks(&[&first, &rotated]));
    assert!(verifier.verify(&rotated.token(&claims())).await.is_ok());
    let stranger = TestKey::ed25519("stranger").token(&claims());
    assert_eq!(verifier.verify(&stranger).await, Err(AuthError::UnknownKey));

    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn an_https_jwks_rotates_and_random_kids_fetch_at_most_once_per_cooldown() {
    let tls = TestTls::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &tls.ca_pem).unwrap();
    let old = TestKey::rsa("2026-old");
    let new = TestKey::ed25519("2026-new");
    let server = JwksServer::start_https(jwks(&[&old]), &tls);
    let mut config = config(JwksSource::from_setting(&server.url));
    config.jwks_ca = Some(ca);
    config.jwks_refresh_cooldown = Duration::from_secs(3600);
    let verifier = Verifier::new(config).await.unwrap();
    assert_eq!(server.requests(), 1);
    assert!(verifier.verify(&old.token(&claims())).await.is_ok());

    // The identity provider rotates: the new key is published, the old one withdrawn.
    server.serve(jwks(&[&new]));
    let principal = verifier.verify(&new.token(&claims())).await.unwrap();
    assert_eq!(principal.sub, claims()["sub"].as_str().unwrap());
    assert_eq!(server.requests(), 2);

    // A burst of tokens naming random kids, within the cooldown: no fetch at all.
    let burst: Vec<_> = (0..50)
        .map(|i| {
            let verifier = verifier.clone();
            let token = TestKey::ed25519(&format!("random-{i}")).token(&claims());
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for outcome in burst {
        assert_eq!(outcome.await.unwrap(), Err(AuthError::UnknownKey));
    }
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn an_https_jwks_from_an_untrusted_certificate_is_refused() {
    let tls = TestTls::new();
    let server = JwksServer::start_https(jwks(&[&TestKey::ed25519("k")]), &tls);
    let Err(error) = Verifier::new(config(JwksSource::from_setting(&server.url))).await else {
        panic!("a JWKS behind an unknown CA is not trusted");
    };
    assert!(matches!(error, AuthError::Jwks(_)), "{error:?}");
}

#[tokio::test]
async fn a_jwks_ca_file_without_certificates_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    let mut config = config(JwksSource::Url("https://localhost:1/jwks.json".to_owned()));
    config.jwks_ca = Some(ca);
    let Err(error) = Verifier::new(config).await else {
        panic!("a CA file without certificates is refused");
    };
    assert!(
        matches!(&error, AuthError::Config(message) if message.contains("ca.pem")),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_inline_jwks_is_never_refetched() {
    let verifier = verifier_for(&[&TestKey::ed25519("ed-1")]).await;

    let stranger = TestKey::ed25519("ed-2").token(&claims());

    assert_eq!(verifier.verify(&stranger).await, Err(AuthError::UnknownKey));
    assert_eq!(verifier.jwks_fetches(), 1);
}

#[tokio::test]
async fn keys_older_than_the_ttl_are_refreshed_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let withdrawn = TestKey::ed25519("withdrawn");
    let current = TestKey::ed25519("current");
    write_jwks(&path, &[&withdrawn]);
    let mut config = config(JwksSource::File(path.clone()));
    config.jwks_ttl = Duration::ZERO;
    config.jwks_refresh_cooldown = Duration::ZERO;
    let verifier = Verifier::new(config).await.unwrap();
    let token = withdrawn.token(&claims());
    assert!(verifier.verify(&token).await.is_ok());

    write_jwks(&path, &[&current]);
    let mut outcome = Ok(());
    for _ in 0..100 {
        outcome = verifier.verify(&token).await.map(|_| ());
        if outcome.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_eq!(outcome, Err(AuthError::UnknownKey));
}

// --- signing ---------------------------------------------------------------------

#[tokio::test]
async fn tokens_minted_from_p256_and_rsa_pem_keys_verify() {
    let p256 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    let Private::Rsa(rsa) = &RSA_KEY.private else {
        unreachable!()
    };
    let rsa_pkcs8: Pkcs8V1Der<'static> = rsa.as_der().unwrap();

    for (pem, alg) in [
        (pkcs8_pem(p256.as_ref()), jsonwebtoken::Algorithm::ES256),
        (
            pkcs8_pem(rsa_pkcs8.as_ref()),
            jsonwebtoken::Algorithm::RS256,
        ),
    ] {
        let signer =
            Signer::from_pem(pem.as_bytes(), Some("svc-1".to_owned()), ISSUER, "zhengqi").unwrap();
        let verifier = Verifier::new(AuthConfig {
            trust: Trust::ServiceOnly,
            ..config(JwksSource::Inline(signer.jwks_json()))
        })
        .await
        .unwrap();
        let token = signer
            .mint(&TokenRequest::new("routing", vec![Role::Service]))
            .unwrap();

        let principal = verifier.verify(&token).await.unwrap();

        assert_eq!(signer.algorithm(), alg);
        assert_eq!(principal.sub, "routing");
        assert_eq!(principal.roles, vec![Role::Service]);
    }
}

#[test]
fn a_signer_without_kid_uses_the_rfc_7638_thumbprint() {
    // RFC 8037 appendix A.1–A.3: this Ed25519 key's thumbprint.
    let seed = URL_SAFE_NO_PAD
        .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
        .unwrap();
    let key = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let pem = pkcs8_pem(key.to_pkcs8().unwrap().as_ref());

    let signer = Signer::from_pem(pem.as_bytes(), None, ISSUER, "zhengqi").unwrap();

    assert_eq!(signer.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    assert_eq!(
        signer.public_jwk()["x"],
        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    );
}

#[test]
fn a_pem_that_is_not_a_supported_private_key_is_refused() {
    let public = RSA_KEY.public_pem();

    for pem in [
        public.as_str(),
        "not pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        // A legacy encrypted key (RFC 1421 headers).
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    ] {
        let result = Signer::from_pem(pem.as_bytes(), None, ISSUER, "zhengqi");
        assert!(matches!(result, Err(SigningError::Key(_))), "{pem}");
    }
    let encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    let Err(SigningError::Key(why)) =
        Signer::from_pem(encrypted.as_bytes(), None, ISSUER, "zhengqi")
    else {
        panic!("an encrypted key was read");
    };
    assert!(why.contains("encrypted"), "{why}");
}

#[test]
fn a_written_key_reads_back_with_lf_lines_of_64() {
    let key = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    let pem = pkcs8_pem(key.as_ref());
    assert!(
        pem.starts_with("-----BEGIN PRIVATE KEY-----\n") && !pem.contains('\r'),
        "{pem}"
    );
    assert!(pem.lines().all(|line| line.len() <= 64), "{pem}");
    assert!(Signer::from_pem(pem.as_bytes(), None, ISSUER, "zhengqi").is_ok());
}

// --- the development issuer --------------------------------------------------------

#[tokio::test]
async fn a_dev_issuer_mints_tokens_its_jwks_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("zhengqi-data");
    let issuer = DevIssuer::load_or_create(&data, "zhengqi-dev").unwrap();
    let verifier = Verifier::new(issuer.auth_config()).await.unwrap();
    let request = TokenRequest {
        jurisdiction: Some("510800".to_owned()),
        ..TokenRequest::new("coordinator-1", vec![Role::Coordinator, Role::Leader])
    };

    let principal = verifier
        .verify(&issuer.mint(&request).unwrap())
        .await
        .unwrap();

    assert_eq!(principal.sub, "coordinator-1");
    assert_eq!(principal.roles, vec![Role::Coordinator, Role::Leader]);
    assert_eq!(principal.jurisdiction.as_deref(), Some("510800"));
    assert_eq!(issuer.issuer(), "zhengqi-dev");
    assert_eq!(issuer.jwks_path(), data.join(DEV_JWKS_FILE));
    assert_eq!(issuer.signer().algorithm(), jsonwebtoken::Algorithm::EdDSA);
}

#[tokio::test]
async fn a_dev_issuer_token_for_another_audience_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = DevIssuer::load_or_create(dir.path(), "zhengqi-dev").unwrap();
    let verifier = Verifier::new(issuer.auth_config()).await.unwrap();
    let request = TokenRequest {
        audience: Some("elsewhere".to_owned()),
        ..TokenRequest::new("someone", vec![Role::Admin])
    };

    let token = issuer.mint(&request).unwrap();

    assert_eq!(verifier.verify(&token).await, Err(AuthError::WrongAudience));
}

#[test]
fn a_dev_issuer_reuses_its_key_and_keeps_it_private() {
    let dir = tempfile::tempdir().unwrap();

    let first = DevIssuer::load_or_create(dir.path(), "zhengqi-dev").unwrap();
    let jwks_before = std::fs::read_to_string(first.jwks_path()).unwrap();
    let second = DevIssuer::load_or_create(dir.path(), "zhengqi-dev").unwrap();

    assert_eq!(first.signer().kid(), second.signer().kid());
    assert_eq!(
        std::fs::read_to_string(second.jwks_path()).unwrap(),
        jwks_before
    );
    let jwks: Value = serde_json::from_str(&jwks_before).unwrap();
    let jwk = &jwks["keys"][0];
    assert_eq!(
        (&jwk["kty"], &jwk["crv"], &jwk["alg"], &jwk["use"]),
        (
            &json!("OKP"),
            &json!("Ed25519"),
            &json!("EdDSA"),
            &json!("sig")
        )
    );
    assert_eq!(jwk["kid"], first.signer().kid());
    let pem = std::fs::read_to_string(first.key_path()).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(first.key_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_dev_issuer_rewrites_a_jwks_that_lost_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let first = DevIssuer::load_or_create(dir.path(), "zhengqi-dev").unwrap();
    std::fs::write(first.jwks_path(), r#"{"keys":[]}"#).unwrap();

    let second = DevIssuer::load_or_create(dir.path(), "zhengqi-dev").unwrap();

    let text = std::fs::read_to_string(second.jwks_path()).unwrap();
    assert!(text.contains(first.signer().kid()));
}

// --- small pieces ----------------------------------------------------------------

#[test]
fn bearer_tokens_are_read_from_the_authorization_header() {
    assert_eq!(bearer_token(Some("Bearer abc.def.ghi")), Ok("abc.def.ghi"));
    assert_eq!(bearer_token(Some("bearer abc")), Ok("abc"));
    assert_eq!(bearer_token(Some("BEARER   abc ")), Ok("abc"));
    assert_eq!(bearer_token(None), Err(AuthError::Missing));
    assert_eq!(bearer_token(Some("  ")), Err(AuthError::Missing));
    assert_eq!(bearer_token(Some("Bearer")), Err(AuthError::Malformed));
    assert_eq!(bearer_token(Some("Bearer ")), Err(AuthError::Malformed));
    assert_eq!(
        bearer_token(Some("Basic dXNlcjpwdw==")),
        Err(AuthError::Malformed)
    );
    assert_eq!(bearer_token(Some("Bearer a b")), Err(AuthError::Malformed));
}

#[test]
fn role_names_round_trip_and_unknown_names_are_refused() {
    for role in Role::ALL {
        assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        assert_eq!(role.to_string(), role.as_str());
    }
    assert_eq!("supervisor".parse::<Role>(), Ok(Role::Supervisor));
    assert_eq!(
        "Admin".parse::<Role>(),
        Err(UnknownRole("Admin".to_owned()))
    );
}

#[test]
fn every_error_has_its_own_reason_label() {
    let errors = [
        AuthError::Missing,
        AuthError::Malformed,
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::WrongIssuer,
        AuthError::WrongAudience,
        AuthError::UnknownKey,
        AuthError::BadSignature,
        AuthError::AlgorithmNotAllowed,
        AuthError::MissingClaim("sub"),
        AuthError::Jwks(String::new()),
        AuthError::Config(String::new()),
    ];
    let reasons: std::collections::HashSet<_> = errors.iter().map(AuthError::reason).collect();

    assert_eq!(reasons.len(), errors.len());
    assert!(
        reasons
            .iter()
            .all(|r| r.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
    );
}

#[test]
fn the_jwks_setting_is_a_url_or_a_path() {
    assert_eq!(
        JwksSource::from_setting("https://id.example/.well-known/jwks.json"),
        JwksSource::Url("https://id.example/.well-known/jwks.json".to_owned())
    );
    assert_eq!(
        JwksSource::from_setting("/etc/zhengqi/jwks.json"),
        JwksSource::File("/etc/zhengqi/jwks.json".into())
    );
    assert_eq!(
        JwksSource::from_setting("zhengqi-data/jwks.json"),
        JwksSource::File("zhengqi-data/jwks.json".into())
    );
}

// --- trust anchors: the people's providers and the service keys ----------------

const SERVICE_ISSUER: &str = "zhengqi-service";

/// A verifier trusting `provider` for the people's roles and `service` as a
/// deployment's service key.
async fn provider_and_service_key(provider: &TestKey, service: &TestKey) -> Verifier {
    Verifier::trusting(vec![
        config(JwksSource::Inline(jwks(&[provider]))),
        AuthConfig::service(SERVICE_ISSUER, JwksSource::Inline(jwks(&[service]))),
    ])
    .await
    .unwrap()
}

fn service_claims(roles: Value) -> Value {
    claims_with(
        json!({ "iss": SERVICE_ISSUER, "sub": "routing", "roles": roles,
                        "jurisdiction": null, "department": null, "name": null }),
    )
}

#[tokio::test]
async fn a_service_key_grants_the_service_role_and_nothing_else() {
    let (provider, service) = (TestKey::ed25519("idp-1"), TestKey::ed25519("svc-1"));
    let verifier = provider_and_service_key(&provider, &service).await;

    let principal = verifier
        .verify(&service.token(&service_claims(json!(["service"]))))
        .await
        .unwrap();
    assert_eq!(principal.roles, vec![Role::Service]);

    for roles in [
        json!(["coordinator"]),
        json!(["service", "admin"]),
        json!([]),
    ] {
        assert_eq!(
            verifier
                .verify(&service.token(&service_claims(roles.clone())))
                .await,
            Err(AuthError::RoleNotAllowed),
            "{roles}"
        );
    }
}

#[tokio::test]
async fn the_peoples_provider_may_not_grant_the_service_role_unless_configured() {
    let (provider, service) = (TestKey::ed25519("idp-1"), TestKey::ed25519("svc-1"));
    let verifier = provider_and_service_key(&provider, &service).await;
    let posing = provider.token(&claims_with(json!({ "roles": ["service"] })));
    assert_eq!(
        verifier.verify(&posing).await,
        Err(AuthError::RoleNotAllowed)
    );
    let mixed = provider.token(&claims_with(json!({ "roles": ["coordinator", "service"] })));
    assert_eq!(
        verifier.verify(&mixed).await,
        Err(AuthError::RoleNotAllowed)
    );

    let allowing = Verifier::new(AuthConfig {
        trust: Trust::Users {
            allow_service: true,
        },
        ..config(JwksSource::Inline(jwks(&[&provider])))
    })
    .await
    .unwrap();
    assert_eq!(
        allowing.verify(&posing).await.unwrap().roles,
        vec![Role::Service]
    );
}

#[tokio::test]
async fn a_token_is_checked_with_the_keys_of_the_issuer_it_names() {
    let (provider, service) = (TestKey::ed25519("idp-1"), TestKey::ed25519("svc-1"));
    let verifier = provider_and_service_key(&provider, &service).await;

    // The provider's key cannot sign for the service issuer, nor the reverse.
    let forged_service = provider.token(&service_claims(json!(["service"])));
    assert_eq!(
        verifier.verify(&forged_service).await,
        Err(AuthError::UnknownKey)
    );
    let forged_person = service.token(&claims());
    assert_eq!(
        verifier.verify(&forged_person).await,
        Err(AuthError::UnknownKey)
    );
    let unknown_issuer = provider.token(&claims_with(json!({ "iss": "https://elsewhere" })));
    assert_eq!(
        verifier.verify(&unknown_issuer).await,
        Err(AuthError::WrongIssuer)
    );
}

#[tokio::test]
async fn an_issuer_given_as_an_array_is_refused() {
    let key = TestKey::ed25519("ed-1");
    let verifier = verifier_for(&[&key]).await;
    for iss in [
        json!([ISSUER]),
        json!([ISSUER, "https://elsewhere"]),
        json!(["https://elsewhere", ISSUER]),
        json!({ "iss": ISSUER }),
        json!(7),
    ] {
        let token = key.token(&claims_with(json!({ "iss": iss.clone() })));
        assert_eq!(
            verifier.verify(&token).await,
            Err(AuthError::WrongIssuer),
            "{iss}"
        );
    }
}

#[tokio::test]
async fn two_anchors_may_not_name_one_issuer() {
    let key = TestKey::ed25519("ed-1");
    let twice = Verifier::trusting(vec![
        config(JwksSource::Inline(jwks(&[&key]))),
        AuthConfig::service(ISSUER, JwksSource::Inline(jwks(&[&key]))),
    ])
    .await;
    assert!(matches!(twice, Err(AuthError::Config(_))), "{twice:?}");
    assert!(matches!(
        Verifier::trusting(Vec::new()).await,
        Err(AuthError::Config(_))
    ));
}

#[tokio::test]
async fn keycloak_style_claims_are_read_through_the_mapping() {
    let key: &TestKey = &RSA_KEY;
    let mapping = ClaimMapping {
        roles: "realm_access.roles".to_owned(),
        role_map: [
            ("zq-handler".to_owned(), Role::Handler),
            ("zq-coordinator".to_owned(), Role::Coordinator),
        ]
        .into(),
        jurisdiction: "division_code".to_owned(),
        department: "attributes.department".to_owned(),
        uscc: "uscc".to_owned(),
        name: "preferred_username".to_owned(),
    };
    let verifier = Verifier::new(AuthConfig {
        claims: mapping,
        ..config(JwksSource::Inline(jwks(&[key])))
    })
    .await
    .unwrap();
    let claims = claims_with(json!({
        "roles": null, "jurisdiction": null, "department": null, "name": null,
        "realm_access": { "roles": ["zq-handler", "offline_access", "coordinator", "zq-handler"] },
        "division_code": 510821,
        "attributes": { "department": ["510821-jrj"] },
        "preferred_username": "王芳",
    }));

    let principal = verifier.verify(&key.token(&claims)).await.unwrap();

    // Names the map does not list grant nothing, even zhengqi's own.
    assert_eq!(principal.roles, vec![Role::Handler]);
    assert_eq!(principal.jurisdiction.as_deref(), Some("510821"));
    assert_eq!(principal.department.as_deref(), Some("510821-jrj"));
    assert_eq!(principal.name.as_deref(), Some("王芳"));
    assert_eq!(principal.uscc, None);
}

#[tokio::test]
async fn roles_in_a_space_separated_claim_and_a_literal_dotted_claim_name_are_read() {
    let key = TestKey::ed25519("ed-1");
    let verifier = Verifier::new(AuthConfig {
        claims: ClaimMapping {
            roles: "https://zhengqi.example/roles".to_owned(),
            ..ClaimMapping::default()
        },
        ..config(JwksSource::Inline(jwks(&[&key])))
    })
    .await
    .unwrap();
    let claims =
        claims_with(json!({ "roles": null, "https://zhengqi.example/roles": "leader supervisor" }));
    let principal = verifier.verify(&key.token(&claims)).await.unwrap();
    assert_eq!(principal.roles, vec![Role::Leader, Role::Supervisor]);
}

#[tokio::test]
async fn keys_are_found_by_openid_connect_discovery_from_the_issuer() {
    let key = TestKey::ed25519("discovered");
    // One document answers both the metadata and the JWKS request.
    let server = JwksServer::start(String::new());
    let issuer = server
        .url
        .trim_end_matches("/.well-known/jwks.json")
        .to_owned();
    server
        .serve(json!({ "issuer": issuer, "jwks_uri": server.url, "keys": [key.jwk] }).to_string());
    let verifier = Verifier::new(AuthConfig::new(issuer.clone(), JwksSource::Discovery))
        .await
        .unwrap();
    assert_eq!(server.requests(), 2, "the metadata, then the JWKS");

    let token = key.token(&claims_with(json!({ "iss": issuer })));
    assert_eq!(verifier.verify(&token).await.unwrap().sub, "handler-7");
}

#[tokio::test]
async fn discovery_metadata_naming_another_issuer_is_refused() {
    let key = TestKey::ed25519("discovered");
    let server = JwksServer::start(String::new());
    let issuer = server
        .url
        .trim_end_matches("/.well-known/jwks.json")
        .to_owned();
    server.serve(
        json!({ "issuer": "https://impostor.example", "jwks_uri": server.url, "keys": [key.jwk] })
            .to_string(),
    );
    let refused = Verifier::new(AuthConfig::new(issuer, JwksSource::Discovery)).await;
    assert!(
        matches!(&refused, Err(AuthError::Jwks(why)) if why.contains("impostor")),
        "{refused:?}"
    );
}

#[test]
fn keys_made_by_openssl_genpkey_sign_service_tokens() {
    let dir = tempfile::tempdir().unwrap();
    for (args, alg) in [
        (
            &["-algorithm", "ed25519"][..],
            jsonwebtoken::Algorithm::EdDSA,
        ),
        (
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
            jsonwebtoken::Algorithm::ES256,
        ),
        (
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..],
            jsonwebtoken::Algorithm::RS256,
        ),
    ] {
        let path = dir.path().join(format!("{alg:?}.pem"));
        let status = std::process::Command::new("openssl")
            .arg("genpkey")
            .args(args)
            .arg("-out")
            .arg(&path)
            .status()
            .expect("openssl runs (Debian's openssl package)");
        assert!(status.success(), "openssl genpkey {args:?}");
        let key = ServiceKey::from_file(&path, SERVICE_ISSUER).unwrap();
        assert_eq!(key.signer().algorithm(), alg);
    }
}

#[test]
fn the_keys_zhengqi_writes_are_read_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevIssuer::load_or_create(dir.path(), "zhengqi-dev").unwrap();
    let service = ServiceKey::load_or_create(dir.path(), SERVICE_ISSUER).unwrap();
    for path in [dev.key_path(), service.path()] {
        let output = std::process::Command::new("openssl")
            .args(["pkey", "-noout", "-text", "-in"])
            .arg(path)
            .output()
            .expect("openssl runs (Debian's openssl package)");
        assert!(
            output.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("ED25519"));
    }
    assert!(dir.path().join(SERVICE_JWKS_FILE).exists());
}

#[tokio::test]
async fn a_service_key_in_the_data_folder_is_trusted_for_its_own_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let key = ServiceKey::load_or_create(dir.path(), SERVICE_ISSUER).unwrap();
    let again = ServiceKey::load_or_create(dir.path(), SERVICE_ISSUER).unwrap();
    assert_eq!(
        key.signer().kid(),
        again.signer().kid(),
        "reused, not replaced"
    );
    let verifier = Verifier::new(key.anchor()).await.unwrap();
    let token = key.mint("policy", Duration::from_secs(60)).unwrap();
    let principal = verifier.verify(&token).await.unwrap();
    assert_eq!(
        (principal.sub.as_str(), principal.roles),
        ("policy", vec![Role::Service])
    );
}
