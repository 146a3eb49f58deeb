//! `[audit] bucket-chain-head`: once a day is over, the sequence number and
//! SHA-256 of its last audit line land in the default bucket (moto) as a
//! write-once object, matching the line in the local log.

use std::time::{Duration, Instant};

use chrono::Utc;
use containarium::audit::{Audit, DayHead, Event};
use containarium::config::Config;
use sha2::{Digest, Sha256};

use crate::support::daemon::TestDaemon;
use crate::support::emulators::Moto;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_finished_day_s_chain_head_lands_in_the_bucket() {
    let moto = Moto::start();
    moto.create_bucket("heads");
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        backup_dir: dir.path().join("backups"),
        s3: Some(moto.config("s3://heads/prod")),
        ..Config::default()
    };
    config.audit.bucket_chain_head = true;
    std::fs::create_dir_all(&config.backup_dir).unwrap();

    // The log a daemon that ran yesterday left behind.
    let yesterday = Utc::now() - chrono::Duration::days(1);
    let log = config.audit_log();
    let audit = Audit::open(Some(&log)).unwrap();
    audit
        .write(&Event {
            timestamp: containarium::catalog::rfc3339(&yesterday),
            action: "delete".into(),
            outcome: "ok".into(),
            ..Event::default()
        })
        .unwrap();
    drop(audit);
    let text = std::fs::read_to_string(&log).unwrap();
    let last = text.lines().last().unwrap();

    // Starting today closes yesterday; the daemon publishes its head.
    let d = TestDaemon::start(&config).await;
    let key = format!("prod/audit-chain/{}.json", yesterday.date_naive());
    let started = Instant::now();
    while !moto.objects("heads").contains(&key) {
        assert!(
            started.elapsed() < Duration::from_mins(1),
            "{key} never appeared: {:?}",
            moto.objects("heads")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    d.stop().await;
    let store = moto.store("s3://heads/prod");
    let body = store
        .get_small(
            &format!("audit-chain/{}.json", yesterday.date_naive()),
            4096,
        )
        .await
        .unwrap();
    let head: DayHead = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        head,
        DayHead {
            day: yesterday.date_naive(),
            seq: 2,
            sha256: hex::encode(Sha256::digest(last.as_bytes())),
            file: "audit.jsonl".into(),
        }
    );
    assert_eq!(moto.objects("heads"), [key], "one head, nothing else");
}
