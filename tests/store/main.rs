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
