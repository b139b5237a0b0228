//! Why a caller is not authenticated, and reading the bearer token from a header.

/// Why a token was refused (or, for [`AuthError::Jwks`] and [`AuthError::Config`], why
/// a [`Verifier`](super::Verifier) could not be built).
///
/// Every variant but `Jwks` and `Config` means "unauthenticated" to the caller.
/// Messages never include the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `authorization` header, or an empty token.
    #[error("no bearer token")]
    Missing,
    /// Not a `Bearer` credential, or not a compact JWT (three base64url parts of JSON).
    #[error("the bearer token is not a well-formed JWT")]
    Malformed,
    /// `exp` (plus leeway) has passed.
    #[error("the token has expired")]
    Expired,
    /// `nbf` (less leeway) is still ahead.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("the token was issued by an issuer this service does not trust")]
    WrongIssuer,
    /// `aud` does not name the configured audience.
    #[error("the token is not meant for this audience")]
    WrongAudience,
    /// No key of the JWKS matches the token's `kid` (or the token has no `kid` and the
    /// JWKS holds more than one key).
    #[error("the token was signed with an unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// The header's `alg` is not the algorithm of the key it names, is `none`, or is
    /// HS256 without an explicitly configured development secret.
    #[error("the token's signing algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// The token names a role its issuer may not grant: a role other than
    /// `service` from a deployment's service key, or `service` from the people's
    /// identity provider unless configured to grant it.
    #[error("the token names a role its issuer may not grant")]
    RoleNotAllowed,
    /// A required claim is absent.
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(&'static str),
    /// The JWKS could not be loaded when the verifier was built.
    #[error("cannot load the token signing keys: {0}")]
    Jwks(String),
    /// The verifier's configuration is unusable.
    #[error("invalid token verification settings: {0}")]
    Config(String),
}

impl AuthError {
    /// What a person reads, in Chinese.
    pub fn chinese(&self) -> &'static str {
        match self {
            AuthError::Missing => "尚未登录，请先登录",
            AuthError::Malformed => "登录凭证格式不正确，请重新登录",
            AuthError::Expired => "登录已过期，请重新登录",
            AuthError::NotYetValid => "登录凭证尚未生效，请检查本机时间后重新登录",
            AuthError::WrongIssuer => "登录凭证不是本系统认可的机构签发的",
            AuthError::WrongAudience => "登录凭证不是签发给本系统的",
            AuthError::UnknownKey | AuthError::BadSignature => "登录凭证的签名无法验证，请重新登录",
            AuthError::AlgorithmNotAllowed => "登录凭证的签名算法不被接受",
            AuthError::RoleNotAllowed => "登录凭证中的角色不能由其签发方授予",
            AuthError::MissingClaim(_) => "登录凭证缺少必要信息，请重新登录",
            AuthError::Jwks(_) | AuthError::Config(_) => "身份验证暂时不可用，请稍后再试",
        }
    }

    /// A short snake_case label for metrics and audit records.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed => "malformed",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::UnknownKey => "unknown_key",
            AuthError::BadSignature => "bad_signature",
            AuthError::AlgorithmNotAllowed => "algorithm_not_allowed",
            AuthError::RoleNotAllowed => "role_not_allowed",
            AuthError::MissingClaim(_) => "missing_claim",
            AuthError::Jwks(_) => "jwks_unavailable",
            AuthError::Config(_) => "invalid_config",
        }
    }
}

/// The token of an `authorization: Bearer <jwt>` header value.
///
/// The scheme is case-insensitive (RFC 9110 §11.1); `None` or a blank value is
/// [`AuthError::Missing`], any other scheme or shape [`AuthError::Malformed`].
pub fn bearer_token(header_value: Option<&str>) -> Result<&str, AuthError> {
    let value = header_value.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Err(AuthError::Missing);
    }
    let (scheme, token) = value.split_once([' ', '\t']).ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed);
    }
    let token = token.trim_start();
    // A token is base64url and dots: a byte scan suffices (any other
    // character fails when the token is decoded).
    if token.is_empty() || token.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(AuthError::Malformed);
    }
    Ok(token)
}
