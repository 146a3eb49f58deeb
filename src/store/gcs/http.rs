//! What GCS answers means for callers: HTTP statuses and transport errors
//! mapped into the one error taxonomy, with GCS's own message kept.

use std::fmt::Write as _;

use reqwest::{Response, StatusCode};

use crate::{Code, Error, Result};

/// Percent-encodes an object name for a URL path segment or query value.
pub(super) fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A transport failure (connection refused, reset, timeout): retryable.
pub(super) fn transport(e: &reqwest::Error, what: &str) -> Error {
    Error::unavailable(format!("GCS is unreachable while {what}: {e}"))
}

/// Whether a failed request is worth repeating.
pub(super) fn retryable(e: &Error) -> bool {
    e.code == Code::Unavailable
}

/// `resp` when it succeeded; otherwise an error naming `what` and GCS's reason.
pub(super) async fn check(resp: Response, what: &str) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    Err(status_error(status, what, &body))
}

pub(super) fn status_error(status: StatusCode, what: &str, body: &str) -> Error {
    let reason = reason(body);
    let msg = format!("GCS refused {what}: HTTP {} {reason}", status.as_u16());
    match status.as_u16() {
        404 => Error::not_found(msg),
        401 | 403 => Error::denied(msg),
        409 | 412 => Error::precondition(msg),
        400 => Error::invalid(msg),
        408 | 429 | 500..=599 => Error::unavailable(msg),
        _ => Error::internal(msg),
    }
}

/// GCS's `error.message`, or the start of the body.
fn reason(body: &str) -> String {
    let parsed: Option<String> = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string));
    let text = parsed.unwrap_or_else(|| body.trim().to_string());
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_slashes_and_maps_statuses() {
        assert_eq!(encode("a/b c.dump"), "a%2Fb%20c.dump");
        let e = status_error(
            StatusCode::NOT_FOUND,
            "reading x",
            r#"{"error":{"message":"No such object"}}"#,
        );
        assert_eq!(e.code, Code::NotFound);
        assert!(e.message.contains("No such object"), "{}", e.message);
        assert_eq!(
            status_error(StatusCode::SERVICE_UNAVAILABLE, "x", "").code,
            Code::Unavailable
        );
        assert_eq!(
            status_error(StatusCode::FORBIDDEN, "x", "").code,
            Code::PermissionDenied
        );
    }
}
