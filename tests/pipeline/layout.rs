//! Sidecars written by existing Containarium daemons are read as they are.

use sha2::{Digest, Sha256};

use crate::support::{Harness, Tenant, fingerprint, none, restore_req, seed};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_existing_containarium_sidecar_is_listed_and_restorable() {
    let t = Tenant::start();
    t.create_db("shop");
    seed(&t, "shop", "legacy");
    let h = Harness::new(&[("alice", &t)]);

    // A dump made the old way, and its sidecar in the old daemon's layout.
    let id = "alice-shop-20250101T010203Z";
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &t.netns,
            "pg_dump",
            "-Fc",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "shop",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let dump = h.backup_dir().join(format!("{id}.dump"));
    std::fs::write(&dump, &out.stdout).unwrap();
    let sidecar = format!(
        r#"{{
  "id": "{id}",
  "username": "alice",
  "database": "shop",
  "created_at": "2025-01-01T01:02:03.456789Z",
  "size_bytes": {},
  "sha256": "{}",
  "destination": "local",
  "location": "{}",
  "engine": "postgres",
  "last_verification": null
}}"#,
        out.stdout.len(),
        hex::encode(Sha256::digest(&out.stdout)),
        dump.display()
    );
    std::fs::write(h.backup_dir().join(format!("{id}.meta.json")), sidecar).unwrap();
    // A corrupt neighbour must not hide it.
    std::fs::write(
        h.backup_dir().join("alice-x-20250101T000000Z.meta.json"),
        "{oops",
    )
    .unwrap();

    let listed = h.service.list(none(), None).await.unwrap();
    assert_eq!(listed.records.len(), 1);
    assert_eq!(listed.records[0].id, id);
    assert_eq!(listed.records[0].relation_count, None);
    assert_eq!(listed.problems.len(), 1);
    assert!(
        listed.problems[0]
            .file
            .ends_with("alice-x-20250101T000000Z.meta.json")
    );

    h.service
        .restore(none(), restore_req(id, "shop_copy"))
        .await
        .unwrap();
    assert_eq!(fingerprint(&t, "shop_copy"), fingerprint(&t, "shop"));
}
