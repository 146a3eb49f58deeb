//! Prune over a real catalog directory: 400 synthetic backups across two
//! years in two groups; dry run changes nothing; the real run leaves exactly
//! what the policy keeps; the newest of a group always stays.

use std::collections::BTreeSet;

use chrono::{Duration, TimeZone, Utc};
use containarium::Code;
use containarium::catalog::{Catalog, Record};
use containarium::retention::{self, Policy};
use containarium::service::PruneRequest;
use sha2::{Digest, Sha256};

use crate::support::{Harness, Tenant, create_req, none, synthetic_record};

/// Writes `n` backups of `tenant`/`database`, one every `gap` hours back from
/// a fixed instant, each with a real dump file and sidecar.
async fn synthesize(
    dir: &std::path::Path,
    tenant: &str,
    database: &str,
    n: usize,
    gap: i64,
) -> Vec<Record> {
    let catalog = Catalog::open(dir).unwrap();
    let end = Utc.with_ymd_and_hms(2026, 6, 5, 13, 4, 5).unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        let at = end - Duration::hours(gap * i64::try_from(i).unwrap());
        let mut r = synthetic_record(dir, tenant, database, at, 1);
        let bytes = format!("dump of {}", r.id).into_bytes();
        std::fs::write(dir.join(format!("{}.dump", r.id)), &bytes).unwrap();
        r.size_bytes = i64::try_from(bytes.len()).unwrap();
        r.sha256 = hex::encode(Sha256::digest(&bytes));
        catalog.put(&r).await.unwrap();
        out.push(r);
    }
    out
}

fn ids_on_disk(dir: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .strip_suffix(".meta.json")
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prune_keeps_exactly_what_the_policy_keeps() {
    let t = Tenant::start();
    let h = Harness::new(&[("alice", &t), ("bob", &t)]);
    let alice = synthesize(h.backup_dir(), "alice", "app", 300, 58).await; // ~2 years
    let bob = synthesize(h.backup_dir(), "bob", "web", 100, 175).await;
    let before = ids_on_disk(h.backup_dir());
    assert_eq!(before.len(), 400);

    let policy = Policy {
        last: 2,
        daily: 5,
        weekly: 4,
        monthly: 12,
        yearly: 3,
        within: Some("7d".parse().unwrap()),
        ..Policy::default()
    };
    let mut want = BTreeSet::new();
    for group in [&alice, &bob] {
        let times: Vec<_> = group.iter().map(|r| r.created_at).collect();
        for (r, v) in group.iter().zip(retention::apply(&policy, &times)) {
            if v.keep {
                want.insert(r.id.clone());
            }
        }
    }
    assert!(want.len() > 30 && want.len() < 80, "{}", want.len());

    let req = PruneRequest {
        policy: policy.clone(),
        dry_run: true,
        ..PruneRequest::default()
    };
    let dry = h.service.prune(none(), req).await.unwrap();
    assert_eq!(
        ids_on_disk(h.backup_dir()),
        before,
        "a dry run deletes nothing"
    );
    let kept: BTreeSet<_> = dry.kept.iter().map(|(r, _)| r.id.clone()).collect();
    assert_eq!(kept, want);
    assert_eq!(dry.removed.len(), 400 - want.len());
    assert!(
        dry.kept.iter().all(|(_, why)| !why.is_empty()),
        "every kept backup says why"
    );
    assert!(dry.message().contains("would remove"));

    let real = h
        .service
        .prune(
            none(),
            PruneRequest {
                policy,
                ..PruneRequest::default()
            },
        )
        .await
        .unwrap();
    assert!(real.failures.is_empty(), "{:?}", real.failures);
    assert_eq!(ids_on_disk(h.backup_dir()), want);
    let dumps = std::fs::read_dir(h.backup_dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".dump")
        })
        .count();
    assert_eq!(dumps, want.len(), "dumps went with their records");
    let audit = std::fs::read_to_string(h.backup_dir().join("audit.jsonl")).unwrap();
    assert_eq!(
        audit
            .lines()
            .filter(|l| l.contains("\"action\":\"prune\"") && l.contains("\"phase\":\"outcome\""))
            .count(),
        2,
        "one outcome line per prune (a real one also has its intent)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_newest_stays_and_an_empty_policy_is_refused() {
    let t = Tenant::start();
    t.create_db("app");
    let h = Harness::new(&[("alice", &t)]);
    let old = synthesize(h.backup_dir(), "alice", "app", 5, 24 * 400).await;
    let newest = h.backup("alice", "app").await;

    let e = h
        .service
        .prune(none(), PruneRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::InvalidArgument);
    assert!(e.message.contains("keep rule"), "{}", e.message);
    assert_eq!(ids_on_disk(h.backup_dir()).len(), 6);

    // keep-within 1h measured from the newest keeps only the newest.
    let policy = Policy {
        within: Some("1h".parse().unwrap()),
        ..Policy::default()
    };
    let out = h
        .service
        .prune(
            none(),
            PruneRequest {
                policy,
                ..PruneRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(out.removed.len(), old.len());
    assert_eq!(
        ids_on_disk(h.backup_dir()),
        BTreeSet::from([newest.id.clone()])
    );

    // A policy that keeps nothing of a group still keeps its newest.
    let policy = Policy {
        within: Some("1h".parse().unwrap()),
        ..Policy::default()
    };
    let out = h
        .service
        .prune(
            none(),
            PruneRequest {
                policy,
                database: Some("app".into()),
                ..PruneRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(out.kept.len(), 1);
    assert!(out.removed.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_tenants_backs_up_every_configured_tenant() {
    let (a, b) = (Tenant::start(), Tenant::start());
    a.create_db("app");
    b.create_db("web");
    let h = Harness::new(&[("alice", &a), ("bob", &b)]);
    let mut req = create_req("", "");
    req.all_tenants = true;
    let out = h.service.create(none(), req).await.unwrap();
    let mut got: Vec<_> = out
        .records
        .iter()
        .map(|r| format!("{}/{}", r.username, r.database))
        .collect();
    got.sort();
    // Each tenant's globals (roles) have no database.
    assert_eq!(
        got,
        [
            "alice/",
            "alice/app",
            "alice/postgres",
            "bob/",
            "bob/postgres",
            "bob/web"
        ]
    );
    assert!(out.failures.is_empty());

    // A tenant that fails is reported by name; the others still succeed.
    b.stop();
    let mut req = create_req("", "");
    req.all_tenants = true;
    let out = h.service.create(none(), req).await.unwrap();
    assert_eq!(out.records.len(), 3, "alice's globals, app and postgres");
    assert_eq!(out.failures.len(), 1);
    assert!(out.failures[0].starts_with("bob: "), "{:?}", out.failures);

    let mut named = create_req("alice", "");
    named.all_tenants = true;
    let e = h.service.create(none(), named).await.unwrap_err();
    assert_eq!(e.code, Code::InvalidArgument);
}
