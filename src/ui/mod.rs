//! The status page at `/ui`: one read-only page, embedded in the binary (no
//! CDN), that signs in with a pasted token kept in the tab's sessionStorage
//! and sent as a bearer header to the same REST routes everyone uses — so a
//! tenant's token shows only that tenant. The page itself carries no data
//! and needs no token; a strict CSP keeps anything it did not ship out.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::config::FreshnessConfig;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

/// Only what the page ships; nothing inline, nothing from elsewhere; no
/// framing; no referrer (the page never puts a token in a URL anyway).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            (HeaderName::from_static("content-security-policy"), CSP),
            (HeaderName::from_static("x-content-type-options"), "nosniff"),
            (HeaderName::from_static("referrer-policy"), "no-referrer"),
            (HeaderName::from_static("x-frame-options"), "DENY"),
            (CACHE_CONTROL, "no-store"),
        ],
        body,
    )
}

/// `/ui` and its assets, judging staleness by `[freshness]` (the page asks
/// `/v1/backups:check` with its `max-age`, and colours ages against it).
pub fn router(freshness: &FreshnessConfig) -> Router {
    let now = chrono::Utc::now();
    let stale_after = freshness
        .max_age()
        .map(|d| (now - d.before(&now)).num_seconds())
        .unwrap_or_default();
    let config = serde_json::json!({
        "maxAge": freshness.max_age,
        "staleAfterSecs": stale_after,
    })
    .to_string();
    Router::new()
        .route(
            "/ui",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/ui/config.json",
            get(move || async move {
                (
                    [
                        (CONTENT_TYPE, "application/json"),
                        (CACHE_CONTROL, "no-store"),
                    ],
                    config,
                )
            }),
        )
}
