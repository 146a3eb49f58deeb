//! The one public error taxonomy. Every layer converts into it; gRPC and HTTP
//! map it to status codes in exactly one place each (`grpc::status`,
//! `rest::error`). Messages are shown to callers, so they never carry secrets.

use std::fmt;

/// What went wrong, in the vocabulary callers act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    NotFound,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
    FailedPrecondition,
    Unavailable,
    Unimplemented,
    Internal,
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::NotFound => "not found",
            Self::InvalidArgument => "invalid argument",
            Self::PermissionDenied => "permission denied",
            Self::Unauthenticated => "unauthenticated",
            Self::FailedPrecondition => "failed precondition",
            Self::Unavailable => "unavailable",
            Self::Unimplemented => "unimplemented",
            Self::Internal => "internal",
        };
        f.write_str(s)
    }
}

/// An error with a code and a caller-facing message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub code: Code,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(Code::NotFound, m)
    }
    pub fn invalid(m: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, m)
    }
    pub fn denied(m: impl Into<String>) -> Self {
        Self::new(Code::PermissionDenied, m)
    }
    pub fn unauthenticated(m: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, m)
    }
    pub fn precondition(m: impl Into<String>) -> Self {
        Self::new(Code::FailedPrecondition, m)
    }
    pub fn unavailable(m: impl Into<String>) -> Self {
        Self::new(Code::Unavailable, m)
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(Code::Internal, m)
    }

    /// Prefixes the message with what was being done, keeping the code.
    #[must_use]
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound => Code::NotFound,
            _ => Code::Internal,
        };
        Self::new(code, e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::internal(format!("json: {e}"))
    }
}

/// Adds "while doing X" context to io results without losing the code.
pub trait Context<T> {
    fn ctx(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(what))
    }
}
