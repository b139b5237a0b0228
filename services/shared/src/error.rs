//! The error every service returns, and its one mapping to gRPC and HTTP codes.
//!
//! Every refusal speaks two languages: its message in English for API clients
//! and logs, and what a person reads in Chinese, sent beside it as a
//! `google.rpc.LocalizedMessage` in `zh-CN` (and, for each bad field, in the
//! field violation's own `localized_message`). The portal shows the Chinese.
//! A refusal built without its Chinese still carries a Chinese sentence for
//! its code ([`chinese_for`]), so no English system text reaches a Chinese page.

use std::fmt;

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

use crate::auth::AuthError;

/// The locale of the messages people read.
pub const LOCALE: &str = "zh-CN";

/// One bad field of a request: the field's path (e.g. `enterprise.uscc`) and
/// why, in English and in Chinese.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
    pub zh: String,
}

/// Why a field is refused, in English and in Chinese.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Why {
    pub en: String,
    pub zh: String,
}

impl Why {
    pub fn new(en: impl Into<String>, zh: impl Into<String>) -> Self {
        Why {
            en: en.into(),
            zh: zh.into(),
        }
    }
}

/// Collects every bad field of a request, so one `INVALID_ARGUMENT` names them all.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records why `field` is refused, in both languages.
    pub fn add(&mut self, field: impl Into<String>, why: impl Into<Why>) {
        let why = why.into();
        self.0.push(FieldViolation {
            field: field.into(),
            description: why.en,
            zh: why.zh,
        });
    }

    /// Keeps the value of a successful parse; records the failure under `field`.
    pub fn check<T, E: Into<Why>>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(field, error);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|v| v.field.as_str())
    }

    /// `Ok` when nothing was recorded, else `Error::InvalidArgument` with every field.
    pub fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(self.0))
        }
    }
}

/// The error of a service boundary. Infrastructure errors leave as an opaque
/// `INTERNAL`; their detail goes to the log, never to the caller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("unauthenticated: {0}")]
    Unauthenticated(#[from] AuthError),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    ResourceExhausted(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// From a writer's own SQLite connection (`storage::native`).
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("internal error: {0}")]
    Internal(String),
    /// `error`, with what a person reads in Chinese.
    #[error("{error}")]
    Localized { error: Box<Error>, zh: String },
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// One bad field.
    pub fn invalid(field: impl Into<String>, why: impl Into<Why>) -> Self {
        let mut violations = Violations::new();
        violations.add(field, why);
        Error::InvalidArgument(violations.0)
    }

    /// This error, with what a person reads in Chinese.
    pub fn zh(self, zh: impl Into<String>) -> Self {
        Error::Localized {
            error: Box::new(self.unlocalized_owned()),
            zh: zh.into(),
        }
    }

    /// The error without its Chinese, to match on its kind.
    pub fn unlocalized(&self) -> &Error {
        match self {
            Error::Localized { error, .. } => error.unlocalized(),
            other => other,
        }
    }

    fn unlocalized_owned(self) -> Error {
        match self {
            Error::Localized { error, .. } => error.unlocalized_owned(),
            other => other,
        }
    }

    /// What a person reads: the Chinese given, the violations' Chinese, or
    /// the sentence of the error's code.
    pub fn chinese(&self) -> String {
        match self {
            Error::Localized { zh, .. } => zh.clone(),
            Error::InvalidArgument(violations) => {
                let fields = violations
                    .iter()
                    .map(|v| format!("{}：{}", v.field, violation_zh(v)))
                    .collect::<Vec<_>>()
                    .join("；");
                format!("{}：{fields}", chinese_for(Code::InvalidArgument))
            }
            Error::Unauthenticated(error) => error.chinese().to_owned(),
            Error::PermissionDenied(message)
            | Error::NotFound(message)
            | Error::AlreadyExists(message)
            | Error::FailedPrecondition(message)
            | Error::Aborted(message)
            | Error::ResourceExhausted(message) => chinese_part(message)
                .unwrap_or_else(|| chinese_for(self.code()))
                .to_owned(),
            other => chinese_for(other.code()).to_owned(),
        }
    }

    pub fn internal(context: impl fmt::Display) -> Self {
        Error::Internal(context.to_string())
    }

    /// Maps a unique-constraint violation to `ALREADY_EXISTS` with `message`;
    /// every other database error stays what it is.
    pub fn on_unique_violation(error: sqlx::Error, message: impl Into<String>) -> Self {
        if crate::storage::is_unique_violation(&error) {
            Error::AlreadyExists(message.into())
        } else {
            Error::Database(error)
        }
    }

    pub fn code(&self) -> Code {
        match self {
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::NotFound(_) => Code::NotFound,
            Error::AlreadyExists(_) => Code::AlreadyExists,
            Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::Aborted(_) => Code::Aborted,
            Error::ResourceExhausted(_) => Code::ResourceExhausted,
            Error::Unavailable(_) => Code::Unavailable,
            Error::Database(_) | Error::Sqlite(_) | Error::Internal(_) => Code::Internal,
            Error::Localized { error, .. } => error.code(),
        }
    }
}

impl From<String> for Why {
    /// A reason given in English only; people read [`chinese_for`] instead.
    fn from(en: String) -> Self {
        Why {
            en,
            zh: String::new(),
        }
    }
}

impl From<Error> for Why {
    /// The reason of a one-field refusal, or the error itself, for
    /// [`Violations::check`] on a parser that answers with an [`Error`].
    fn from(error: Error) -> Self {
        let zh = error.chinese();
        match error.unlocalized_owned() {
            Error::InvalidArgument(mut violations) if violations.len() == 1 => {
                let violation = violations.remove(0);
                Why::new(violation.description, violation.zh)
            }
            other => Why::new(other.to_string(), zh),
        }
    }
}

impl From<&str> for Why {
    fn from(en: &str) -> Self {
        Why::from(en.to_owned())
    }
}

/// The Chinese of a message written as `中文（English）`, or of one written in
/// Chinese alone; `None` for a message in English.
pub fn chinese_part(message: &str) -> Option<&str> {
    let is_chinese = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c);
    if !message.chars().any(is_chinese) {
        return None;
    }
    match message
        .strip_suffix('）')
        .and_then(|m| m.rfind('（').map(|at| (m, at)))
    {
        Some((m, at)) if !m[at..].chars().any(is_chinese) => Some(&message[..at]),
        _ => Some(message),
    }
}

/// The Chinese of a field violation, or the words for a field refused.
fn violation_zh(violation: &FieldViolation) -> &str {
    if violation.zh.is_empty() {
        chinese_part(&violation.description).unwrap_or("填写不符合要求")
    } else {
        &violation.zh
    }
}

/// What a person reads of an error of `code` whose own words are not given.
pub fn chinese_for(code: Code) -> &'static str {
    match code {
        Code::Ok => "成功",
        Code::Cancelled => "请求已取消",
        Code::InvalidArgument | Code::OutOfRange => "请求内容有误",
        Code::DeadlineExceeded => "请求超时，请稍后再试",
        Code::NotFound => "未找到所请求的内容，或您无权查看",
        Code::AlreadyExists => "该记录已存在",
        Code::PermissionDenied => "您无权进行此操作",
        Code::ResourceExhausted => "请求过多或超出限制，请稍后再试",
        Code::FailedPrecondition => "当前状态不允许此操作",
        Code::Aborted => "内容已被他人修改，请刷新后重试",
        Code::Unimplemented => "暂不支持此操作",
        Code::Unavailable => "服务暂时不可用，请稍后再试",
        Code::Unauthenticated => "尚未登录或登录已失效，请重新登录",
        Code::Unknown | Code::Internal | Code::DataLoss => "系统内部出错，请稍后再试",
    }
}

/// `details` with a `LocalizedMessage` in [`LOCALE`].
fn localized(mut details: ErrorDetails, zh: String) -> ErrorDetails {
    details.set_localized_message(LOCALE, zh);
    details
}

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        let zh = error.chinese();
        let error = error.unlocalized_owned();
        match error {
            Error::InvalidArgument(violations) => {
                let message = format!("invalid argument: {}", describe(&violations));
                let violations: Vec<tonic_types::FieldViolation> = violations
                    .into_iter()
                    .map(|v| {
                        let localized =
                            tonic_types::LocalizedMessage::new(LOCALE, violation_zh(&v));
                        tonic_types::FieldViolation {
                            localized_message: Some(localized),
                            ..tonic_types::FieldViolation::new(v.field, v.description)
                        }
                    })
                    .collect();
                let details = localized(ErrorDetails::with_bad_request(violations), zh);
                tonic::Status::with_error_details(Code::InvalidArgument, message, details)
            }
            Error::Database(source) => {
                tracing::error!(error = &source as &dyn std::error::Error, "database error");
                internal(zh)
            }
            Error::Sqlite(source) => {
                tracing::error!(error = &source as &dyn std::error::Error, "database error");
                internal(zh)
            }
            Error::Internal(context) => {
                tracing::error!(%context, "internal error");
                internal(zh)
            }
            other => tonic::Status::with_error_details(
                other.code(),
                other.to_string(),
                localized(ErrorDetails::new(), zh),
            ),
        }
    }
}

fn internal(zh: String) -> tonic::Status {
    tonic::Status::with_error_details(
        Code::Internal,
        "internal error",
        localized(ErrorDetails::new(), zh),
    )
}

/// HTTP status for a gRPC code, as `google/rpc/code.proto`, grpc-gateway and Envoy map them.
pub fn http_status(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::Cancelled => 499,
        Code::Unknown => 500,
        Code::InvalidArgument => 400,
        Code::DeadlineExceeded => 504,
        Code::NotFound => 404,
        Code::AlreadyExists => 409,
        Code::PermissionDenied => 403,
        Code::ResourceExhausted => 429,
        Code::FailedPrecondition => 400,
        Code::Aborted => 409,
        Code::OutOfRange => 400,
        Code::Unimplemented => 501,
        Code::Internal => 500,
        Code::Unavailable => 503,
        Code::DataLoss => 500,
        Code::Unauthenticated => 401,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_lists_every_field_in_bad_request() {
        let mut violations = Violations::new();
        violations.add("title", "must not be empty");
        violations.add("enterprise.uscc", "wrong check character");
        let status: tonic::Status = violations.finish().unwrap_err().into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(fields, ["title", "enterprise.uscc"]);
    }

    #[test]
    fn a_bilingual_message_reads_as_its_chinese_part() {
        let error =
            Error::PermissionDenied("部门 X 不在您的辖区（department_id: X is outside）".into());
        assert_eq!(error.chinese(), "部门 X 不在您的辖区");
        let error = Error::FailedPrecondition("案件已办结".into());
        assert_eq!(error.chinese(), "案件已办结");
        let error = Error::FailedPrecondition("case is closed".into());
        assert_eq!(error.chinese(), "当前状态不允许此操作");
        let error = Error::FailedPrecondition("case is closed".into()).zh("案件已办结");
        assert_eq!(error.chinese(), "案件已办结");
        assert_eq!(error.code(), Code::FailedPrecondition);
        assert!(matches!(error.unlocalized(), Error::FailedPrecondition(_)));
    }

    #[test]
    fn internal_errors_do_not_leak_their_detail() {
        let status: tonic::Status = Error::internal("SELECT * FROM secrets failed").into();
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }
}
