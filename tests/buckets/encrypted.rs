//! zstd + age dumps in the buckets, through the real daemon: the object holds
//! no plaintext, restores over gRPC and REST, and the record says how it was
//! encoded on both transports.

use containarium::catalog::Destination;
use containarium::proto;
use containarium::stream::{Compression, DumpConfig};
use serde_json::Value;

use super::{Bucket, create, restore};
use crate::support::daemon::{TestDaemon, authed};
use crate::support::{Tenant, config_for, fingerprint, seed};

const MARKER: &str = "PLAINTEXT-MARKER-b7c2";

async fn encrypted_round_trip(d: Destination) {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", MARKER);
    let bucket = Bucket::start(d, "backups");
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path(), &[("alice", &t)]);
    let sch = bucket.scheme();
    bucket.configure(&mut config, &format!("{sch}://backups/prod"), &[]);
    let id = age::x25519::Identity::generate();
    let key = dir.path().join("key.txt");
    std::fs::write(
        &key,
        age::secrecy::ExposeSecret::expose_secret(&id.to_string()),
    )
    .unwrap();
    config.dump = DumpConfig {
        compression: Some(Compression::Zstd),
        recipients: Some(vec![id.to_public().to_string()]),
        identity_file: Some(key),
        ..DumpConfig::default()
    };
    let daemon = TestDaemon::start(&config).await;
    let mut c = daemon.grpc_client().await;
    let tok = daemon.token("alice", &[], None);

    let rec = c
        .create_backup(authed(create("alice", "app", bucket.proto(), ""), &tok))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(rec.stages, ["zstd", "age"]);
    assert_eq!(rec.encryption, "age");
    assert_eq!(rec.compression, "zstd");
    assert_eq!(rec.recipients, [id.to_public().to_string()]);
    assert!(rec.raw_size_bytes.unwrap() > rec.size_bytes);

    let store = match &bucket {
        Bucket::Gcs(g) => g.store("gs://backups"),
        Bucket::S3(s) => s.store("s3://backups"),
    };
    let bytes = store
        .get_small(&format!("prod/{}.dump", rec.id), 64 << 20)
        .await
        .unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
    assert!(
        !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
        "no plaintext in the bucket"
    );

    c.restore_backup(authed(restore(&rec.id, "grpc"), &tok))
        .await
        .unwrap();
    assert_eq!(fingerprint(&t, "grpc"), fingerprint(&t, "app"));

    let http = reqwest::Client::new();
    let got: Value = http
        .get(daemon.url(&format!("/v1/backups/{}", rec.id)))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = &got["record"];
    assert_eq!(r["stages"], serde_json::json!(["zstd", "age"]), "{got}");
    assert_eq!(r["encryption"], "age");
    let resp = http
        .post(daemon.url(&format!("/v1/backups/{}/restore", rec.id)))
        .bearer_auth(&tok)
        .json(&serde_json::json!({"connection": {"database": "rest"}}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
    assert_eq!(fingerprint(&t, "rest"), fingerprint(&t, "app"));

    c.delete_backup(authed(proto::DeleteBackupRequest { id: rec.id }, &tok))
        .await
        .unwrap();
    assert!(bucket.objects("backups").is_empty());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gcs_encrypted_zstd_dumps_hold_no_plaintext_and_restore() {
    encrypted_round_trip(Destination::Gcs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_encrypted_zstd_dumps_hold_no_plaintext_and_restore() {
    encrypted_round_trip(Destination::S3).await;
}
