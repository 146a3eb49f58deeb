//! The one mapping from our errors to HTTP: grpc-gateway's error body
//! `{"code": <grpc code number>, "message", "details": []}` with the HTTP
//! status grpc-gateway uses for that code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::grpc::grpc_code;
use crate::{Code, Error};

pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::InvalidArgument | Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An [`Error`] as an HTTP response.
#[derive(Debug)]
pub struct ApiError(pub Error, pub Option<StatusCode>);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e, None)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.1.unwrap_or_else(|| http_status(self.0.code));
        let body = serde_json::json!({
            "code": grpc_code(self.0.code) as i32,
            "message": self.0.message,
            "details": [],
        });
        (status, Json(body)).into_response()
    }
}
