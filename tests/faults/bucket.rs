//! The bucket fails mid-upload (cut, answering 500 / 503, or slow), the
//! daemon is killed around a bucket upload's completion and between the
//! bucket sidecar and the local record, and a dead writer's uploads are
//! left in the bucket. moto behind the support relay.

use std::time::{Duration, Instant};

use containarium::proto::BackupDestination;

use crate::invariants::{self, Expect, audit, audit_len};
use crate::support::emulators::{Moto, Relay};
use crate::world::{World, assert_aborted_at, files};

const BUCKET: &str = "faults";
const PREFIX: &str = "p";

/// alice (with `mib` MiB more: 12 makes a multipart upload), backing up
/// to `s3://faults/p` through `endpoint`.
pub fn s3_world(moto: &Moto, endpoint: &str, mib: u32) -> World {
    moto.create_bucket(BUCKET);
    let mut w = World::new();
    if mib > 0 {
        w.grow("bulk", mib);
    }
    w.extra = format!(
        "[s3]\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\npath-style = true\n\
         access-key-id = \"testing\"\nsecret-access-key = \"testing\"\n\
         default-bucket = \"s3://{BUCKET}/{PREFIX}\"\n"
    );
    w
}

pub fn expect<'a>(moto: &'a Moto, action: &'static str, since: usize) -> Expect<'a> {
    let mut e = Expect::new(action, since);
    e.bucket = Some((moto, BUCKET, PREFIX));
    e
}

/// The bucket goes away (`status` 0) or answers `status` after 3 MiB of
/// the upload; the create fails with the bucket named, nothing is left.
/// The failed upload cannot be aborted while the bucket is away: the
/// restarted daemon aborts it (moto dates every upload 2010-11-10, older
/// than [`containarium::store::STALE_UPLOAD`]; on S3 that takes a day), and
/// the invariants check moto lists no upload under the prefix.
async fn upload_fails(status: u16) {
    let moto = Moto::start();
    let relay = Relay::start(moto.addr).await;
    let w = s3_world(&moto, &relay.endpoint(), 12);
    let d = w.daemon(None);
    relay.answer_when_cut(status);
    relay.cut_after(3 * 1024 * 1024);
    let e = d
        .create(BackupDestination::S3)
        .await
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        e.message().contains("s3://faults/p/alice-app-"),
        "the failure names the object: {}",
        e.message()
    );
    if status != 0 {
        assert!(
            e.message().contains(&status.to_string()),
            "the bucket's answer is in the reason: {}",
            e.message()
        );
    }
    relay.restore();
    drop(d);

    let d = w.daemon(None);
    let listed = invariants::check(&w, &d, &expect(&moto, "create", 0)).await;
    assert!(listed.records.is_empty(), "{listed:?}");
    let objects = moto.objects(BUCKET);
    assert!(objects.is_empty(), "{objects:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_cut_mid_upload() {
    upload_fails(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_answers_500_mid_upload() {
    upload_fails(500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_answers_503_mid_upload() {
    upload_fails(503).await;
}

/// The link to the bucket slows to 2 s per MiB after 3 MiB (a congested
/// network, not a dead one): the create takes that long but completes, and
/// the backup restores after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_slow_mid_upload() {
    let moto = Moto::start();
    let relay = Relay::start(moto.addr).await;
    let w = s3_world(&moto, &relay.endpoint(), 12);
    let d = w.daemon(None);
    let per_mib = Duration::from_secs(2);
    relay.slow_after(3 * 1024 * 1024, per_mib);
    let started = Instant::now();
    let record = d.backup(BackupDestination::S3).await;
    let took = started.elapsed();
    let slowed = relay.slowed();
    assert!(
        slowed > 8 * 1024 * 1024,
        "most of the upload crossed the slow link: {slowed} bytes"
    );
    // Two parts go up at once, each over its own slowed connection.
    let least = per_mib * u32::try_from(slowed / 1024).unwrap() / (2 * 1024);
    assert!(
        took >= least.mul_f64(0.9),
        "the create waited for the slow link ({took:?} for {slowed} bytes)"
    );
    assert!(
        record.location.starts_with("s3://faults/p/alice-app-"),
        "{record:?}"
    );
    drop(d);

    let d = w.daemon(None);
    let listed = invariants::check(&w, &d, &expect(&moto, "create", 0)).await;
    assert_eq!(listed.records.len(), 1, "{listed:?}");
    assert_eq!(listed.records[0].id, record.id);
}

/// A writer that died elsewhere left unfinished multipart uploads: the one
/// under the daemon's prefix is aborted at start-up (moto dates every upload
/// 2010-11-10, older than [`containarium::store::STALE_UPLOAD`]); one outside
/// the prefix is not the daemon's and stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_uploads_aborted_at_start_up() {
    let moto = Moto::start();
    let w = s3_world(&moto, &moto.endpoint(), 0);
    moto.start_upload(BUCKET, &format!("{PREFIX}/alice-app-left.dump"));
    moto.start_upload(BUCKET, "elsewhere/other.dump");
    let d = w.daemon(None);
    assert_eq!(
        moto.pending_uploads(BUCKET),
        ["elsewhere/other.dump"],
        "only the upload under the prefix was aborted"
    );
    let log = d.log().join("\n");
    assert!(
        log.lines()
            .any(|l| l.contains("aborted a stale multipart upload")
                && l.contains("s3://faults/p/alice-app-left.dump")),
        "start-up logs what it aborted: {log}"
    );
    d.backup(BackupDestination::S3).await;
    invariants::check(&w, &d, &expect(&moto, "create", 0)).await;
}

/// A create killed with every part sent, before its upload completes.
async fn killed_during_complete(w: &World) {
    let d = w.daemon(Some("during-bucket-complete:abort"));
    assert!(
        d.create(BackupDestination::S3)
            .await
            .await
            .unwrap()
            .is_err()
    );
    let (status, log) = d.ended();
    assert_aborted_at(status, &log, "during-bucket-complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_bucket_complete() {
    let moto = Moto::start();
    let w = s3_world(&moto, &moto.endpoint(), 12);
    killed_during_complete(&w).await;

    let d = w.daemon(None);
    let listed = invariants::check(&w, &d, &expect(&moto, "create", 0)).await;
    assert!(listed.records.is_empty(), "{listed:?}");
    let failed: Vec<_> = audit(&w)
        .into_iter()
        .filter(|l| l["action"] == "create" && l["outcome"] == "failed")
        .collect();
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("was interrupted"),
        "{failed:?}"
    );
}

/// Killed with every part sent, and the bucket unreachable at the next
/// start: recovery cannot tell whether the create got its sidecar, so it
/// decides nothing, keeps the create marker and says so; the start after,
/// with the bucket back, undoes the create (its upload aborted, whatever
/// its age) and audits it as failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_unreachable_at_start_up_keeps_the_create_marker() {
    let moto = Moto::start();
    let relay = Relay::start(moto.addr).await;
    let w = s3_world(&moto, &relay.endpoint(), 12);
    killed_during_complete(&w).await;
    let pending = moto.pending_uploads(BUCKET);
    assert_eq!(
        pending.len(),
        1,
        "the killed create left its upload: {pending:?}"
    );

    relay.cut_after(0);
    let d = w.daemon(None);
    let markers: Vec<String> = files(&w.backup_dir)
        .into_iter()
        .filter(|f| f.starts_with('.') && f.ends_with(".reserved"))
        .collect();
    assert_eq!(markers.len(), 1, "the create marker is kept: {markers:?}");
    let id = markers[0]
        .strip_prefix('.')
        .and_then(|m| m.strip_suffix(".reserved"))
        .unwrap()
        .to_string();
    let log = d.log().join("\n");
    assert!(
        log.lines()
            .any(|l| l.contains("its marker is kept for the next start") && l.contains(&id)),
        "start-up says it kept the marker: {log}"
    );
    assert!(
        !audit(&w)
            .iter()
            .any(|l| l["id"] == id.as_str() && l["outcome"] == "failed"),
        "nothing is decided about the create while the bucket is away"
    );
    drop(d);

    relay.restore();
    let d = w.daemon(None);
    let listed = invariants::check(&w, &d, &expect(&moto, "create", 0)).await;
    assert!(listed.records.is_empty(), "{listed:?}");
    let failed: Vec<_> = audit(&w)
        .into_iter()
        .filter(|l| l["id"] == id.as_str() && l["outcome"] == "failed")
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "decided once, at the start it could: {failed:?}"
    );
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("was interrupted"),
        "{failed:?}"
    );
    let log = d.log().join("\n");
    assert!(
        log.lines().any(
            |l| l.contains("aborted the unfinished uploads of an interrupted create")
                && l.contains(&id)
        ),
        "the create's own upload is aborted by its key, not by age: {log}"
    );
}

/// Killed once the bucket sidecar is written but before the local record:
/// the backup is whole, so start-up adopts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_bucket_sidecar_before_record() {
    let moto = Moto::start();
    let w = s3_world(&moto, &moto.endpoint(), 12);
    let d = w.daemon(Some("after-sidecar-before-record:abort"));
    assert!(
        d.create(BackupDestination::S3)
            .await
            .await
            .unwrap()
            .is_err()
    );
    let (status, log) = d.ended();
    assert_aborted_at(status, &log, "after-sidecar-before-record");

    let d = w.daemon(None);
    let since = audit_len(&w);
    let listed = invariants::check(&w, &d, &expect(&moto, "create", 0)).await;
    assert_eq!(listed.records.len(), 1, "adopted: {listed:?}");
    let adopted: Vec<_> = audit(&w)[..since]
        .iter()
        .filter(|l| l["action"] == "create" && l["outcome"] == "ok")
        .cloned()
        .collect();
    assert_eq!(adopted[0]["id"], listed.records[0].id.as_str());
    assert!(
        adopted[0]["error"].as_str().unwrap().contains("adopted"),
        "{adopted:?}"
    );
}
