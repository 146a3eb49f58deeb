//! Bucket destinations end to end: the real daemon (gRPC and REST) against
//! real tenant clusters, with GCS served by fake-gcs-server and S3 by moto.
//! Create → list → get → restore → delete; the catalog rebuilt on a fresh
//! host; uploads cut mid-way; buckets outside the allow-list.

#[path = "../support/mod.rs"]
mod support;

mod chain_head;
mod cli;
mod encrypted;
mod guard;
mod host_loss;
mod interrupted;
mod lock;
mod shared;

use containarium::catalog::Destination;
use containarium::config::Config;
use containarium::proto;
use support::daemon::{TestDaemon, authed};
use support::emulators::{FakeGcs, Moto};
use support::{Tenant, config_for, fingerprint, seed};

/// A bucket destination under test: its emulator, seen from outside.
pub enum Bucket {
    Gcs(FakeGcs),
    S3(Moto),
}

impl Bucket {
    /// The emulator, with `bucket` created, and the daemon config pointing at it.
    pub fn start(d: Destination, bucket: &str) -> Self {
        let b = match d {
            Destination::Gcs => Self::Gcs(FakeGcs::start()),
            Destination::S3 => Self::S3(Moto::start()),
            Destination::Local => unreachable!(),
        };
        b.create_bucket(bucket);
        b
    }

    pub fn create_bucket(&self, bucket: &str) {
        match self {
            Self::Gcs(g) => g.create_bucket(bucket),
            Self::S3(s) => s.create_bucket(bucket),
        }
    }

    pub fn objects(&self, bucket: &str) -> Vec<String> {
        match self {
            Self::Gcs(g) => g.objects(bucket),
            Self::S3(s) => s.objects(bucket),
        }
    }

    /// Adds this destination to `config`, default `default_bucket`, and
    /// `allowed` further buckets.
    pub fn configure(&self, config: &mut Config, default_bucket: &str, allowed: &[&str]) {
        let allowed: Vec<String> = allowed.iter().map(|s| (*s).to_string()).collect();
        match self {
            Self::Gcs(g) => {
                let mut c = g.config(default_bucket);
                c.allowed_buckets = allowed;
                config.gcs = Some(c);
            }
            Self::S3(s) => {
                let mut c = s.config(default_bucket);
                c.allowed_buckets = allowed;
                config.s3 = Some(c);
            }
        }
    }

    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Gcs(_) => "gs",
            Self::S3(_) => "s3",
        }
    }

    pub fn proto(&self) -> proto::BackupDestination {
        match self {
            Self::Gcs(_) => proto::BackupDestination::Gcs,
            Self::S3(_) => proto::BackupDestination::S3,
        }
    }
}

pub fn create(
    username: &str,
    database: &str,
    dest: proto::BackupDestination,
    bucket: &str,
) -> proto::CreateBackupRequest {
    proto::CreateBackupRequest {
        username: username.into(),
        connection: Some(proto::PgConnection {
            database: database.into(),
            ..Default::default()
        }),
        destination: dest.into(),
        gcs_bucket: bucket.into(),
        ..Default::default()
    }
}

pub fn restore(id: &str, database: &str) -> proto::RestoreBackupRequest {
    proto::RestoreBackupRequest {
        id: id.into(),
        connection: Some(proto::PgConnection {
            database: database.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Every file in a backup directory other than the audit log and spool.
///
/// # Panics
/// When the directory cannot be read.
pub fn backup_files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "audit.jsonl" && n != ".spool" && n != ".index")
        .collect();
    v.sort();
    v
}

async fn end_to_end(d: Destination) {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", "alice");
    let bucket = Bucket::start(d, "backups");
    bucket.create_bucket("archive");
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path(), &[("alice", &t)]);
    let sch = bucket.scheme();
    bucket.configure(&mut config, &format!("{sch}://backups/prod"), &["archive"]);
    let daemon = TestDaemon::start(&config).await;
    let mut c = daemon.grpc_client().await;
    let tok = daemon.token("alice", &[], None);

    // No bucket named: the default bucket and prefix.
    let rec = c
        .create_backup(authed(create("alice", "app", bucket.proto(), ""), &tok))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    let id = rec.id.clone();
    assert_eq!(rec.destination(), bucket.proto());
    assert_eq!(rec.location, format!("{sch}://backups/prod/{id}.dump"));
    assert_eq!(
        bucket.objects("backups"),
        [format!("prod/{id}.dump"), format!("prod/{id}.meta.json")]
    );
    let local_sidecar = config.backup_dir.join(format!("{id}.meta.json"));
    assert!(local_sidecar.exists(), "the local index has the record too");
    assert_eq!(
        backup_files(&config.backup_dir),
        [format!("{id}.meta.json")],
        "no dump on the host"
    );

    // A named, allow-listed bucket.
    let named = c
        .create_backup(authed(
            create(
                "alice",
                "app",
                bucket.proto(),
                &format!("{sch}://archive/team-a/"),
            ),
            &tok,
        ))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(
        named.location,
        format!("{sch}://archive/team-a/{}.dump", named.id)
    );
    assert_eq!(bucket.objects("archive").len(), 2);

    let list = c
        .list_backups(authed(proto::ListBackupsRequest::default(), &tok))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.records.len(), 2);
    assert!(list.records.contains(&rec));
    let got = c
        .get_backup(authed(proto::GetBackupRequest { id: id.clone() }, &tok))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.record.unwrap(), rec);

    let msg = c
        .restore_backup(authed(restore(&id, "copy"), &tok))
        .await
        .unwrap()
        .into_inner()
        .message;
    assert!(msg.contains("SHA-256 verified"), "{msg}");
    assert_eq!(fingerprint(&t, "copy"), fingerprint(&t, "app"));

    for r in [&rec, &named] {
        let msg = c
            .delete_backup(authed(
                proto::DeleteBackupRequest { id: r.id.clone() },
                &tok,
            ))
            .await
            .unwrap()
            .into_inner()
            .message;
        assert!(msg.contains("deleted") && !msg.contains("gone"), "{msg}");
    }
    assert!(
        bucket.objects("backups").is_empty(),
        "dump and remote sidecar gone"
    );
    assert!(bucket.objects("archive").is_empty());
    assert!(
        backup_files(&config.backup_dir).is_empty(),
        "local sidecars gone"
    );

    // A dump already removed by the bucket's lifecycle: the record still goes.
    let rec = c
        .create_backup(authed(create("alice", "app", bucket.proto(), ""), &tok))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    let key = rec
        .location
        .split_once("://backups/")
        .unwrap()
        .1
        .to_string();
    match &bucket {
        Bucket::Gcs(g) => g.store("gs://backups").delete(&key).await.unwrap(),
        Bucket::S3(s) => s.store("s3://backups").delete(&key).await.unwrap(),
    }
    let msg = c
        .delete_backup(authed(
            proto::DeleteBackupRequest { id: rec.id.clone() },
            &tok,
        ))
        .await
        .unwrap()
        .into_inner()
        .message;
    assert!(
        msg.contains("already gone") && msg.contains(&rec.location),
        "{msg}"
    );
    assert!(bucket.objects("backups").is_empty());
    assert!(backup_files(&config.backup_dir).is_empty());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gcs_create_list_get_restore_delete() {
    end_to_end(Destination::Gcs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_create_list_get_restore_delete() {
    end_to_end(Destination::S3).await;
}
