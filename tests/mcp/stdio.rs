//! `containarium mcp`: the same tools over stdio, each call forwarded with
//! the one token given at start.

use std::sync::Arc;

use containarium::api::Api;
use containarium::auth::Credentials;
use containarium::mcp::Tools;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::fixture::{Daemon, run_client};

const PW: &str = "stdio-Pa55w0rd-never-logged";

/// The real binary, launched by the Python SDK's stdio client, aimed at a
/// daemon that is not there: the tools are listed as over HTTP, and a call
/// fails as `unavailable` without the password or the token in any output,
/// even with every log level on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_binary_serves_the_tools_over_stdio() {
    let d = Daemon::start(&[]).await;
    let token = d.token("alice", false, None);
    let over_http = d
        .session(Some(&token), "auto", json!([{"list_tools": true}]))
        .await;

    let home = tempfile::tempdir().unwrap();
    let token_file = home.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    for http in [false, true] {
        let mut target = vec![
            "--".to_string(),
            env!("CARGO_BIN_EXE_containarium").to_string(),
            "mcp".into(),
            "--server".into(),
            "http://127.0.0.1:1".into(),
            "--token-file".into(),
            token_file.display().to_string(),
        ];
        if http {
            target.push("--http".into());
        }
        let job = json!({
            "mode": "auto",
            "env": {"RUST_LOG": "trace", "XDG_CONFIG_HOME": home.path()},
            "calls": [
                {"list_tools": true},
                {"tool": "create_backup", "args": {"username": "alice", "database": "app", "db_password": PW}},
                {"tool": "list_backups", "args": {}},
            ],
        });
        let (out, stderr) = run_client(&target, &job).await;
        let r = out["results"].as_array().unwrap();
        assert_eq!(r[0]["tools"], over_http["results"][0]["tools"]);
        for failed in &r[1..] {
            assert_eq!(failed["isError"], true, "{failed}");
            let text = failed["content"][0]["text"].as_str().unwrap();
            assert!(text.starts_with("unavailable: "), "http={http}: {text}");
        }
        assert!(
            stderr.contains("TRACE"),
            "the binary's logs were on: {stderr}"
        );
        let everything = format!("{out}{stderr}");
        assert!(
            !everything.contains(PW),
            "the password leaked (http={http})"
        );
        assert!(
            !everything.contains(&token),
            "the token leaked (http={http})"
        );
    }
}

async fn call(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    tool: &'static str,
    args: Value,
) -> Value {
    let Value::Object(args) = args else {
        unreachable!("arguments are an object")
    };
    let r = client
        .call_tool(CallToolRequestParams::new(tool).with_arguments(args))
        .await
        .unwrap();
    serde_json::to_value(r).unwrap()
}

/// Over a stream transport the fixed credential is the caller; without
/// one there is no caller at all (no HTTP request to take a header from).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_transport_acts_with_the_fixed_credential_only() {
    let d = Daemon::start(&[]).await;
    let api: Arc<dyn Api> = Arc::new(d.service.clone());
    let reader = Credentials::Bearer(d.token("alice", false, Some(&["backups:read"])));
    for (tools, expect_list, expect_create) in [
        (
            Tools::with_credentials(api.clone(), reader),
            None,
            "permission_denied: this token lacks the backups:write scope",
        ),
        (
            Tools::new(api.clone()),
            Some("unauthenticated: missing bearer token"),
            "unauthenticated: missing bearer token",
        ),
    ] {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let running = tools.serve(theirs).await.unwrap();
            running.waiting().await.unwrap();
        });
        let client = ().serve(ours).await.unwrap();
        let list = call(&client, "list_backups", json!({})).await;
        match expect_list {
            None => assert_eq!(
                list["structuredContent"],
                json!({"records": [], "warnings": [], "nextPageToken": ""}),
                "{list}"
            ),
            Some(e) => assert!(
                list["content"][0]["text"].as_str().unwrap().starts_with(e),
                "{list}"
            ),
        }
        let create = call(
            &client,
            "create_backup",
            json!({"username": "alice", "database": "app"}),
        )
        .await;
        assert_eq!(create["isError"], true, "{create}");
        let text = create["content"][0]["text"].as_str().unwrap();
        assert!(text.starts_with(expect_create), "{text}");
        client.cancel().await.unwrap();
        server.await.unwrap();
    }
}

/// The real binary forwarding to a real daemon (gRPC, then REST with
/// `--http`): a create through the stdio tools makes a real dump on the
/// daemon's disk, and the list through the same tools shows it — as the
/// token's tenant sees it (a file name, not the host path).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_binary_forwards_a_create_and_a_list_to_a_real_daemon() {
    use crate::support::daemon::TestDaemon;

    let t = crate::support::Tenant::start();
    t.create_db("app");
    t.psql("app", "CREATE TABLE x AS SELECT 1 AS i");
    let dir = tempfile::tempdir().unwrap();
    let config = crate::support::config_for(dir.path(), &[("alice", &t)]);
    let d = TestDaemon::start(&config).await;
    let token = d.token("alice", &[], None);
    let home = tempfile::tempdir().unwrap();
    let token_file = home.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();

    let mut created = Vec::new();
    for (server, http) in [(d.grpc, false), (d.http, true)] {
        let mut target = vec![
            "--".to_string(),
            env!("CARGO_BIN_EXE_containarium").to_string(),
            "mcp".into(),
            "--server".into(),
            format!("http://{server}"),
            "--token-file".into(),
            token_file.display().to_string(),
        ];
        if http {
            target.push("--http".into());
        }
        let job = json!({
            "mode": "auto",
            "env": {"XDG_CONFIG_HOME": home.path()},
            "calls": [
                {"tool": "create_backup", "args": {"username": "alice", "database": "app", "db_password": PW}},
                {"tool": "list_backups", "args": {}},
            ],
        });
        let (out, stderr) = run_client(&target, &job).await;
        let r = out["results"].as_array().unwrap();
        let create = crate::fixture::ok(&r[0]);
        let record = &create["records"][0];
        let id = record["id"].as_str().unwrap().to_string();
        assert!(id.starts_with("alice-app-"), "http={http}: {create}");
        assert_eq!(record["location"], format!("{id}.dump"), "{create}");
        let dump = config.backup_dir.join(format!("{id}.dump"));
        assert!(
            std::fs::metadata(&dump).unwrap().len() > 0,
            "the daemon wrote {}",
            dump.display()
        );
        created.push(id);
        let listed: Vec<&str> = crate::fixture::ok(&r[1])["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        let mut want: Vec<&str> = created.iter().map(String::as_str).collect();
        want.reverse();
        assert_eq!(
            listed, want,
            "http={http}: newest first, every create so far"
        );
        let everything = format!("{out}{stderr}");
        assert!(
            !everything.contains(PW),
            "the password leaked (http={http})"
        );
        assert!(
            !everything.contains(&token),
            "the token leaked (http={http})"
        );
    }
    d.stop().await;
}
