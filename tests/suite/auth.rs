//! Bearer tokens of an outside issuer, through the gateway: the suite trusts a JWKS
//! file (as `ZHENGQI_AUTH_JWKS` would name) holding an Ed25519, a P-256 and an RSA
//! key. Tokens signed with any of them are accepted; every kind of bad token is
//! answered `UNAUTHENTICATED` and stores nothing.
//!
//! Keys are generated here with aws-lc-rs and tokens are assembled by hand, so the
//! suite is checked against tokens it did not mint itself, and forged tokens
//! (`alg: none`, algorithm confusion, a tampered payload) can be built at all.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::common::{TestSuite, USCC_A, appeal};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tonic::Code;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_shared::auth::{AuthConfig, JwksSource, Role, TokenRequest};

/// The outside issuer the suite is told to trust.
const ISSUER: &str = "https://id.guangyuan.example";
const AUDIENCE: &str = "zhengqi";
/// 旺苍县, where the enterprise is registered.
const JURISDICTION: &str = "510821";
/// Clock skew the suite tolerates in these tests.
const LEEWAY_S: u64 = 5;

enum Private {
    Ed25519(Ed25519KeyPair),
    P256(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// One signing key of the outside issuer, with its public JWK.
struct IssuerKey {
    kid: &'static str,
    alg: &'static str,
    private: Private,
    jwk: Value,
}

impl IssuerKey {
    fn ed25519(kid: &'static str) -> IssuerKey {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "x": b64(key.public_key().as_ref()),
            "kid": kid, "alg": "EdDSA", "use": "sig",
        });
        IssuerKey {
            kid,
            alg: "EdDSA",
            private: Private::Ed25519(key),
            jwk,
        }
    }

    fn p256(kid: &'static str) -> IssuerKey {
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
        IssuerKey {
            kid,
            alg: "ES256",
            private: Private::P256(key),
            jwk,
        }
    }

    fn rsa(kid: &'static str) -> IssuerKey {
        let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = key.public_key();
        let jwk = json!({
            "kty": "RSA",
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
            "kid": kid, "alg": "RS256", "use": "sig",
        });
        IssuerKey {
            kid,
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

    /// A token with this key's `alg` and `kid` in its header.
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
            panic!("only RSA keys are published as PEM here")
        };
        let der: PublicKeyX509Der<'static> = key.public_key().as_der().unwrap();
        let body = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|line| std::str::from_utf8(line).unwrap())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }
}

/// The issuer's three keys, one of each supported type.
struct Issuer {
    ed25519: IssuerKey,
    p256: IssuerKey,
    rsa: IssuerKey,
}

impl Issuer {
    fn generate() -> Issuer {
        Issuer {
            ed25519: IssuerKey::ed25519("ed25519-2025"),
            p256: IssuerKey::p256("p256-2025"),
            rsa: IssuerKey::rsa("rsa-2025"),
        }
    }

    fn keys(&self) -> [&IssuerKey; 3] {
        [&self.ed25519, &self.p256, &self.rsa]
    }

    /// Writes the public JWKS to `path` and returns settings that trust it.
    fn publish(&self, path: &Path) -> AuthConfig {
        let jwks = json!({ "keys": self.keys().map(|key| key.jwk.clone()) });
        std::fs::write(path, jwks.to_string()).expect("writing the JWKS file");
        let mut config = AuthConfig::new(ISSUER, JwksSource::File(path.to_owned()));
        config.audience = AUDIENCE.to_owned();
        config.leeway_s = LEEWAY_S;
        config
    }
}

/// Starts a suite that trusts `issuer` (and not its development issuer).
async fn suite_trusting(issuer: &Issuer) -> TestSuite {
    TestSuite::start_with(|options| {
        options.providers = vec![issuer.publish(&options.data.join("issuer-jwks.json"))];
    })
    .await
}

/// A token signed with `suite`'s own service key, naming `roles` in 旺苍县.
fn service_key_token(suite: &TestSuite, roles: Vec<Role>) -> String {
    suite
        .suite
        .service_key
        .signer()
        .mint(&TokenRequest {
            jurisdiction: Some(JURISDICTION.to_owned()),
            uscc: Some(USCC_A.to_owned()),
            ..TokenRequest::new("routing", roles)
        })
        .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

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

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Valid claims of an enterprise user of `USCC_A`, registered in 旺苍县.
fn enterprise_claims(sub: &str) -> Value {
    let now = now();
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "roles": ["enterprise"],
        "jurisdiction": JURISDICTION,
        "uscc": USCC_A,
        "name": "广元市测试建材有限公司 张三",
    })
}

/// `enterprise_claims` with some claims replaced.
fn claims_with(changes: Value) -> Value {
    let mut claims = enterprise_claims("staff@91350200776049653A");
    for (claim, value) in changes.as_object().unwrap() {
        claims[claim] = value.clone();
    }
    claims
}

/// `message` with `authorization: <value>`, or without the header when `None`.
fn with_authorization<T>(message: T, value: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(value) = value {
        request
            .metadata_mut()
            .insert("authorization", value.parse().unwrap());
    }
    request
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

#[tokio::test]
async fn tokens_signed_with_each_configured_key_type_are_accepted() {
    let issuer = Issuer::generate();
    let suite = suite_trusting(&issuer).await;
    let mut client = suite.intake().await;

    let titles = [
        ("ed25519-2025", "流动资金贷款审批已两个月没有答复"),
        ("p256-2025", "厂房消防验收迟迟不能安排"),
        ("rsa-2025", "增值税留抵退税申请被退回三次"),
    ];
    for (key, (kid, title)) in issuer.keys().into_iter().zip(titles) {
        assert_eq!(key.kid, kid);
        let sub = format!("staff-{kid}@{USCC_A}");
        let token = key.token(&enterprise_claims(&sub));
        let request_id = format!("signed-with-{kid}");

        let submitted = client
            .submit_appeal(with_authorization(
                appeal(&request_id, USCC_A, JURISDICTION, title),
                bearer(&token).as_deref(),
            ))
            .await
            .unwrap_or_else(|status| panic!("a token signed with {} ({kid}): {status:?}", key.alg))
            .into_inner();

        assert!(
            submitted.id.starts_with("510821-"),
            "{kid}: {}",
            submitted.id
        );
        assert!(
            submitted.number.starts_with("510821-"),
            "{kid}: {}",
            submitted.number
        );
        assert_eq!(submitted.request_id, request_id, "{kid}");
        assert_eq!(submitted.jurisdiction_code, JURISDICTION, "{kid}");
        assert_eq!(submitted.enterprise.as_ref().unwrap().uscc, USCC_A, "{kid}");
        assert_eq!(submitted.title, title, "{kid}");
        assert_eq!(
            submitted.status,
            intake::AppealStatus::Received as i32,
            "{kid}"
        );
        assert_eq!(
            submitted.submitter, sub,
            "the submitter is the token's subject ({kid})"
        );

        let read = client
            .get_appeal(with_authorization(
                intake::GetAppealRequest {
                    id: submitted.id.clone(),
                },
                bearer(&token).as_deref(),
            ))
            .await
            .unwrap_or_else(|status| panic!("reading back with the {kid} token: {status:?}"))
            .into_inner();
        assert_eq!(read, submitted, "{kid}");
    }
    suite.stop().await;
}

#[tokio::test]
async fn every_kind_of_bad_token_is_unauthenticated() {
    let issuer = Issuer::generate();
    let suite = suite_trusting(&issuer).await;
    let mut client = suite.intake().await;
    let now = now();
    let leeway = LEEWAY_S as i64;

    let valid = issuer.ed25519.token(&claims_with(json!({})));
    let tampered = {
        let parts: Vec<&str> = valid.split('.').collect();
        let escalated = claims_with(json!({ "roles": ["enterprise", "admin"] }));
        format!(
            "{}.{}.{}",
            parts[0],
            b64(escalated.to_string().as_bytes()),
            parts[2]
        )
    };
    let unsigned = format!(
        "{}.",
        signing_input(
            &json!({ "alg": "none", "typ": "JWT", "kid": issuer.ed25519.kid }),
            &claims_with(json!({})),
        )
    );
    let rsa_pem = issuer.rsa.public_pem();
    let stranger = IssuerKey::ed25519("ed25519-2025");

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no authorization header", None),
        ("a garbage bearer token", bearer("this-is-not-a-jwt")),
        ("three parts that are not base64url JSON", bearer("a.b.c")),
        (
            "a Basic credential",
            Some("Basic c3RhZmY6cGFzc3dvcmQ=".to_owned()),
        ),
        (
            "expired beyond the leeway",
            bearer(&issuer.ed25519.token(&claims_with(json!({
                "iat": now - 3600, "nbf": now - 3600, "exp": now - leeway - 60,
            })))),
        ),
        (
            "not valid yet (nbf in the future)",
            bearer(&issuer.p256.token(&claims_with(json!({
                "nbf": now + leeway + 600, "exp": now + 3600,
            })))),
        ),
        (
            "issued by another issuer",
            bearer(
                &issuer
                    .rsa
                    .token(&claims_with(json!({ "iss": "https://evil.example" }))),
            ),
        ),
        (
            "meant for another audience",
            bearer(
                &issuer
                    .ed25519
                    .token(&claims_with(json!({ "aud": "another-system" }))),
            ),
        ),
        ("alg none, unsigned", bearer(&unsigned)),
        (
            "HS256 keyed with the RSA public key PEM, naming the RSA kid",
            bearer(&hs256_token(
                rsa_pem.as_bytes(),
                &json!({ "alg": "HS256", "typ": "JWT", "kid": issuer.rsa.kid }),
                &claims_with(json!({})),
            )),
        ),
        (
            "HS256 keyed with the RSA public key PEM, without kid",
            bearer(&hs256_token(
                rsa_pem.as_bytes(),
                &json!({ "alg": "HS256", "typ": "JWT" }),
                &claims_with(json!({})),
            )),
        ),
        (
            "signed with a key whose kid is unknown",
            bearer(&IssuerKey::ed25519("ed25519-unknown").token(&claims_with(json!({})))),
        ),
        (
            "signed by a stranger's key under a trusted kid",
            bearer(&stranger.token(&claims_with(json!({})))),
        ),
        (
            "a signed token whose payload was changed",
            bearer(&tampered),
        ),
        (
            "the issuer given as an array naming it",
            bearer(
                &issuer
                    .ed25519
                    .token(&claims_with(json!({ "iss": [ISSUER] }))),
            ),
        ),
        (
            "the people's provider granting the service role",
            bearer(
                &issuer
                    .rsa
                    .token(&claims_with(json!({ "roles": ["service"] }))),
            ),
        ),
        (
            "the deployment's service key granting the coordinator role",
            bearer(&service_key_token(&suite, vec![Role::Coordinator])),
        ),
        (
            "the deployment's service key granting the service and enterprise roles",
            bearer(&service_key_token(
                &suite,
                vec![Role::Service, Role::Enterprise],
            )),
        ),
    ];

    let mut wrong = Vec::new();
    for (index, (case, authorization)) in cases.iter().enumerate() {
        let request = appeal(
            &format!("bad-token-{index}"),
            USCC_A,
            JURISDICTION,
            &format!("伪造令牌提交的诉求 {index}"),
        );
        match client
            .submit_appeal(with_authorization(request, authorization.as_deref()))
            .await
        {
            Err(status) if status.code() == Code::Unauthenticated => {}
            Err(status) => wrong.push(format!(
                "{case}: {:?} {:?}",
                status.code(),
                status.message()
            )),
            Ok(appeal) => wrong.push(format!(
                "{case}: accepted as appeal {}",
                appeal.get_ref().id
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "these tokens were not refused with UNAUTHENTICATED:\n{}",
        wrong.join("\n")
    );

    // The untampered token is accepted, so the refusals above were for the defects
    // alone; and none of the refused calls stored an appeal.
    let accepted = client
        .submit_appeal(with_authorization(
            appeal("good-token", USCC_A, JURISDICTION, "真实令牌提交的诉求"),
            bearer(&valid).as_deref(),
        ))
        .await
        .expect("the valid token the tampered one was made from is accepted")
        .into_inner();
    let listed = client
        .list_appeals(with_authorization(
            intake::ListAppealsRequest::default(),
            bearer(&valid).as_deref(),
        ))
        .await
        .expect("the enterprise lists its appeals")
        .into_inner();
    let ids: Vec<&str> = listed.appeals.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        [accepted.id.as_str()],
        "only the valid token's appeal is stored"
    );
    suite.stop().await;
}
