//! `/metrics`, read back by a Prometheus text-format parser after a create,
//! a failure and a verify.

use prometheus_parse::{Scrape, Value};

use crate::support::daemon::{TestDaemon, authed};
use crate::support::{Tenant, config_for, with_scratch};

fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => f64::NAN,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_count_creates_failures_and_verifications() {
    let (t, scratch) = (Tenant::start(), Tenant::start());
    t.create_db("app");
    t.psql(
        "app",
        "CREATE TABLE x AS SELECT generate_series(1, 1000) AS i",
    );
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&with_scratch(
        config_for(dir.path(), &[("alice", &t), ("scratch", &scratch)]),
        "scratch",
    ))
    .await;
    let admin = d.admin();
    let mut c = d.grpc_client().await;
    let rec = crate::backup_one(&mut c, crate::local("alice", "app"), &admin).await;
    c.create_backup(authed(crate::local("alice", "nope"), &admin))
        .await
        .unwrap_err();
    let v = crate::verify_into(&mut c, &rec.id, "scratch", &admin)
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let resp = http
        .get(d.url("/metrics"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();

    let ops = "containarium_operations_total";
    assert_eq!(
        value(&scrape, ops, &[("action", "create"), ("outcome", "ok")]),
        Some(1.0)
    );
    assert_eq!(
        value(&scrape, ops, &[("action", "create"), ("outcome", "failed")]),
        Some(1.0)
    );
    assert_eq!(
        value(&scrape, ops, &[("action", "verify"), ("outcome", "ok")]),
        Some(1.0)
    );
    #[allow(clippy::cast_precision_loss)]
    let size = rec.size_bytes as f64;
    assert_eq!(
        value(&scrape, "containarium_backup_bytes_written_total", &[]),
        Some(size)
    );
    let group = [("tenant", "alice"), ("database", "app")];
    assert_eq!(
        value(&scrape, "containarium_backups_stored", &group),
        Some(1.0)
    );
    assert_eq!(
        value(&scrape, "containarium_backups_stored_bytes", &group),
        Some(size)
    );
    let created: chrono::DateTime<chrono::Utc> = rec.created_at.parse().unwrap();
    #[allow(clippy::cast_precision_loss)]
    let created = created.timestamp() as f64;
    assert_eq!(
        value(
            &scrape,
            "containarium_last_backup_timestamp_seconds",
            &group
        ),
        Some(created)
    );
    let verified: chrono::DateTime<chrono::Utc> =
        v.verification.unwrap().verified_at.parse().unwrap();
    #[allow(clippy::cast_precision_loss)]
    let verified = verified.timestamp() as f64;
    assert_eq!(
        value(
            &scrape,
            "containarium_last_verification_timestamp_seconds",
            &group
        ),
        Some(verified)
    );
    assert_eq!(
        value(&scrape, "containarium_last_verification_passed", &group),
        Some(1.0)
    );
    assert_eq!(
        value(
            &scrape,
            "containarium_operation_duration_seconds",
            &[("action", "create")]
        ),
        Some(2.0),
        "two creates observed in the histogram"
    );

    // Tenant names of every tenant are in there: admins only.
    let alice = http
        .get(d.url("/metrics"))
        .bearer_auth(d.token("alice", &[], None))
        .send()
        .await
        .unwrap();
    assert_eq!(alice.status(), 403);
    assert_eq!(
        http.get(d.url("/metrics")).send().await.unwrap().status(),
        401
    );
    d.stop().await;
}
