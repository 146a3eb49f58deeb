//! The confused-deputy guard: the daemon writes with its own credentials, so
//! only buckets from its config may be used; anything else is refused before
//! a byte is written. Unconfigured destinations say what is missing.

use containarium::catalog::Destination;
use containarium::proto;
use tonic::Code;

use crate::support::daemon::{TestDaemon, authed};
use crate::support::{Tenant, config_for};
use crate::{Bucket, backup_files, create};

async fn refuses_unlisted_buckets(d: Destination) {
    let t = Tenant::start();
    t.create_db("app");
    let bucket = Bucket::start(d, "backups");
    bucket.create_bucket("elsewhere");
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path(), &[("alice", &t)]);
    let sch = bucket.scheme();
    bucket.configure(&mut config, &format!("{sch}://backups"), &["archive"]);
    let daemon = TestDaemon::start(&config).await;
    let mut c = daemon.grpc_client().await;
    let admin = daemon.admin();

    for (named, code, says) in [
        (
            format!("{sch}://elsewhere/x"),
            Code::PermissionDenied,
            "not allowed",
        ),
        (
            "elsewhere".to_string(),
            Code::PermissionDenied,
            "not allowed",
        ),
        (
            format!("{sch}://elsewhere"),
            Code::PermissionDenied,
            "allowed",
        ),
        (
            format!("{}://backups/x", if sch == "gs" { "s3" } else { "gs" }),
            Code::InvalidArgument,
            "destination",
        ),
        (format!("{sch}://backups/../x"), Code::InvalidArgument, ".."),
    ] {
        let e = c
            .create_backup(authed(
                create("alice", "app", bucket.proto(), &named),
                &admin,
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{named}: {}", e.message());
        assert!(e.message().contains(says), "{named}: {}", e.message());
    }
    // A non-admin's rebuild and an unlisted rebuild are refused too.
    let e = c
        .rebuild_index(authed(
            proto::RebuildIndexRequest::default(),
            &daemon.token("alice", &[], None),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{}", e.message());
    let e = c
        .rebuild_index(authed(
            proto::RebuildIndexRequest {
                bucket: format!("{sch}://elsewhere"),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{}", e.message());

    assert!(bucket.objects("elsewhere").is_empty(), "nothing written");
    assert!(bucket.objects("backups").is_empty(), "nothing written");
    assert!(backup_files(&config.backup_dir).is_empty(), "no record");
    let audit = std::fs::read_to_string(config.backup_dir.join("audit.jsonl")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"index_rebuild\"") && l.contains("denied")),
        "{audit}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gcs_bucket_outside_the_allow_list_is_refused() {
    refuses_unlisted_buckets(Destination::Gcs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_bucket_outside_the_allow_list_is_refused() {
    refuses_unlisted_buckets(Destination::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unconfigured_destinations_are_named_and_local_still_works() {
    let t = Tenant::start();
    t.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("alice", &t)]);
    let daemon = TestDaemon::start(&config).await;
    let mut c = daemon.grpc_client().await;
    let tok = daemon.token("alice", &[], None);
    for (dest, table) in [
        (proto::BackupDestination::Gcs, "[gcs]"),
        (proto::BackupDestination::S3, "[s3]"),
    ] {
        let e = c
            .create_backup(authed(create("alice", "app", dest, ""), &tok))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
        assert!(
            e.message().contains("not configured") && e.message().contains(table),
            "{}",
            e.message()
        );
    }
    let e = c
        .create_backup(authed(
            create(
                "alice",
                "app",
                proto::BackupDestination::Local,
                "gs://backups",
            ),
            &tok,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    c.create_backup(authed(
        create("alice", "app", proto::BackupDestination::Local, ""),
        &tok,
    ))
    .await
    .unwrap();
    let e = c
        .rebuild_index(authed(
            proto::RebuildIndexRequest::default(),
            &daemon.admin(),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    daemon.stop().await;
}
