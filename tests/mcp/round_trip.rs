//! Create (one database and all), list, get, restore and delete through the
//! Python SDK, against a tenant whose Postgres needs a password.

use containarium::api::Api;
use containarium::auth::Credentials;
use containarium::proto;
use serde_json::{Value, json};

use crate::fixture::{Daemon, err, logs, ok, text};
use crate::support::{Tenant, fingerprint, seed};

const PW: &str = "mcp-Pa55w0rd-Ünïcødé";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backups_round_trip_through_a_real_mcp_client() {
    let t = Tenant::start_with_password(PW);
    t.create_db("app");
    seed(&t, "app", "alice");
    t.create_db("extra");
    t.psql("extra", "CREATE TABLE e(x int); INSERT INTO e VALUES (7)");
    let d = Daemon::start(&[("alice", &t)]).await;
    let alice = d.token("alice", false, None);
    let mut seen = Vec::new();

    let r = d
        .calls(
            Some(&alice),
            json!([
                {"tool": "create_backup", "args": {"username": "alice", "database": "app", "db_password": PW}},
                {"tool": "create_backup", "args": {"username": "alice", "dest": "local", "db_password": PW}},
                {"tool": "list_backups", "args": {}},
            ]),
        )
        .await;
    seen.extend(r.iter().cloned());

    // One database: `record` is set, and it is exactly the proto3 JSON the
    // Api (and so REST) gives for the same backup.
    let single = ok(&r[0]);
    let record = &single["record"];
    let id = record["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("alice-app-"), "{single}");
    assert_eq!(single["records"], json!([record]));
    assert_eq!(single["failures"], json!([]));
    assert_eq!(record["destination"], "BACKUP_DESTINATION_LOCAL");
    assert_eq!(record["engine"], "BACKUP_ENGINE_POSTGRES");
    assert_eq!(record["relationCount"], "5");
    assert!(
        record["sizeBytes"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert_eq!(record["sha256"].as_str().unwrap().len(), 64);
    assert!(
        text(&r[0]).contains(&format!("backup {id} created")),
        "{}",
        text(&r[0])
    );
    // The same record as the in-process API shows it to the same tenant.
    let as_alice = Credentials::Bearer(alice.clone());
    let via_api = d
        .service
        .get_backup(&as_alice, proto::GetBackupRequest { id: id.clone() })
        .await
        .unwrap();
    assert_eq!(*record, serde_json::to_value(via_api).unwrap()["record"]);

    // All databases: no single `record`, every committed one in `records`.
    let all = ok(&r[1]);
    assert_eq!(all["record"], Value::Null, "{all}");
    let mut dbs: Vec<&str> = all["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["database"].as_str().unwrap())
        .collect();
    dbs.sort_unstable();
    // The globals (the tenant's roles) have no database.
    assert_eq!(dbs, ["", "app", "extra", "postgres"]);
    assert_eq!(all["failures"], json!([]));
    assert!(
        text(&r[1]).starts_with("4 backups created"),
        "{}",
        text(&r[1])
    );

    let listed = ok(&r[2])["records"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 5, "{listed:?}");
    assert!(listed.iter().any(|r| r["id"] == id.as_str()));
    let created: Vec<&str> = listed
        .iter()
        .map(|r| r["createdAt"].as_str().unwrap())
        .collect();
    assert!(
        created.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {created:?}"
    );
    assert!(text(&r[2]).starts_with("5 backups"), "{}", text(&r[2]));
    let extra_id = all["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["database"] == "extra")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let r = d
        .calls(
            Some(&alice),
            json!([
                {"tool": "get_backup", "args": {"id": id}},
                {"tool": "restore_backup", "args": {"id": id, "database": "copy", "db_password": PW}},
                {"tool": "restore_backup", "args": {"id": extra_id, "database": "extra_copy",
                    "no_owner": true, "jobs": 2, "db_password": PW}},
            ]),
        )
        .await;
    seen.extend(r.iter().cloned());
    assert_eq!(ok(&r[0])["record"], *record);
    assert!(text(&r[0]).contains(record["sha256"].as_str().unwrap()));
    assert!(text(&r[1]).contains("restored"), "{}", text(&r[1]));
    assert_eq!(ok(&r[1])["message"], text(&r[1]));
    ok(&r[2]);
    assert_eq!(fingerprint(&t, "copy"), fingerprint(&t, "app"));
    assert_eq!(t.psql("extra_copy", "SELECT x FROM e"), "7");

    // `clean` replaces what the target holds.
    t.psql("copy", "DELETE FROM people WHERE id > 10");
    let r = d
        .call(
            Some(&alice),
            "restore_backup",
            json!({"id": id, "database": "copy", "clean": true, "db_password": PW}),
        )
        .await;
    seen.push(r.clone());
    ok(&r);
    assert_eq!(fingerprint(&t, "copy"), fingerprint(&t, "app"));

    let wrong = format!("{PW}-wrong");
    let r = d
        .calls(
            Some(&alice),
            json!([
                {"tool": "create_backup", "args": {"username": "alice", "database": "app", "db_password": wrong}},
                {"tool": "delete_backup", "args": {"id": id}},
                {"tool": "get_backup", "args": {"id": id}},
                {"tool": "list_backups", "args": {"username": "alice"}},
                {"tool": "list_backups", "args": {"username": "alice", "page_size": 2}},
                {"tool": "list_backups", "args": {"page_size": 5000}},
            ]),
        )
        .await;
    seen.extend(r.iter().cloned());
    assert!(!err(&r[0]).is_empty());
    assert!(text(&r[1]).contains("deleted"), "{}", text(&r[1]));
    assert_eq!(err(&r[2]), format!("not_found: backup {id} not found"));
    assert_eq!(r[2]["structuredContent"]["code"], "not_found");
    assert_eq!(ok(&r[3])["records"].as_array().unwrap().len(), 4);
    // Paging arguments reach the service: a page of 2 and its token.
    let page = ok(&r[4]);
    let all: Vec<&Value> = ok(&r[3])["records"].as_array().unwrap().iter().collect();
    let firsts: Vec<&Value> = page["records"].as_array().unwrap().iter().collect();
    assert_eq!(firsts, all[..2], "the first page is the newest two");
    let token = page["nextPageToken"].as_str().unwrap();
    assert!(!token.is_empty(), "{page}");
    assert!(
        text(&r[4]).contains(&format!("next page token: {token}")),
        "{}",
        text(&r[4])
    );
    assert!(
        err(&r[5]).starts_with("invalid_argument: page_size 5000 is out of range"),
        "{}",
        err(&r[5])
    );

    // The password went where it was needed and nowhere else.
    let results = serde_json::to_string(&seen).unwrap();
    assert!(!results.contains(PW), "a result echoes the password");
    let audit = std::fs::read_to_string(&d.audit_log).unwrap();
    assert!(audit.lines().count() >= 5, "{audit}");
    assert!(!audit.contains(PW), "the audit log holds the password");
    let logs = logs();
    assert!(
        logs.contains("backup committed"),
        "logs were captured: {logs}"
    );
    assert!(!logs.contains(PW), "a log line holds the password");
}
