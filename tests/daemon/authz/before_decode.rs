//! Authentication comes before the request is read, on every surface: a
//! body the server cannot decode, sent without valid credentials, answers
//! Unauthenticated (and without the RPC's scope, PermissionDenied) — never
//! the validation error that would teach an anonymous caller the format.
//! Sent from outside, as raw bytes, so no client library tidies them up.

use containarium::rest::routes::{Method, ROUTES};
use serde_json::Value;

use crate::support::daemon::TestDaemon;
use crate::support::{Tenant, config_for};

/// A gRPC frame (uncompressed, 3 bytes) holding no valid protobuf: a
/// truncated varint.
const GARBAGE: [u8; 8] = [0, 0, 0, 0, 3, 0xff, 0xff, 0xff];

/// Who sends the garbage: the token, and what must come back for an RPC
/// (its proto name) — `None` when the caller is admitted, so the body is
/// decoded and refused as undecodable.
type Caller = (
    &'static str,
    fn(&TestDaemon) -> String,
    fn(&str) -> Option<i32>,
);

fn callers() -> [Caller; 5] {
    [
        ("no token", |_| String::new(), |_| Some(16)),
        ("not a JWT", |_| "garbage".into(), |_| Some(16)),
        (
            "expired",
            |d| {
                let mut c = TestDaemon::claims("root", &["admin"], Some(&["*"]));
                c.exp -= 7200;
                c.nbf -= 7200;
                c.iat -= 7200;
                d.keys.mint(&c).unwrap()
            },
            |_| Some(16),
        ),
        (
            "read-only",
            |d| d.token("alice", &[], Some(&["backups:read"])),
            read_only,
        ),
        ("admin", TestDaemon::admin, |_| None),
    ]
}

/// A read-only tenant token: PermissionDenied for writes and admin work.
fn read_only(rpc: &str) -> Option<i32> {
    matches!(
        rpc,
        "CreateBackup"
            | "RestoreBackup"
            | "VerifyBackup"
            | "DeleteBackup"
            | "PruneBackups"
            | "RebuildIndex"
    )
    .then_some(7)
}

async fn daemon() -> (Tenant, tempfile::TempDir, TestDaemon) {
    let t = Tenant::start();
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&config_for(dir.path(), &[("alice", &t)])).await;
    (t, dir, d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_authenticates_before_decoding_the_message() {
    let (_t, _dir, d) = daemon().await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut cells = 0;
    for (who, token, want) in callers() {
        let tok = token(&d);
        for route in ROUTES {
            let cell = format!("gRPC × {who} × {}", route.rpc);
            let mut req = client
                .post(format!(
                    "http://{}/containarium.v1.BackupService/{}",
                    d.grpc, route.rpc
                ))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(GARBAGE.to_vec());
            if !tok.is_empty() {
                req = req.bearer_auth(&tok);
            }
            let resp = req.send().await.unwrap();
            let header = |k: &str| {
                resp.headers()
                    .get(k)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default()
            };
            let (status, message) = (header("grpc-status"), header("grpc-message"));
            let message = message.replace("%20", " ");
            match want(route.rpc) {
                Some(16) => {
                    assert_eq!(status, "16", "{cell}: {message}");
                    assert!(message.contains("token"), "{cell}: {message}");
                }
                Some(7) => {
                    assert_eq!(status, "7", "{cell}: {message}");
                    assert!(
                        message.contains("scope") || message.contains("admin"),
                        "{cell}: {message}"
                    );
                }
                Some(other) => unreachable!("{other}"),
                // Admitted: only now is the body read, and it does not decode.
                None => {
                    assert!(
                        status != "16" && status != "7" && status != "0",
                        "{cell}: {status} {message}"
                    );
                    assert!(message.contains("decod"), "{cell}: {status} {message}");
                }
            }
            cells += 1;
        }
    }
    assert_eq!(cells, callers().len() * ROUTES.len());
    d.stop().await;
}

/// Every REST route, sent a body (or query) it cannot read: without a token
/// 401 with the error shape, on every route from the route table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_and_mcp_answer_401_before_reading_a_malformed_request() {
    let (_t, _dir, d) = daemon().await;
    let client = reqwest::Client::new();
    for route in ROUTES {
        let path = route.path.replace("{id}", "not%20an%20id");
        let req = match route.method {
            Method::Get => client.get(d.url(&format!("{path}?noSuchField=1"))),
            Method::Delete => client.delete(d.url(&format!("{path}?noSuchField=1"))),
            Method::Post => client.post(d.url(&path)).body("{not json"),
        };
        let resp = req.send().await.unwrap();
        let cell = format!("REST × {} {}", route.method.lower(), route.path);
        assert_eq!(resp.status(), 401, "{cell}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["code"], 16, "{cell}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains("bearer token"),
            "{cell}: {v}"
        );
    }
    let resp = client
        .post(d.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body("{\"jsonrpc\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "MCP, malformed JSON-RPC");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], 16, "{v}");
    d.stop().await;
}
