//! The rules the OpenAPI document states, enforced by the real daemon over
//! REST and gRPC: a `username` filter no tenant can have is refused (from
//! an admin and from a tenant, before any scope rule), and a bucket URI is
//! taken exactly as written. Each refusal names its rule and changes
//! nothing; schemathesis (scripts/contract.sh) checks the same from outside.

use serde_json::{Value, json};
use tonic::Code;

use crate::support::daemon::{TestDaemon, authed};
use crate::support::{Tenant, config_for};
use containarium::proto;

/// A REST answer as (HTTP status, gRPC code, message).
async fn rest(req: reqwest::RequestBuilder, token: &str) -> (u16, i64, String) {
    let r = req.bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    (
        status,
        v["code"].as_i64().unwrap_or(0),
        v["message"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_username_no_tenant_can_have_is_refused_on_every_filter() {
    let t = Tenant::start();
    t.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&config_for(dir.path(), &[("alice", &t)])).await;
    let admin = d.admin();
    let alice = d.token("alice", &[], None);
    let kept = d.backup("alice", "app", &admin).await.id;
    let http = reqwest::Client::new();
    let why = "cannot form a safe backup id";

    for token in [&admin, &alice] {
        for bad in ["-x", "a..b", ".hidden", "a/b", "ünï", &"a".repeat(64)] {
            let q = |path: &str, extra: &str| {
                let mut url = reqwest::Url::parse(&d.url(path)).unwrap();
                url.query_pairs_mut().append_pair("username", bad);
                if !extra.is_empty() {
                    url.query_pairs_mut().append_pair("maxAge", extra);
                }
                http.get(url)
            };
            for (what, req) in [
                ("list", q("/v1/backups", "")),
                ("check", q("/v1/backups:check", "1d")),
                ("operations", q("/v1/operations", "")),
                (
                    "prune",
                    http.post(d.url("/v1/backups:prune")).body(
                        json!({"username": bad, "keepLast": 0, "keepWithin": "1h"}).to_string(),
                    ),
                ),
            ] {
                let (status, code, msg) = rest(req, token).await;
                assert_eq!((status, code), (400, 3), "{what} username={bad:?}: {msg}");
                assert!(
                    msg.contains("username") && msg.contains(why),
                    "{what} username={bad:?}: {msg}"
                );
            }

            let mut c = d.grpc_client().await;
            let e = c
                .list_backups(authed(
                    proto::ListBackupsRequest {
                        username: bad.into(),
                        ..Default::default()
                    },
                    token,
                ))
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
            assert!(e.message().contains(why), "{}", e.message());
            let e = c
                .prune_backups(authed(
                    proto::PruneBackupsRequest {
                        username: bad.into(),
                        keep_within: "1h".into(),
                        ..Default::default()
                    },
                    token,
                ))
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
            assert!(e.message().contains(why), "{}", e.message());
        }
    }
    // A well-formed name keeps its old answers: an admin's filter narrows,
    // a tenant's list is their own whatever it names.
    let mut url = reqwest::Url::parse(&d.url("/v1/backups")).unwrap();
    url.query_pairs_mut().append_pair("username", "bob");
    let (status, _, _) = rest(http.get(url.clone()), &alice).await;
    assert_eq!(status, 200);
    let v: Value = http
        .get(url)
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["records"][0]["id"], kept.as_str(), "{v}");
    // Nothing was pruned.
    let mut c = d.grpc_client().await;
    c.get_backup(authed(proto::GetBackupRequest { id: kept }, &admin))
        .await
        .expect("no refused prune removed the backup");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bucket_is_taken_as_written() {
    let t = Tenant::start();
    t.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&config_for(dir.path(), &[("alice", &t)])).await;
    let admin = d.admin();
    let http = reqwest::Client::new();
    // A blank bucket is a bucket named, not the default: refused for the
    // local destination, and unreadable as a URI for the rebuild.
    let (status, code, msg) = rest(
        http.post(d.url("/v1/backups")).body(
            json!({"username": "alice", "destination": "BACKUP_DESTINATION_LOCAL",
                   "connection": {"database": "app"}, "gcsBucket": " "})
            .to_string(),
        ),
        &admin,
    )
    .await;
    assert_eq!((status, code), (400, 3), "{msg}");
    assert!(msg.contains("for the local destination"), "{msg}");
    let (status, code, msg) = rest(
        http.post(d.url("/v1/backups:rebuildIndex"))
            .body(json!({"bucket": " gs://b"}).to_string()),
        &admin,
    )
    .await;
    assert_eq!((status, code), (400, 3), "{msg}");
    assert!(msg.contains("name the bucket to scan as gs://"), "{msg}");
    assert!(
        !dir.path().join("backups").exists()
            || std::fs::read_dir(dir.path().join("backups"))
                .unwrap()
                .filter_map(Result::ok)
                .all(|e| !e.file_name().to_string_lossy().ends_with(".dump")),
        "no dump was written"
    );
    d.stop().await;
}
