//! An upload cut mid-way: the create fails with a clear error, and once the
//! bucket is reachable again there is no object and no record. A relay in
//! front of the emulator cuts the network after 12 MiB of a ~40 MiB upload.
//! fake-gcs-server is also killed and restarted over its on-disk state;
//! moto keeps its state only in memory, so it stays up behind the cut relay
//! (a restart would prove nothing) and is inspected after the relay reopens.

use containarium::proto;
use tonic::Code;

use crate::support::daemon::{TestDaemon, authed};
use crate::support::emulators::{FakeGcs, Moto, Relay, free_addr};
use crate::support::{Tenant, config_for};
use crate::{Bucket, backup_files, create};

const CUT_AFTER: u64 = 12 * 1024 * 1024;

/// A database whose dump is ~40 MiB of incompressible bytes.
fn big_tenant() -> Tenant {
    let t = Tenant::start();
    t.create_db("big");
    t.psql(
        "big",
        "CREATE EXTENSION pgcrypto; CREATE TABLE blob(id int, b bytea); \
         INSERT INTO blob SELECT g, gen_random_bytes(1024) FROM generate_series(1, 40960) g",
    );
    t
}

/// Runs a create through the relay and cuts it; calls `stop` while it is
/// cut and `back` once it failed, then reopens the relay and checks that
/// nothing is visible; then checks that backups work again.
async fn cut_create(
    bucket: &Bucket,
    relay: &Relay,
    t: &Tenant,
    stop: impl FnOnce(),
    back: impl FnOnce(),
) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path(), &[("alice", t)]);
    let sch = bucket.scheme();
    bucket.configure(&mut config, &format!("{sch}://backups/cut"), &[]);
    let through_relay = Some(relay.endpoint());
    if let Some(g) = &mut config.gcs {
        g.endpoint = through_relay;
    } else if let Some(s) = &mut config.s3 {
        s.endpoint = through_relay;
    }
    let daemon = TestDaemon::start(&config).await;
    let mut c = daemon.grpc_client().await;
    let tok = daemon.token("alice", &[], None);
    relay.cut_after(CUT_AFTER);
    let req = create("alice", "big", bucket.proto(), "");
    let call = tokio::spawn(async move { c.create_backup(authed(req, &tok)).await });
    relay.tripped().await;
    stop();
    let e = call.await.unwrap().unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{}", e.message());
    let m = e.message();
    assert!(
        m.contains("alice/big") && (m.contains("GCS is unreachable") || m.contains("S3")),
        "{m}"
    );
    back();
    relay.restore();
    assert!(bucket.objects("backups").is_empty(), "no object visible");

    let mut c = daemon.grpc_client().await;
    let admin = daemon.admin();
    let list = c
        .list_backups(authed(proto::ListBackupsRequest::default(), &admin))
        .await
        .unwrap()
        .into_inner();
    assert!(list.records.is_empty(), "no record: {list:?}");
    assert!(
        backup_files(&config.backup_dir).is_empty(),
        "{:?}",
        backup_files(&config.backup_dir)
    );
    let audit = std::fs::read_to_string(config.backup_dir.join("audit.jsonl")).unwrap();
    assert!(audit.contains("\"failed\""), "{audit}");

    // Once the bucket is back, backups work again.
    let ok = c
        .create_backup(authed(create("alice", "big", bucket.proto(), ""), &admin))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert!(ok.size_bytes > 30 * 1024 * 1024, "{}", ok.size_bytes);
    let objects = bucket.objects("backups");
    assert_eq!(
        objects,
        [
            format!("cut/{}.dump", ok.id),
            format!("cut/{}.meta.json", ok.id)
        ]
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gcs_upload_cut_midway_leaves_no_object_and_no_record() {
    let t = big_tenant();
    let addr = free_addr();
    let relay = Relay::start(addr).await;
    // Session URIs point at the relay too, so every chunk crosses it.
    let gcs = FakeGcs::start_at(addr, &relay.endpoint());
    gcs.create_bucket("backups");
    let bucket = Bucket::Gcs(gcs);
    let Bucket::Gcs(g) = &bucket else {
        unreachable!()
    };
    // The emulator itself goes down mid-upload and comes back over its
    // on-disk state.
    cut_create(&bucket, &relay, &t, || g.stop(), || g.restart()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_upload_cut_midway_leaves_no_object_and_no_record() {
    let t = big_tenant();
    let moto = Moto::start();
    moto.create_bucket("backups");
    let relay = Relay::start(moto.addr).await;
    let bucket = Bucket::S3(moto);
    cut_create(&bucket, &relay, &t, || {}, || {}).await;
}
