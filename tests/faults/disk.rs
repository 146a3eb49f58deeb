//! The disk fills up mid-dump: the backup directory is a small tmpfs, the
//! dump is larger than it.

use containarium::proto::BackupDestination;

use crate::invariants::{self, Expect};
use crate::support::disk::SmallDisk;
use crate::world::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_mid_dump() {
    let mut w = World::new();
    w.grow("bulk", 6);
    // No free-space floor: the dump starts and meets the full disk.
    w.extra = "[dump]\nmin-free-bytes = 0\n".into();
    let disk = SmallDisk::mount("3m");
    w.backup_dir = disk.path().join("backups");
    let d = w.daemon(None);
    let e = d
        .create(BackupDestination::Local)
        .await
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        e.message().contains("No space left on device"),
        "the full disk is the reason: {}",
        e.message()
    );
    drop(d);

    let d = w.daemon(None);
    let listed = invariants::check(&w, &d, &Expect::new("create", 0)).await;
    assert!(listed.records.is_empty(), "{listed:?}");
}
