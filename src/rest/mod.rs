//! The HTTP surface: grpc-gateway style REST under `/v1/backups`, plus
//! `/healthz` and `/openapi.json`. Handlers translate and call [`Api`]; the
//! error mapping lives in [`error`], the JSON rules in [`json`].

mod error;
mod json;

pub use error::{ApiError, http_status};

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::api::Api;
use crate::auth::Credentials;
use crate::{Error, proto};
use json::{Body, reply};

/// The OpenAPI 3 document of these routes.
pub const OPENAPI: &str = include_str!("openapi.json");

type Shared = Arc<dyn Api>;

/// The REST routes over `api`, with request bodies capped at `max_body` bytes.
pub fn router(api: Shared, max_body: usize) -> Router {
    Router::new()
        .route("/v1/backups", post(create).get(list))
        .route("/v1/backups/{id}", get(get_one).delete(delete))
        .route("/v1/backups/{id}/restore", post(restore))
        .route("/v1/backups/{id}/verify", post(verify))
        .route("/v1/backups:prune", post(prune))
        .route("/v1/backups:check", get(check))
        .route("/v1/backups:rebuildIndex", post(rebuild_index))
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/openapi.json",
            get(|| async {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    OPENAPI,
                )
            }),
        )
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(api)
}

fn creds(headers: &HeaderMap) -> Credentials {
    Credentials::from_header(headers.get("authorization").and_then(|v| v.to_str().ok()))
}

fn respond<T: serde::Serialize>(r: crate::Result<T>, messages: &[&str]) -> Response {
    match r {
        Ok(msg) => reply(&msg, messages),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn create(
    State(api): State<Shared>,
    h: HeaderMap,
    Body(req): Body<proto::CreateBackupRequest>,
) -> Response {
    respond(api.create_backup(&creds(&h), req).await, &["record"])
}

async fn list(
    State(api): State<Shared>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let req = match list_query(&q) {
        Ok(r) => r,
        Err(e) => return ApiError::from(e).into_response(),
    };
    respond(api.list_backups(&creds(&h), req).await, &[])
}

/// `?username=&pageSize=&pageToken=` (snake_case accepted too); any other
/// parameter, or a page size that is not a number, is refused.
fn list_query(q: &HashMap<String, String>) -> crate::Result<proto::ListBackupsRequest> {
    let mut req = proto::ListBackupsRequest::default();
    for (k, v) in q {
        match k.as_str() {
            "username" => req.username.clone_from(v),
            "pageSize" | "page_size" => {
                req.page_size = v.parse().map_err(|_| {
                    Error::invalid(format!(
                        "pageSize {v:?} is not a page size: use a whole number from 1 to \
                         1000, or 0 for every record"
                    ))
                })?;
            }
            "pageToken" | "page_token" => req.page_token.clone_from(v),
            _ => return Err(Error::invalid(format!("unknown query parameter {k:?}"))),
        }
    }
    Ok(req)
}

async fn get_one(State(api): State<Shared>, h: HeaderMap, Path(id): Path<String>) -> Response {
    respond(
        api.get_backup(&creds(&h), proto::GetBackupRequest { id })
            .await,
        &["record"],
    )
}

async fn delete(State(api): State<Shared>, h: HeaderMap, Path(id): Path<String>) -> Response {
    respond(
        api.delete_backup(&creds(&h), proto::DeleteBackupRequest { id })
            .await,
        &[],
    )
}

/// The path's id wins over any `id` in the body, as in grpc-gateway.
async fn restore(
    State(api): State<Shared>,
    h: HeaderMap,
    Path(id): Path<String>,
    Body(mut req): Body<proto::RestoreBackupRequest>,
) -> Response {
    req.id = id;
    respond(api.restore_backup(&creds(&h), req).await, &[])
}

async fn verify(
    State(api): State<Shared>,
    h: HeaderMap,
    Path(id): Path<String>,
    Body(mut req): Body<proto::VerifyBackupRequest>,
) -> Response {
    req.id = id;
    respond(
        api.verify_backup(&creds(&h), req).await,
        &["verification", "record"],
    )
}

async fn prune(
    State(api): State<Shared>,
    h: HeaderMap,
    Body(req): Body<proto::PruneBackupsRequest>,
) -> Response {
    respond(api.prune_backups(&creds(&h), req).await, &[])
}

/// Query parameters in either spelling, as grpc-gateway accepts them.
async fn check(
    State(api): State<Shared>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut req = proto::CheckBackupsRequest::default();
    for (k, v) in q {
        match k.as_str() {
            "username" => req.username = v,
            "maxAge" | "max_age" => req.max_age = v,
            "requireVerifiedWithin" | "require_verified_within" => req.require_verified_within = v,
            _ => {
                return ApiError::from(Error::invalid(format!("unknown query parameter {k:?}")))
                    .into_response();
            }
        }
    }
    respond(api.check_backups(&creds(&h), req).await, &[])
}

async fn rebuild_index(
    State(api): State<Shared>,
    h: HeaderMap,
    Body(req): Body<proto::RebuildIndexRequest>,
) -> Response {
    respond(api.rebuild_index(&creds(&h), req).await, &[])
}
