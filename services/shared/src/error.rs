//! The error every service returns, and its one mapping to gRPC and HTTP codes.

use std::fmt;

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

use crate::auth::AuthError;

/// One bad field of a request: the field's path (e.g. `enterprise.uscc`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// Collects every bad field of a request, so one `INVALID_ARGUMENT` names them all.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl fmt::Display) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.to_string(),
        });
    }

    /// Keeps the value of a successful parse; records the failure under `field`.
    pub fn check<T, E: fmt::Display>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
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
    pub fn invalid(field: impl Into<String>, description: impl fmt::Display) -> Self {
        let mut violations = Violations::new();
        violations.add(field, description);
        Error::InvalidArgument(violations.0)
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
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidArgument(violations) => {
                let message = format!("invalid argument: {}", describe(&violations));
                let violations: Vec<tonic_types::FieldViolation> = violations
                    .into_iter()
                    .map(|v| tonic_types::FieldViolation::new(v.field, v.description))
                    .collect();
                let details = ErrorDetails::with_bad_request(violations);
                tonic::Status::with_error_details(Code::InvalidArgument, message, details)
            }
            Error::Database(source) => {
                tracing::error!(error = &source as &dyn std::error::Error, "database error");
                tonic::Status::internal("internal error")
            }
            Error::Sqlite(source) => {
                tracing::error!(error = &source as &dyn std::error::Error, "database error");
                tonic::Status::internal("internal error")
            }
            Error::Internal(context) => {
                tracing::error!(%context, "internal error");
                tonic::Status::internal("internal error")
            }
            other => tonic::Status::new(other.code(), other.to_string()),
        }
    }
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
    fn internal_errors_do_not_leak_their_detail() {
        let status: tonic::Status = Error::internal("SELECT * FROM secrets failed").into();
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }
}
