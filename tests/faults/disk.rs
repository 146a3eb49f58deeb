//! The disk fills up mid-dump: the backup directory is a small tmpfs, the
//! dump is larger than it.

use std::process::Command;

use containarium::proto::BackupDestination;

use crate::invariants::{self, Expect};
use crate::world::World;

/// A tmpfs mounted for the test; unmounted on drop.
struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(at: &std::path::Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .unwrap();
        assert!(
            ok.success(),
            "mounting a tmpfs at {} (needs root)",
            at.display()
        );
        Self(at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_mid_dump() {
    let mut w = World::new();
    w.grow("bulk", 6);
    // No free-space floor: the dump starts and meets the full disk.
    w.extra = "[dump]\nmin-free-bytes = 0\n".into();
    let _mount = Mount::tmpfs(&w.backup_dir, "3m");
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
