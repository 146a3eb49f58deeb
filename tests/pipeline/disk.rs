//! A full backup disk: the free-space floor refuses a dump before it starts,
//! and ENOSPC in the middle of one fails that dump alone (nothing partial,
//! the catalog and the audit log intact, earlier backups still restore).

use containarium::Code;

use crate::stages::grow_and_back_up;
use crate::support::disk::SmallDisk;
use crate::support::{
    Harness, Tenant, config_for, create_req, fingerprint, none, restore_req, seed,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dump_that_fills_the_disk_fails_alone_and_leaves_nothing_partial() {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", "alice");
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path(), &[("alice", &t)]);
    let disk = SmallDisk::mount("3m");
    config.backup_dir = disk.path();
    config.dump.min_free_bytes = Some(0);
    let h = Harness::with_config(dir, config);
    let earlier = h.backup("alice", "app").await;
    let files = h.backup_files();

    // Incompressible rows well past what the disk holds.
    let e = grow_and_back_up(&h, &t, 1000).await;
    assert!(
        e.message.contains("No space left on device"),
        "{}",
        e.message
    );
    assert_eq!(h.backup_files(), files, "nothing partial left");

    // The daemon keeps serving; the earlier backup restores.
    assert_eq!(h.service.list(none(), None).await.unwrap().records.len(), 1);
    t.psql("app", "DROP TABLE blob");
    h.service
        .restore(none(), restore_req(&earlier.id, "copy"))
        .await
        .unwrap();
    assert_eq!(fingerprint(&t, "copy"), fingerprint(&t, "app"));
    let audit = std::fs::read_to_string(h.backup_dir().join("audit.jsonl")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"action\":\"create\"") && l.contains("No space left")),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn below_the_free_space_floor_no_dump_starts() {
    let t = Tenant::start();
    t.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path(), &[("alice", &t)]);
    let disk = SmallDisk::mount("4m");
    config.backup_dir = disk.path();
    config.dump.min_free_bytes = Some(64 * 1024 * 1024);
    let h = Harness::with_config(dir, config);
    let e = h
        .service
        .create(none(), create_req("alice", "app"))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::FailedPrecondition);
    assert!(
        e.message.contains("min-free-bytes = 67108864"),
        "{}",
        e.message
    );
    assert!(h.backup_files().is_empty(), "{:?}", h.backup_files());
    let audit = std::fs::read_to_string(h.backup_dir().join("audit.jsonl")).unwrap();
    assert!(audit.contains("min-free-bytes"), "{audit}");
}
