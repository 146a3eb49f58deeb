//! Dev mode (`--insecure-no-auth`) answers every caller as the operator, so
//! the only thing between it and a web page in the operator's browser is
//! the browser's own rules: a cross-site `fetch` may send a "simple" request
//! (`Content-Type: text/plain`, no preflight), and DNS rebinding makes a
//! hostile name resolve to 127.0.0.1. So in dev mode a request must name a
//! loopback host, and a request with a body must say it is JSON (which a
//! cross-site page cannot send without a preflight we never answer).

use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Error;
use crate::rest::ApiError;

/// The middleware: refuses what a browser page could forge.
pub async fn loopback_json_only(req: Request, next: Next) -> Response {
    match check(&req) {
        Ok(()) => next.run(req).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn check(req: &Request) -> crate::Result<()> {
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_string()))
        .unwrap_or_default();
    if !is_loopback_host(&host) {
        return Err(Error::denied(format!(
            "dev mode (--insecure-no-auth) serves only loopback host names \
             (localhost, 127.0.0.1, [::1]); this request named {host:?}"
        )));
    }
    let has_body = req.headers().contains_key(TRANSFER_ENCODING)
        || req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    let json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if has_body && !json {
        return Err(Error::invalid(
            "dev mode (--insecure-no-auth) accepts request bodies only with \
             Content-Type: application/json",
        ));
    }
    Ok(())
}

/// `localhost`, `127.0.0.1` (any of 127/8) or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host as l;

    #[test]
    fn loopback_names_only() {
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "127.1.2.3",
            "[::1]:80",
            "[::1]",
        ] {
            assert!(l(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "10.0.0.1:80",
            "localhost.evil:1",
        ] {
            assert!(!l(bad), "{bad}");
        }
    }
}
