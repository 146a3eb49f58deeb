//! The store conformance suite: one set of checks run against every
//! destination (the local directory, GCS through fake-gcs-server, S3
//! through moto), so a backend cannot quietly differ from the others.

#[path = "../support/mod.rs"]
mod support;

mod conformance;

use support::emulators::{FakeGcs, Moto};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let a =
        std::sync::Arc::new(containarium::store::LocalStore::open(&dir.path().join("a")).unwrap());
    let b =
        std::sync::Arc::new(containarium::store::LocalStore::open(&dir.path().join("b")).unwrap());
    conformance::run(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gcs_store_conforms() {
    let gcs = FakeGcs::start();
    gcs.create_bucket("conformance");
    conformance::run(
        gcs.store("gs://conformance/p/one"),
        gcs.store("gs://conformance/p/two"),
    )
    .await;
    let left = gcs.objects("conformance");
    assert!(
        left.iter()
            .all(|n| n.starts_with("p/one/") || n.starts_with("p/two/")),
        "nothing outside the prefixes: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_store_conforms() {
    let s3 = Moto::start();
    s3.create_bucket("conformance");
    // Sibling prefixes, not nested ones: a store that leaked into its
    // neighbour's keys would show them in its own listing.
    conformance::run(
        s3.store("s3://conformance/p/one"),
        s3.store("s3://conformance/p/two"),
    )
    .await;
    assert!(
        s3.pending_uploads("conformance").is_empty(),
        "aborted multipart uploads are gone"
    );
    let left = s3.objects("conformance");
    assert!(
        left.iter()
            .all(|n| n.starts_with("p/one/") || n.starts_with("p/two/")),
        "nothing outside the prefixes: {left:?}"
    );
}

/// The create-if-absent of a large S3 object is on the completing request
/// itself (`If-None-Match: *`, which S3 evaluates atomically), not a look
/// before it: seen on the wire through the relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_completion_is_conditional() {
    let s3 = Moto::start();
    s3.create_bucket("wire");
    let relay = support::emulators::Relay::start(s3.addr).await;
    let client = containarium::store::S3Client::new(&containarium::config::S3Config {
        endpoint: Some(relay.endpoint()),
        ..s3.config("unused-default")
    });
    let store = containarium::store::Buckets::open(
        &client,
        &containarium::store::BucketUri::parse(
            containarium::catalog::Destination::S3,
            "s3://wire/p",
        )
        .unwrap(),
    )
    .unwrap();
    let mut w = store.writer("big.dump").await.unwrap();
    for _ in 0..20 {
        w.write(bytes::Bytes::from(vec![7u8; 1024 * 1024]))
            .await
            .unwrap();
    }
    w.commit().await.unwrap();

    let heads: Vec<String> = relay.heads().iter().map(|h| h.to_lowercase()).collect();
    let complete: Vec<_> = heads
        .iter()
        .filter(|h| h.starts_with("post ") && h.contains("uploadid="))
        .collect();
    assert_eq!(complete.len(), 1, "one completion: {heads:#?}");
    assert!(
        complete[0].contains("\r\nif-none-match: *"),
        "the completion is conditional: {}",
        complete[0]
    );
    assert!(
        !heads.iter().any(|h| h.starts_with("head ")),
        "no look before the write: {heads:#?}"
    );
    let parts = heads.iter().filter(|h| h.starts_with("put ")).count();
    assert_eq!(parts, 3, "20 MiB went up as three parts: {heads:#?}");
    assert_eq!(s3.objects("wire"), ["p/big.dump"]);
}

/// A failed upload (here: one that lost to an existing object) aborts its
/// own upload and then, best effort, the stale uploads under its store's
/// prefix (moto dates every upload 2010-11-10, older than
/// `STALE_UPLOAD`); an upload outside the prefix is not the store's and
/// stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_failed_upload_aborts_stale_uploads_under_its_prefix() {
    let s3 = Moto::start();
    s3.create_bucket("stale");
    s3.start_upload("stale", "p/left-by-a-dead-writer.dump");
    s3.start_upload("stale", "q/not-ours.dump");
    let store = s3.store("s3://stale/p");
    store
        .put("taken.dump", bytes::Bytes::from_static(b"first"))
        .await
        .unwrap();
    let mut w = store.writer("taken.dump").await.unwrap();
    for _ in 0..10 {
        w.write(bytes::Bytes::from(vec![1u8; 1024 * 1024]))
            .await
            .unwrap();
    }
    let e = w.commit().await.unwrap_err();
    assert_eq!(
        e.code,
        containarium::Code::FailedPrecondition,
        "{}",
        e.message
    );
    assert!(
        e.message
            .contains("already exists; objects are written once and never replaced"),
        "{}",
        e.message
    );
    assert_eq!(
        s3.pending_uploads("stale"),
        ["q/not-ours.dump"],
        "its own upload and the stale one under p/ are aborted"
    );
    assert_eq!(store.get_small("taken.dump", 10).await.unwrap(), b"first");
}
