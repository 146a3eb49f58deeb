//! The MCP surface driven by a real client (the Python `mcp` SDK over
//! streamable HTTP) against a real `BackupService` with JWT auth and real
//! tenant Postgres clusters.

#[path = "../support/mod.rs"]
mod support;

mod access;
mod fixture;
mod round_trip;
mod stdio;

use std::collections::BTreeSet;

use serde_json::{Value, json};

use fixture::{Daemon, err};

/// `(tool, properties, required)` as the wire contract names them.
const TOOLS: &[(&str, &[&str], &[&str])] = &[
    (
        "create_backup",
        &[
            "username",
            "database",
            "dest",
            "gcs_bucket",
            "db_user",
            "db_password",
            "db_host",
            "db_port",
        ],
        &["username"],
    ),
    (
        "list_backups",
        &["username", "page_size", "page_token"],
        &[],
    ),
    ("get_backup", &["id"], &["id"]),
    (
        "restore_backup",
        &[
            "id",
            "database",
            "clean",
            "jobs",
            "no_owner",
            "globals",
            "db_user",
            "db_password",
        ],
        &["id"],
    ),
    (
        "verify_backup",
        &["id", "target_username", "db_user", "db_password"],
        &["id", "target_username"],
    ),
    ("delete_backup", &["id"], &["id"]),
    ("list_operations", &["username"], &[]),
];

fn names(v: &Value) -> BTreeSet<String> {
    match v {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
        _ => BTreeSet::new(),
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// A property's schema, following a local `$ref`.
fn property<'a>(schema: &'a Value, name: &str) -> &'a Value {
    let p = &schema["properties"][name];
    match p["$ref"].as_str() {
        Some(r) => schema
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling {r} in {schema}")),
        None => p,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tools_are_listed_with_the_contracts_arguments() {
    let d = Daemon::start(&[]).await;
    let token = d.token("alice", false, None);
    let out = d
        .session(Some(&token), "auto", json!([{"list_tools": true}]))
        .await;
    let tools = out["results"][0]["tools"].as_array().unwrap().clone();
    let listed: BTreeSet<String> = tools
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        listed,
        TOOLS.iter().map(|t| t.0.to_string()).collect(),
        "{tools:?}"
    );
    for (name, props, required) in TOOLS {
        let tool = tools.iter().find(|t| t["name"] == *name).unwrap();
        let schema = &tool["inputSchema"];
        assert_eq!(schema["type"], "object", "{name}: {schema}");
        assert_eq!(names(&schema["properties"]), set(props), "{name}: {schema}");
        assert_eq!(
            names(&schema["required"]),
            set(required),
            "{name}: {schema}"
        );
        assert_eq!(schema["additionalProperties"], false, "{name}: {schema}");
        assert!(
            tool["description"].as_str().is_some_and(|d| d.len() > 20),
            "{tool}"
        );
    }
    let create = &tools.iter().find(|t| t["name"] == "create_backup").unwrap()["inputSchema"];
    assert_eq!(
        property(create, "dest")["enum"],
        json!(["local", "gcs", "s3"]),
        "{create}"
    );
    let read_only = |n: &str| {
        tools.iter().find(|t| t["name"] == n).unwrap()["annotations"]["readOnlyHint"] == true
    };
    assert!(read_only("list_backups") && read_only("get_backup") && read_only("list_operations"));
    assert!(!read_only("delete_backup"));

    // A client that only speaks the initialize handshake sees the same tools.
    let legacy = d
        .session(Some(&token), "legacy", json!([{"list_tools": true}]))
        .await;
    assert_eq!(legacy["results"][0]["tools"], json!(tools));
    assert_ne!(legacy["protocol_version"], out["protocol_version"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_without_a_valid_token_is_unauthenticated() {
    let d = Daemon::start_ungated(&[]).await;
    let r = d.call(None, "list_backups", json!({})).await;
    assert!(err(&r).starts_with("unauthenticated: "), "{r}");
    assert_eq!(r["structuredContent"]["code"], "unauthenticated");
    let r = d.call(Some("not-a-jwt"), "list_backups", json!({})).await;
    assert!(err(&r).starts_with("unauthenticated: invalid token"), "{r}");
}
