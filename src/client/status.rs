//! Remote failures back into the one error taxonomy. The gRPC code is the
//! shared vocabulary: gRPC carries it in the status, REST in the error body,
//! so both clients map through the daemon's own inverse,
//! [`crate::grpc::code_from_grpc`], and cannot disagree with it.

use crate::grpc::code_from_grpc;
use crate::{Code, Error};

/// A gRPC status as an [`Error`]. Transport failures (no daemon, TLS) have
/// an empty-ish message and the cause in `source`, so the cause is appended.
pub fn error_from_status(status: &tonic::Status) -> Error {
    let mut message = status.message().to_string();
    let mut next = std::error::Error::source(status);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
        next = cause.source();
    }
    if message.is_empty() {
        message = format!("server answered {:?} without a message", status.code());
    }
    Error::new(code_from_grpc(status.code()), message)
}

/// The grpc-gateway error body: `{"code": <grpc code>, "message": …}`.
#[derive(serde::Deserialize)]
struct RestErrorBody {
    code: i32,
    #[serde(default)]
    message: String,
}

/// A non-2xx REST answer as an [`Error`]: the body's gRPC code when the body
/// is the gateway's error JSON, otherwise (a proxy's page, an empty body) a
/// code guessed from the HTTP status and the start of the body as message.
pub fn error_from_rest(http_status: u16, body: &[u8]) -> Error {
    if let Ok(e) = serde_json::from_slice::<RestErrorBody>(body) {
        let message = if e.message.is_empty() {
            format!("server answered HTTP {http_status}")
        } else {
            e.message
        };
        return Error::new(code_from_grpc(tonic::Code::from(e.code)), message);
    }
    let code = match http_status {
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        405 | 501 => Code::Unimplemented,
        408 | 429 | 502..=504 => Code::Unavailable,
        _ => Code::Internal,
    };
    let text = String::from_utf8_lossy(body);
    let text: String = text.trim().chars().take(200).collect();
    let message = if text.is_empty() {
        format!("server answered HTTP {http_status}")
    } else {
        format!("server answered HTTP {http_status}: {text}")
    };
    Error::new(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_keep_code_and_message() {
        let e = error_from_status(&tonic::Status::permission_denied("no"));
        assert_eq!((e.code, e.message.as_str()), (Code::PermissionDenied, "no"));
    }

    #[test]
    fn rest_bodies_carry_the_grpc_code() {
        let e = error_from_rest(
            404,
            br#"{"code":5,"message":"backup x not found","details":[]}"#,
        );
        assert_eq!(e.code, Code::NotFound);
        assert_eq!(e.message, "backup x not found");
        // FailedPrecondition shares HTTP 400 with InvalidArgument: the body decides.
        let e = error_from_rest(400, br#"{"code":9,"message":"busy","details":[]}"#);
        assert_eq!(e.code, Code::FailedPrecondition);
    }

    #[test]
    fn rest_bodies_that_are_not_gateway_errors_fall_back_to_http() {
        let e = error_from_rest(502, b"<html>Bad Gateway</html>");
        assert_eq!(e.code, Code::Unavailable);
        assert!(e.message.contains("Bad Gateway"), "{e}");
        let e = error_from_rest(401, b"");
        assert_eq!(e.code, Code::Unauthenticated);
        assert_eq!(e.message, "server answered HTTP 401");
    }
}
