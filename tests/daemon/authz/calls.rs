//! One call of the matrix on each surface: the same request for an RPC over
//! gRPC, REST and MCP, answered as the usernames it showed or the error's
//! code and message.

use containarium::Code;
use containarium::proto;
use serde_json::{Value, json};

use super::{Rpc, Transport};
use crate::support::daemon::{TestDaemon, authed};

/// The outcome of one call: Ok(usernames shown) or the error code and message.
pub type Outcome = Result<Vec<String>, (Code, String)>;

pub async fn call(
    d: &TestDaemon,
    t: Transport,
    tok: &str,
    rpc: Rpc,
    id: &str,
    db: &str,
) -> Outcome {
    match t {
        Transport::Grpc => grpc(d, tok, rpc, id, db).await,
        Transport::Rest => rest(d, tok, rpc, id, db).await,
    }
}

fn conn(db: &str) -> proto::PgConnection {
    proto::PgConnection {
        database: db.into(),
        ..Default::default()
    }
}

fn users(records: &[proto::BackupRecord]) -> Vec<String> {
    records.iter().map(|r| r.username.clone()).collect()
}

/// Prune keeps one backup per group, as a dry run: an allowed call shows
/// alice's backups and deletes nothing, so every cell sees the same store.
fn prune_request() -> proto::PruneBackupsRequest {
    proto::PruneBackupsRequest {
        username: "alice".into(),
        keep_last: 1,
        dry_run: true,
        ..Default::default()
    }
}

async fn grpc(d: &TestDaemon, tok: &str, rpc: Rpc, id: &str, db: &str) -> Outcome {
    let mut c = d.grpc_client().await;
    let id = id.to_string();
    let r: Result<Vec<String>, tonic::Status> = match rpc {
        Rpc::Create => c
            .create_backup(authed(crate::local("alice", "app"), tok))
            .await
            .map(|r| users(&r.into_inner().records)),
        Rpc::List => c
            .list_backups(authed(proto::ListBackupsRequest::default(), tok))
            .await
            .map(|r| users(&r.into_inner().records)),
        Rpc::Get => c
            .get_backup(authed(proto::GetBackupRequest { id }, tok))
            .await
            .map(|_| vec![]),
        Rpc::Restore => c
            .restore_backup(authed(
                proto::RestoreBackupRequest {
                    id,
                    connection: Some(conn(db)),
                    ..Default::default()
                },
                tok,
            ))
            .await
            .map(|_| vec![]),
        Rpc::Verify => c
            .verify_backup(authed(
                proto::VerifyBackupRequest {
                    id,
                    target_username: "bob".into(),
                    connection: None,
                },
                tok,
            ))
            .await
            .map(|_| vec![]),
        Rpc::Delete => c
            .delete_backup(authed(proto::DeleteBackupRequest { id }, tok))
            .await
            .map(|_| vec![]),
        Rpc::Prune => c
            .prune_backups(authed(prune_request(), tok))
            .await
            .map(|r| {
                let r = r.into_inner();
                r.kept
                    .iter()
                    .chain(&r.removed)
                    .filter_map(|x| x.record.as_ref().map(|r| r.username.clone()))
                    .collect()
            }),
        Rpc::Check => c
            .check_backups(authed(
                proto::CheckBackupsRequest {
                    username: "alice".into(),
                    max_age: "26h".into(),
                    ..Default::default()
                },
                tok,
            ))
            .await
            .map(|r| {
                r.into_inner()
                    .statuses
                    .into_iter()
                    .map(|s| s.username)
                    .collect()
            }),
        Rpc::RebuildIndex => c
            .rebuild_index(authed(proto::RebuildIndexRequest::default(), tok))
            .await
            .map(|r| users(&r.into_inner().added)),
        Rpc::ListOperations => c
            .list_operations(authed(
                proto::ListOperationsRequest {
                    username: "alice".into(),
                },
                tok,
            ))
            .await
            .map(|r| {
                r.into_inner()
                    .operations
                    .into_iter()
                    .map(|o| o.username)
                    .collect()
            }),
    };
    r.map_err(|s| {
        (
            containarium::grpc::code_from_grpc(s.code()),
            s.message().to_string(),
        )
    })
}

/// The usernames a successful REST answer shows, whatever the RPC.
fn shown(v: &Value) -> Vec<String> {
    let from = |list: &str, key: &str| -> Vec<String> {
        v[list]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x[key].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = from("records", "username");
    for decisions in ["kept", "removed"] {
        out.extend(
            v[decisions]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["record"]["username"].as_str().map(str::to_string)),
        );
    }
    out.extend(from("statuses", "username"));
    out.extend(from("added", "username"));
    out.extend(from("operations", "username"));
    out
}

async fn rest(d: &TestDaemon, tok: &str, rpc: Rpc, id: &str, db: &str) -> Outcome {
    use reqwest::Method;
    let (method, path, body) = match rpc {
        Rpc::Create => (
            Method::POST,
            "/v1/backups".to_string(),
            Some(
                json!({"username": "alice", "connection": {"database": "app"}, "destination": "BACKUP_DESTINATION_LOCAL"}),
            ),
        ),
        Rpc::List => (Method::GET, "/v1/backups".into(), None),
        Rpc::Get => (Method::GET, format!("/v1/backups/{id}"), None),
        Rpc::Restore => (
            Method::POST,
            format!("/v1/backups/{id}/restore"),
            Some(json!({"connection": {"database": db}})),
        ),
        Rpc::Verify => (
            Method::POST,
            format!("/v1/backups/{id}/verify"),
            Some(json!({"targetUsername": "bob"})),
        ),
        Rpc::Delete => (Method::DELETE, format!("/v1/backups/{id}"), None),
        Rpc::Prune => (
            Method::POST,
            "/v1/backups:prune".into(),
            Some(json!({"username": "alice", "keepLast": 1, "dryRun": true})),
        ),
        Rpc::Check => (
            Method::GET,
            "/v1/backups:check?username=alice&maxAge=26h".into(),
            None,
        ),
        Rpc::RebuildIndex => (
            Method::POST,
            "/v1/backups:rebuildIndex".into(),
            Some(json!({})),
        ),
        Rpc::ListOperations => (Method::GET, "/v1/operations?username=alice".into(), None),
    };
    let mut req = reqwest::Client::new().request(method, d.url(&path));
    if !tok.is_empty() {
        req = req.bearer_auth(tok);
    }
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let v: Value = resp.json().await.unwrap();
    if status.is_success() {
        return Ok(shown(&v));
    }
    let grpc = tonic::Code::from(i32::try_from(v["code"].as_i64().unwrap()).unwrap());
    let code = containarium::grpc::code_from_grpc(grpc);
    assert_eq!(
        status,
        containarium::rest::http_status(code),
        "HTTP status matches the code: {v}"
    );
    Err((code, v["message"].as_str().unwrap().to_string()))
}

/// The code named at the start of an MCP tool error ("permission_denied: …").
pub fn mcp_code(text: &str) -> Code {
    let name = text.split(':').next().unwrap_or_default();
    match name {
        "not_found" => Code::NotFound,
        "invalid_argument" => Code::InvalidArgument,
        "permission_denied" => Code::PermissionDenied,
        "unauthenticated" => Code::Unauthenticated,
        "failed_precondition" => Code::FailedPrecondition,
        "unavailable" => Code::Unavailable,
        "unimplemented" => Code::Unimplemented,
        _ => Code::Internal,
    }
}

/// The MCP tool call of `rpc`, or `None` for an RPC that has no tool (prune,
/// check and index rebuilds are operator work, not an agent's).
pub fn mcp_call(rpc: Rpc, id: &str, db: &str) -> Option<Value> {
    let (tool, args) = match rpc {
        Rpc::Create => (
            "create_backup",
            json!({"username": "alice", "database": "app"}),
        ),
        Rpc::List => ("list_backups", json!({})),
        Rpc::Get => ("get_backup", json!({"id": id})),
        Rpc::Restore => ("restore_backup", json!({"id": id, "database": db})),
        Rpc::Verify => ("verify_backup", json!({"id": id, "target_username": "bob"})),
        Rpc::Delete => ("delete_backup", json!({"id": id})),
        Rpc::ListOperations => ("list_operations", json!({"username": "alice"})),
        Rpc::Prune | Rpc::Check | Rpc::RebuildIndex => return None,
    };
    Some(json!({"tool": tool, "args": args}))
}
