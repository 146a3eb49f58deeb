//! A newer daemon must not break an older CLI: answers carrying fields this
//! CLI has never heard of are decoded, the extra fields skipped. The newer
//! daemon is played by a small HTTP server, since the real one speaks only
//! today's contract.

use serde_json::json;

use super::Cli;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_client_ignores_fields_a_newer_daemon_adds() {
    let record = json!({
        "id": "alice-app-20260605T130405Z", "username": "alice", "database": "app",
        "createdAt": "2026-06-05T13:04:07Z", "sizeBytes": "41231", "sha256": "9f2c",
        "destination": "BACKUP_DESTINATION_LOCAL", "location": "/b/x.dump",
        "engine": "BACKUP_ENGINE_POSTGRES", "lastVerification": null,
        "replication": {"codec": "zstd", "level": 3}, "tags": ["nightly"]
    });
    let body = json!({"records": [record], "warnings": [], "shardHint": "abc"});
    let app = axum::Router::new().route(
        "/v1/backups",
        axum::routing::get(move || async move { axum::Json(body) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let cli = Cli::at(server, true, Some("t".into()));
    let listed = cli.json(&["list"]).await;
    assert_eq!(listed["records"][0]["id"], "alice-app-20260605T130405Z");
    assert_eq!(listed["records"][0]["sizeBytes"], "41231");
    assert!(listed["records"][0].get("tags").is_none(), "{listed}");
    let table = cli.ok(&["list"]).await;
    assert!(table.contains("alice-app-20260605T130405Z"), "{table}");
}
