//! `catalog-sync` racing a delete: a sync that read a bucket sidecar just
//! before another request deleted that backup must not bring it back.

use containarium::proto::BackupDestination;

use crate::bucket::{expect, s3_world};
use crate::invariants::{self, audit_len};
use crate::support::emulators::Moto;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_cannot_resurrect_a_deleted_backup() {
    let moto = Moto::start();
    let mut w = s3_world(&moto, &moto.endpoint(), 0);
    w.extra = format!("catalog-sync = true\n{}", w.extra);
    // Another host writes a backup to the shared bucket.
    let other = w.dir.path().join("other-host");
    let r = w
        .daemon_at(&other, None)
        .backup(BackupDestination::S3)
        .await;

    let d = w.daemon(Some("during-sync:pause"));
    let since = audit_len(&w);
    let (listed, deleted) = tokio::join!(d.list(), async {
        // A list's sync holds the sidecar it read; a delete goes through.
        d.reached().await;
        let deleted = d.delete(&r.id).await;
        d.release();
        deleted
    });
    let deleted = deleted.unwrap();
    assert!(deleted.contains("deleted"), "{deleted}");
    assert!(
        listed.0.iter().all(|x| x.id != r.id),
        "the paused sync did not bring the deleted backup back: {listed:?}"
    );
    assert!(
        moto.objects("faults").is_empty(),
        "{:?}",
        moto.objects("faults")
    );
    drop(d);

    let d = w.daemon(None);
    let listed = invariants::check(&w, &d, &expect(&moto, "delete", since)).await;
    assert!(listed.records.is_empty(), "{listed:?}");
}
