//! Scopes and tenancy reach MCP callers exactly as the service decides them:
//! a read-only token cannot write, and another tenant's backup is not there.

use serde_json::json;

use crate::fixture::{Daemon, err, ok};
use crate::support::Tenant;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scopes_and_tenancy_hold_for_mcp_callers() {
    let (a, b) = (Tenant::start(), Tenant::start());
    a.create_db("app");
    b.create_db("app");
    let d = Daemon::start(&[("alice", &a), ("bob", &b)]).await;
    let alice = d.token("alice", false, None);
    let reader = d.token("alice", false, Some(&["backups:read"]));
    let bob = d.token("bob", false, Some(&["*"]));
    let root = d.token("root", true, None);

    let create = |user: &str| json!({"tool": "create_backup", "args": {"username": user, "database": "app"}});
    let r = d.calls(Some(&alice), json!([create("alice")])).await;
    let id = ok(&r[0])["record"]["id"].as_str().unwrap().to_string();
    let r = d
        .calls(Some(&bob), json!([create("bob"), create("alice")]))
        .await;
    ok(&r[0]);
    assert!(err(&r[1]).starts_with("permission_denied: "), "{}", r[1]);

    // Read-only: reads work, writes are refused with the missing scope named.
    let r = d
        .calls(
            Some(&reader),
            json!([
                create("alice"),
                {"tool": "delete_backup", "args": {"id": id}},
                {"tool": "list_backups", "args": {}},
                {"tool": "get_backup", "args": {"id": id}},
            ]),
        )
        .await;
    for denied in &r[..2] {
        let text = err(denied);
        assert!(text.starts_with("permission_denied: "), "{text}");
        assert!(text.contains("backups:write"), "{text}");
    }
    assert_eq!(ok(&r[2])["records"].as_array().unwrap().len(), 1);
    assert_eq!(ok(&r[3])["record"]["id"], id.as_str());

    // Another tenant's id answers exactly as an id that does not exist.
    let missing = "alice-app-20200101T000000Z";
    let r = d
        .calls(
            Some(&bob),
            json!([
                {"tool": "get_backup", "args": {"id": id}},
                {"tool": "get_backup", "args": {"id": missing}},
                {"tool": "delete_backup", "args": {"id": id}},
                {"tool": "restore_backup", "args": {"id": id}},
                {"tool": "list_backups", "args": {"username": "alice"}},
            ]),
        )
        .await;
    for (theirs, verb) in [(&r[0], "get"), (&r[2], "delete"), (&r[3], "restore")] {
        assert_eq!(
            err(theirs),
            err(&r[1]).replace(missing, &id),
            "{verb} of another tenant's backup"
        );
    }
    let listed = ok(&r[4])["records"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        listed[0]["username"], "bob",
        "a non-admin's list is their own"
    );

    // Nothing was deleted, and an admin sees every tenant. Arguments outside
    // the contract are refused before any tool runs.
    let r = d
        .calls(
            Some(&root),
            json!([
                {"tool": "list_backups", "args": {}},
                {"tool": "delete_backup", "args": {"id": id, "force": true}},
                {"tool": "list_backups", "args": {}},
            ]),
        )
        .await;
    let mut owners: Vec<&str> = ok(&r[0])["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["username"].as_str().unwrap())
        .collect();
    owners.sort_unstable();
    assert_eq!(owners, ["alice", "bob"]);
    assert!(err(&r[1]).contains("unknown field `force`"), "{}", r[1]);
    assert_eq!(ok(&r[2])["records"], ok(&r[0])["records"]);
}
