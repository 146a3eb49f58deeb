//! The HTTP surface: grpc-gateway style REST under `/v1/backups`, plus
//! `/healthz` and `/openapi.json`. Routes come from one table ([`routes`]);
//! the OpenAPI document is generated from that table and the proto
//! ([`openapi`]). Handlers translate and call [`Api`]; the error mapping
//! lives in [`error`], the JSON rules in [`json`].

mod descriptor;
mod error;
pub(crate) mod json;
pub mod openapi;
pub mod routes;

pub use error::{ApiError, http_status};

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, get, on};

use crate::api::Api;
use crate::auth::Credentials;
use crate::proto;
use json::{Body, from_query, reply};
use routes::{Method, ROUTES, Route};

type Shared = Arc<dyn Api>;
type Pairs = Query<Vec<(String, String)>>;

/// The REST routes over `api`, with request bodies capped at `max_body` bytes.
///
/// # Panics
/// When [`ROUTES`] names an RPC without a handler here (a unit test catches
/// that first).
pub fn router(api: Shared, max_body: usize) -> Router {
    let mut router = Router::new();
    for r in ROUTES {
        let h = handler(r).unwrap_or_else(|| {
            panic!(
                "src/rest/routes.rs routes {} {} to {}, but src/rest/mod.rs has no handler: \
                 add an arm for it to handler()",
                r.method.lower(),
                r.path,
                r.rpc
            )
        });
        router = router.route(r.path, h);
    }
    router
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/openapi.json",
            get(|| async { axum::Json(openapi::document()) }),
        )
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(api)
}

/// The handler of a route's RPC, on the route's method.
fn handler(r: &Route) -> Option<MethodRouter<Shared>> {
    let m = match r.method {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Delete => MethodFilter::DELETE,
    };
    Some(match r.rpc {
        "CreateBackup" => on(m, create),
        "ListBackups" => on(m, list),
        "GetBackup" => on(m, get_one),
        "DeleteBackup" => on(m, delete),
        "RestoreBackup" => on(m, restore),
        "VerifyBackup" => on(m, verify),
        "PruneBackups" => on(m, prune),
        "CheckBackups" => on(m, check),
        "RebuildIndex" => on(m, rebuild_index),
        "ListOperations" => on(m, operations),
        _ => return None,
    })
}

fn creds(headers: &HeaderMap) -> Credentials {
    Credentials::from_header(headers.get("authorization").and_then(|v| v.to_str().ok()))
}

/// The service's answer to `rpc` as grpc-gateway JSON.
fn respond<T: serde::Serialize>(rpc: &str, r: crate::Result<T>) -> Response {
    match r {
        Ok(msg) => {
            let output = descriptor::contract()
                .rpc(rpc)
                .map_or("", |r| r.output.as_str());
            reply(output, &msg)
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// A request that could not be read: the caller must still authenticate
/// (and hold the scope for `rpc`) before learning what is wrong with it.
async fn refused(api: &Shared, h: &HeaderMap, rpc: &'static str, e: ApiError) -> Response {
    let ApiError(err, status) = e;
    let err = api.reject(&creds(h), rpc, err).await;
    let status = if err.code == crate::Code::InvalidArgument {
        status
    } else {
        None
    };
    ApiError(err, status).into_response()
}

/// Reads the request of `rpc` (a body or query parameters), or answers.
macro_rules! read {
    ($api:expr, $h:expr, $rpc:literal, $r:expr) => {
        match $r {
            Ok(req) => req,
            Err(e) => return refused(&$api, &$h, $rpc, e).await,
        }
    };
}

async fn create(
    State(api): State<Shared>,
    h: HeaderMap,
    Body(b): Body<proto::CreateBackupRequest>,
) -> Response {
    let req = read!(api, h, "CreateBackup", b);
    respond("CreateBackup", api.create_backup(&creds(&h), req).await)
}

/// Sent as it is read ([`json::streamed_list`]): an unpaged list of a
/// large catalog never sits in memory whole.
async fn list(State(api): State<Shared>, h: HeaderMap, Query(q): Pairs) -> Response {
    use futures::StreamExt;
    let req = read!(api, h, "ListBackups", from_query("ListBackupsRequest", q));
    let mut parts = match api.list_backups_streamed(&creds(&h), req).await {
        Ok(parts) => parts,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match parts.next().await {
        Some(Ok(first)) => json::streamed_list(first, parts),
        Some(Err(e)) => ApiError::from(e).into_response(),
        None => ApiError::from(crate::Error::internal("a list answered nothing")).into_response(),
    }
}

async fn operations(State(api): State<Shared>, h: HeaderMap, Query(q): Pairs) -> Response {
    let req = read!(
        api,
        h,
        "ListOperations",
        from_query("ListOperationsRequest", q)
    );
    respond("ListOperations", api.list_operations(&creds(&h), req).await)
}

async fn get_one(
    State(api): State<Shared>,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Pairs,
) -> Response {
    let mut req: proto::GetBackupRequest =
        read!(api, h, "GetBackup", from_query("GetBackupRequest", q));
    req.id = id;
    respond("GetBackup", api.get_backup(&creds(&h), req).await)
}

async fn delete(
    State(api): State<Shared>,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Pairs,
) -> Response {
    let mut req: proto::DeleteBackupRequest =
        read!(api, h, "DeleteBackup", from_query("DeleteBackupRequest", q));
    req.id = id;
    respond("DeleteBackup", api.delete_backup(&creds(&h), req).await)
}

/// The path's id wins over any `id` in the body, as in grpc-gateway.
async fn restore(
    State(api): State<Shared>,
    h: HeaderMap,
    Path(id): Path<String>,
    Body(b): Body<proto::RestoreBackupRequest>,
) -> Response {
    let mut req = read!(api, h, "RestoreBackup", b);
    req.id = id;
    respond("RestoreBackup", api.restore_backup(&creds(&h), req).await)
}

async fn verify(
    State(api): State<Shared>,
    h: HeaderMap,
    Path(id): Path<String>,
    Body(b): Body<proto::VerifyBackupRequest>,
) -> Response {
    let mut req = read!(api, h, "VerifyBackup", b);
    req.id = id;
    respond("VerifyBackup", api.verify_backup(&creds(&h), req).await)
}

async fn prune(
    State(api): State<Shared>,
    h: HeaderMap,
    Body(b): Body<proto::PruneBackupsRequest>,
) -> Response {
    let req = read!(api, h, "PruneBackups", b);
    respond("PruneBackups", api.prune_backups(&creds(&h), req).await)
}

async fn check(State(api): State<Shared>, h: HeaderMap, Query(q): Pairs) -> Response {
    let req = read!(api, h, "CheckBackups", from_query("CheckBackupsRequest", q));
    respond("CheckBackups", api.check_backups(&creds(&h), req).await)
}

async fn rebuild_index(
    State(api): State<Shared>,
    h: HeaderMap,
    Body(b): Body<proto::RebuildIndexRequest>,
) -> Response {
    let req = read!(api, h, "RebuildIndex", b);
    respond("RebuildIndex", api.rebuild_index(&creds(&h), req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_handler() {
        for r in ROUTES {
            assert!(
                handler(r).is_some(),
                "src/rest/routes.rs routes {} {} to {}, but src/rest/mod.rs has no handler: \
                 add an arm for it to handler()",
                r.method.lower(),
                r.path,
                r.rpc
            );
        }
    }
}
