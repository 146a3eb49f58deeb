//! Many creates of one database in the same second.

use std::collections::BTreeSet;

use crate::support::{Harness, Tenant, create_req, none, restore_req};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_creates_get_twenty_ids_and_restorable_dumps() {
    let t = Tenant::start();
    t.create_db("app");
    t.psql(
        "app",
        "CREATE TABLE n(x int); INSERT INTO n SELECT generate_series(1, 1000)",
    );
    let h = Harness::new(&[("alice", &t)]);

    let runs = (0..20).map(|_| h.service.create(none(), create_req("alice", "app")));
    let outs = futures::future::join_all(runs).await;
    let records: Vec<_> = outs
        .into_iter()
        .map(|o| o.unwrap().records.remove(0))
        .collect();
    let ids: BTreeSet<_> = records.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 20, "{ids:?}");

    let listed = h.service.list(none(), None).await.unwrap();
    assert_eq!(listed.records.len(), 20);
    assert!(listed.problems.is_empty());
    let files = h.backup_files();
    assert_eq!(
        files.iter().filter(|f| f.ends_with(".meta.json")).count(),
        20
    );
    assert_eq!(files.iter().filter(|f| f.ends_with(".dump")).count(), 20);
    assert_eq!(
        files.len(),
        40,
        "no temp files or reservations left: {files:?}"
    );

    for (i, r) in records.iter().enumerate() {
        let db = format!("r{i}");
        h.service
            .restore(none(), restore_req(&r.id, &db))
            .await
            .unwrap();
        assert_eq!(t.psql(&db, "SELECT sum(x) FROM n"), "500500");
    }
}
