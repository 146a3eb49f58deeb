//! `catalog-sync`: two daemons on different hosts share one bucket as their
//! catalog — each lists and restores the other's backups, and a delete on
//! one disappears from the other.

use containarium::catalog::Destination;
use containarium::proto;

use crate::support::daemon::{TestDaemon, authed};
use crate::support::{Tenant, config_for, fingerprint, seed};
use crate::{Bucket, create, restore};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_share_one_bucket_as_their_catalog() {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", "alice");
    let s3 = Bucket::start(Destination::S3, "shared");
    let start = async |dir: &std::path::Path| {
        let mut c = config_for(dir, &[("alice", &t)]);
        s3.configure(&mut c, "s3://shared/fleet", &[]);
        c.catalog_sync = true;
        TestDaemon::start(&c).await
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (start(dir_a.path()).await, start(dir_b.path()).await);
    let (mut ca, mut cb) = (a.grpc_client().await, b.grpc_client().await);
    let tok_a = a.token("alice", &[], None);
    let tok_b = b.token("alice", &[], None);

    let made = ca
        .create_backup(authed(
            create("alice", "app", proto::BackupDestination::S3, ""),
            &tok_a,
        ))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    // B never saw the create, yet lists, gets and restores it.
    let listed = cb
        .list_backups(authed(proto::ListBackupsRequest::default(), &tok_b))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.records, vec![made.clone()]);
    let got = cb
        .get_backup(authed(
            proto::GetBackupRequest {
                id: made.id.clone(),
            },
            &tok_b,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.record.unwrap(), made);
    cb.restore_backup(authed(restore(&made.id, "from_b"), &tok_b))
        .await
        .unwrap();
    assert_eq!(fingerprint(&t, "from_b"), fingerprint(&t, "app"));

    // B deletes it; A's next read no longer has it.
    cb.delete_backup(authed(
        proto::DeleteBackupRequest {
            id: made.id.clone(),
        },
        &tok_b,
    ))
    .await
    .unwrap();
    let after = ca
        .list_backups(authed(proto::ListBackupsRequest::default(), &tok_a))
        .await
        .unwrap()
        .into_inner();
    assert!(after.records.is_empty(), "{after:?}");
    let e = ca
        .get_backup(authed(
            proto::GetBackupRequest {
                id: made.id.clone(),
            },
            &tok_a,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert!(
        s3.objects("shared").is_empty(),
        "{:?}",
        s3.objects("shared")
    );
    a.stop().await;
    b.stop().await;
}
