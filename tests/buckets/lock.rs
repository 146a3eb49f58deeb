//! Immutable objects: with `[s3] object-lock-days`, every dump and sidecar
//! lands in moto (Object Lock enabled on the bucket) with a retention; the
//! bucket itself refuses to delete a locked version; `delete` and `prune`
//! leave a locked backup and its record alone, saying until when, and remove
//! it once the lock has passed. No object is ever written twice.

use std::collections::BTreeMap;
use std::process::Command;

use chrono::{DateTime, Utc};
use containarium::config::Config;
use containarium::proto;
use serde_json::Value;
use tonic::Code;

use crate::create;
use crate::support::daemon::{TestDaemon, authed};
use crate::support::emulators::{FakeGcs, Moto, http};
use crate::support::{Tenant, config_for};

/// The lock in the test, in days: one minute, long enough for two backups
/// and every refusal on a loaded machine.
const LOCK_DAYS: f64 = 60.0 / 86_400.0;

/// One command of `object_lock.py` (boto3, the daemon's credentials).
fn boto(moto: &Moto, args: &[&str]) -> Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/buckets/object_lock.py"))
        .arg(moto.endpoint())
        .args(args)
        .output()
        .expect("run ./scripts/setup.sh: .venv/bin/python with boto3 is needed");
    assert!(
        out.status.success(),
        "object_lock.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// alice's tenant with a database `app`, and a daemon for it that
/// `configure` points at a bucket.
async fn daemon_with(
    configure: impl FnOnce(&mut Config),
) -> (Tenant, tempfile::TempDir, TestDaemon) {
    let t = Tenant::start();
    t.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path(), &[("alice", &t)]);
    configure(&mut config);
    let d = TestDaemon::start(&config).await;
    (t, dir, d)
}

/// A backup of alice's `app` to `dest`'s default bucket.
async fn backup_to(d: &TestDaemon, dest: proto::BackupDestination) -> proto::BackupRecord {
    d.grpc_client()
        .await
        .create_backup(authed(create("alice", "app", dest, ""), &d.admin()))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap()
}

/// Lets time pass beyond `until` (the lock is the thing under test, not a
/// readiness wait).
async fn wait_past(until: &str) {
    let until: DateTime<Utc> = until.parse().unwrap();
    let wait = (until - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + std::time::Duration::from_secs(1)).await;
}

fn prune(keep_last: i32, dry_run: bool) -> proto::PruneBackupsRequest {
    proto::PruneBackupsRequest {
        username: "alice".into(),
        keep_last,
        dry_run,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn locked_backups_cannot_be_deleted_until_their_lock_has_passed() {
    let moto = Moto::start();
    boto(&moto, &["create-bucket", "vault"]);
    let (_t, _dir, d) = daemon_with(|config| {
        let mut s3 = moto.config("s3://vault/prod");
        s3.object_lock_days = Some(LOCK_DAYS);
        config.s3 = Some(s3);
    })
    .await;
    let mut c = d.grpc_client().await;
    let admin = d.admin();
    let older = &backup_to(&d, proto::BackupDestination::S3).await;
    let newer = &backup_to(&d, proto::BackupDestination::S3).await;
    let until: DateTime<Utc> = older
        .locked_until
        .parse()
        .expect("a locked record says until when");
    assert!(until > Utc::now(), "{until}");

    // Every object the backup owns carries the record's retention.
    for key in [
        format!("prod/{}.dump", older.id),
        format!("prod/{}.meta.json", older.id),
    ] {
        let lock = boto(&moto, &["inspect", "vault", &key]);
        assert_eq!(lock["mode"], "GOVERNANCE", "{key}");
        assert_eq!(lock["until"], older.locked_until, "{key}");
    }

    // The attack: whoever holds the daemon's credentials removes the dump's
    // version outright. S3 refuses, and the dump stays.
    let dump = format!("prod/{}.dump", older.id);
    let purge = boto(&moto, &["purge", "vault", &dump]);
    assert_eq!(purge["deleted"], 0, "{purge}");
    assert_eq!(
        purge["refused"],
        serde_json::json!(["AccessDenied"]),
        "{purge}"
    );
    assert!(moto.objects("vault").contains(&dump));

    // delete refuses clearly and keeps the record and the objects.
    let refused = c
        .delete_backup(authed(
            proto::DeleteBackupRequest {
                id: older.id.clone(),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused
            .message()
            .contains(&format!("locked until {}", older.locked_until)),
        "{}",
        refused.message()
    );
    let kept = c
        .get_backup(authed(
            proto::GetBackupRequest {
                id: older.id.clone(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.record.unwrap().id, older.id);
    assert!(moto.objects("vault").contains(&dump));

    // prune: the dry run and the real run both keep it, saying until when.
    for dry_run in [true, false] {
        let p = c
            .prune_backups(authed(prune(1, dry_run), &admin))
            .await
            .unwrap()
            .into_inner();
        assert!(p.removed.is_empty(), "dry_run={dry_run}: {p:?}");
        let reasons: BTreeMap<String, Vec<String>> = p
            .kept
            .iter()
            .map(|k| (k.record.as_ref().unwrap().id.clone(), k.reasons.clone()))
            .collect();
        let why = reasons[&older.id].join("; ");
        assert!(
            why.contains(&format!("locked until {}", older.locked_until)),
            "{why}"
        );
        assert!(why.contains("a prune after that removes it"), "{why}");
    }
    assert!(moto.objects("vault").contains(&dump));

    wait_past(&newer.locked_until).await;

    let p = c
        .prune_backups(authed(prune(1, false), &admin))
        .await
        .unwrap()
        .into_inner();
    let removed: Vec<_> = p
        .removed
        .iter()
        .map(|r| r.record.as_ref().unwrap().id.clone())
        .collect();
    assert_eq!(removed, vec![older.id.clone()], "{p:?}");
    assert!(
        !moto.objects("vault").contains(&dump),
        "the later prune removed the dump"
    );
    c.delete_backup(authed(
        proto::DeleteBackupRequest {
            id: newer.id.clone(),
        },
        &admin,
    ))
    .await
    .unwrap();
    let left = c
        .list_backups(authed(proto::ListBackupsRequest::default(), &admin))
        .await
        .unwrap()
        .into_inner();
    assert!(left.records.is_empty(), "{left:?}");

    // Nothing was ever rewritten in place: one version per key, ever.
    let versions = boto(&moto, &["versions", "vault"]);
    let counts = versions.as_object().unwrap();
    assert_eq!(counts.len(), 4, "two dumps and two sidecars: {versions}");
    assert!(counts.values().all(|n| n == 1), "{versions}");
    d.stop().await;
}

/// fake-gcs-server keeps an object's retention but does not enforce it: this
/// proves the retention each object is created with, and the daemon's own
/// refusal; the bucket-side refusal is proven on S3 above.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gcs_objects_carry_the_retention_and_locked_backups_stay() {
    let gcs = FakeGcs::start();
    gcs.create_bucket("vault");
    let (_t, _dir, d) = daemon_with(|config| {
        let mut g = gcs.config("gs://vault/prod");
        g.retention_days = Some(LOCK_DAYS);
        config.gcs = Some(g);
    })
    .await;
    let mut c = d.grpc_client().await;
    let admin = d.admin();
    let r = backup_to(&d, proto::BackupDestination::Gcs).await;
    assert!(!r.locked_until.is_empty());
    for key in [
        format!("prod/{}.dump", r.id),
        format!("prod/{}.meta.json", r.id),
    ] {
        let path = format!("/storage/v1/b/vault/o/{}", key.replace('/', "%2F"));
        let (status, body) = http(gcs.addr, "GET", &path, b"").unwrap();
        assert_eq!(status, 200, "{body}");
        let meta: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            meta["retention"],
            serde_json::json!({"mode": "Unlocked", "retainUntilTime": r.locked_until}),
            "{key}"
        );
    }
    let refused = c
        .delete_backup(authed(
            proto::DeleteBackupRequest { id: r.id.clone() },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("locked until"),
        "{}",
        refused.message()
    );
    assert!(
        gcs.objects("vault")
            .contains(&format!("prod/{}.dump", r.id))
    );

    wait_past(&r.locked_until).await;
    c.delete_backup(authed(
        proto::DeleteBackupRequest { id: r.id.clone() },
        &admin,
    ))
    .await
    .unwrap();
    assert!(
        gcs.objects("vault").is_empty(),
        "{:?}",
        gcs.objects("vault")
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn out_of_range_lock_periods_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for (days, gcs) in [
        (0.0, false),
        (-1.0, false),
        (40_000.0, false),
        (f64::NAN, true),
        (0.0, true),
    ] {
        let mut config = config_for(dir.path(), &[]);
        if gcs {
            config.gcs = Some(containarium::config::GcsConfig {
                anonymous: true,
                default_bucket: Some("gs://bucket-b".into()),
                retention_days: Some(days),
                ..Default::default()
            });
        } else {
            config.s3 = Some(containarium::config::S3Config {
                default_bucket: Some("s3://bucket-b".into()),
                object_lock_days: Some(days),
                ..Default::default()
            });
        }
        let e = containarium::service::BackupService::new(
            &config,
            containarium::auth::Authenticator::Disabled,
        )
        .err()
        .expect("refused");
        assert_eq!(e.code, containarium::Code::InvalidArgument);
        let key = if gcs {
            "[gcs] retention-days"
        } else {
            "[s3] object-lock-days"
        };
        assert!(
            e.message.contains(key) && e.message.contains("out of range"),
            "{}",
            e.message
        );
    }
}
