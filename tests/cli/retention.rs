//! `backup check` exit codes and `backup prune` refusals through the binary.

use chrono::{Duration, Utc};
use containarium::catalog::Catalog;

use crate::support::daemon::TestDaemon;
use crate::support::{Tenant, config_for, synthetic_record};
use crate::{BOTH, Cli, failed_with};

/// A backup of `tenant`/`database` made `age` ago (its dump is irrelevant here).
async fn old_backup(dir: &std::path::Path, tenant: &str, database: &str, age: Duration) {
    let r = synthetic_record(dir, tenant, database, Utc::now() - age, 1);
    Catalog::open(dir).unwrap().put(&r).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_exits_non_zero_for_stale_and_never_backed_up() {
    let (alice, scratch) = (Tenant::start(), Tenant::start());
    alice.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(
        dir.path(),
        &[
            ("alice", &alice),
            ("bob", &alice),
            ("carol", &alice),
            ("scratch", &scratch),
        ],
    );
    // Kept for restore tests: never expected to have backups.
    config.tenants.get_mut("scratch").unwrap().scratch = true;
    let backups = config.backup_dir.clone();
    let d = TestDaemon::start(&config).await;
    let admin = d.admin();
    for transport in BOTH {
        let cli = Cli::new(&d, transport, Some(admin.clone()));
        if transport == crate::Transport::Grpc {
            cli.ok(&["create", "alice", "--database", "app"]).await;
            old_backup(&backups, "bob", "app", Duration::hours(30)).await;
        }

        // Fresh.
        let out = cli
            .run(&["check", "--max-age", "26h", "--tenant", "alice"])
            .await;
        assert!(out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));

        // Stale: named, with its age rule.
        let out = cli
            .run(&["check", "--max-age", "26h", "--tenant", "bob"])
            .await;
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("stale: bob/app: stale: newest backup"),
            "{err}"
        );
        assert!(
            cli.run(&["check", "--max-age", "2d", "--tenant", "bob"])
                .await
                .status
                .success()
        );

        // Never backed up.
        let out = cli
            .run(&["check", "--max-age", "26h", "--tenant", "carol"])
            .await;
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("carol: never backed up"));

        // Everything at once: the admin sees both problems, exit 1.
        let out = cli.run(&["check", "--max-age", "26h"]).await;
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("bob/app")
                && err.contains("carol")
                && !err.contains("alice")
                && !err.contains("scratch"),
            "{err}"
        );

        // Verification freshness.
        let out = cli
            .run(&[
                "check",
                "--max-age",
                "26h",
                "--require-verified-within",
                "100d",
                "--tenant",
                "alice",
            ])
            .await;
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("never verified"));

        failed_with(&cli.run(&["check", "--max-age", "soon"]).await, "max_age");
    }
    let cli = Cli::new(&d, crate::Transport::Grpc, Some(admin));
    let listed = cli.json(&["list", "alice"]).await;
    let id = listed["records"][0]["id"].as_str().unwrap().to_string();
    cli.ok(&["verify", &id, "--target", "scratch"]).await;
    let out = cli
        .run(&[
            "check",
            "--max-age",
            "26h",
            "--require-verified-within",
            "100d",
            "--tenant",
            "alice",
        ])
        .await;
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prune_refuses_without_rules_and_dry_runs_say_why() {
    let t = Tenant::start();
    t.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&config_for(dir.path(), &[("alice", &t)])).await;
    for transport in BOTH {
        let cli = Cli::new(&d, transport, Some(d.token("alice", &[], None)));
        cli.ok(&["create", "alice", "--database", "app"]).await;
        cli.ok(&["create", "alice", "--database", "app"]).await;
        let count = async || {
            cli.json(&["list"]).await["records"]
                .as_array()
                .unwrap()
                .len()
        };
        // Two new ones, beside the one the previous transport's prune kept.
        let before = count().await;
        assert_eq!(before, if transport == BOTH[0] { 2 } else { 3 });
        failed_with(&cli.run(&["prune"]).await, "keep rule");
        let dry = cli.ok(&["prune", "--keep-last", "1", "--dry-run"]).await;
        assert!(dry.contains("would remove"), "{dry}");
        assert!(
            dry.lines()
                .any(|l| l.starts_with("keep") && l.contains("last snapshot")),
            "{dry}"
        );
        assert_eq!(
            dry.lines()
                .filter(|l| l.starts_with("would remove") && l.contains(" alice-app-"))
                .count(),
            before - 1,
            "{dry}"
        );
        assert_eq!(count().await, before, "the dry run deleted nothing");
        let real = cli.json(&["prune", "--keep-last", "1"]).await;
        assert_eq!(real["kept"].as_array().unwrap().len(), 1, "{real}");
        assert_eq!(
            cli.json(&["list"]).await["records"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // Another tenant's backups are not the caller's to prune.
        failed_with(
            &cli.run(&["prune", "--keep-last", "1", "--tenant", "bob"])
                .await,
            "may not act on tenant bob",
        );
    }
}

/// `deploy/verify-latest.sh`, as the weekly timer runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_weekly_verify_script_tests_every_newest_backup() {
    let (alice, scratch) = (Tenant::start(), Tenant::start());
    alice.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path(), &[("alice", &alice), ("scratch", &scratch)]);
    config.tenants.get_mut("scratch").unwrap().scratch = true;
    let d = TestDaemon::start(&config).await;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, d.admin()).unwrap();
    let cli = Cli::new(&d, crate::Transport::Grpc, Some(d.admin()));
    cli.ok(&["create", "alice"]).await; // the globals, app and postgres

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/verify-latest.sh");
    let mut cmd = std::process::Command::new(script);
    cmd.env("CONTAINARIUM_BIN", env!("CARGO_BIN_EXE_containarium"))
        .env("CONTAINARIUM_SERVER", format!("http://{}", d.grpc))
        .env("CONTAINARIUM_VERIFY_TARGET", "scratch")
        .env("CONTAINARIUM_TOKEN_FILE", &token_file)
        .env_remove("CONTAINARIUM_TOKEN");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = cli.json(&["list"]).await;
    for r in listed["records"].as_array().unwrap() {
        assert_eq!(
            r["lastVerification"]["result"], "VERIFICATION_RESULT_PASSED",
            "{r}"
        );
    }
}

/// Every `--keep-*` flag through the binary: one database per rule, with
/// backups spaced so each rule's buckets are unambiguous whatever today's
/// date (a day apart are different days; 7 days, different weeks; 32 days,
/// different months; 367 days, different years). Each prune runs for real
/// on its database only; what it keeps is exactly what the rule names, and
/// the removed backups' dumps are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_keep_rule_prunes_through_the_cli() {
    let t = Tenant::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("alice", &t)]);
    let backups = config.backup_dir.clone();
    let d = TestDaemon::start(&config).await;
    let rules: [(&str, &[&str], &[i64], usize); 5] = [
        ("daily", &["--keep-daily", "2"], &[0, 1, 2, 3], 2),
        ("weekly", &["--keep-weekly", "2"], &[0, 7, 14, 21], 2),
        ("monthly", &["--keep-monthly", "2"], &[0, 32, 64, 96], 2),
        ("yearly", &["--keep-yearly", "2"], &[0, 367, 734], 2),
        ("within", &["--keep-within", "10d"], &[0, 5, 20, 40], 2),
    ];
    let mut ids = std::collections::BTreeMap::new();
    for (db, _, ages, _) in rules {
        let now = Utc::now();
        let mut made = Vec::new();
        for age in ages {
            let r = synthetic_record(&backups, "alice", db, now - Duration::days(*age), 1);
            std::fs::write(&r.location, b"x").unwrap();
            Catalog::open(&backups).unwrap().put(&r).await.unwrap();
            made.push(r.id);
        }
        ids.insert(db, made);
    }
    let transports = [crate::Transport::Grpc, crate::Transport::Rest];
    for (i, (db, flags, _, keep)) in rules.into_iter().enumerate() {
        let cli = Cli::new(&d, transports[i % 2], Some(d.token("alice", &[], None)));
        let mut args = vec!["prune", "--tenant", "alice", "--database", db];
        args.extend(flags);
        let out = cli.json(&args).await;
        let idlist = |k: &str| -> Vec<String> {
            out[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["record"]["id"].as_str().unwrap().to_string())
                .collect()
        };
        let made = &ids[db];
        // Newest first: the rule keeps the first `keep` and removes the rest.
        assert_eq!(idlist("kept"), made[..keep], "{db}: {out}");
        assert_eq!(idlist("removed"), made[keep..], "{db}: {out}");
        let reasons = out["kept"][0]["reasons"].to_string();
        assert!(
            reasons.contains(db),
            "{db}: the reason names the rule: {reasons}"
        );
        let listed = cli.json(&["list", "alice"]).await;
        let left: Vec<&str> = listed["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["database"] == db)
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(left, made[..keep], "{db}: what is listed afterwards");
        for gone in &made[keep..] {
            assert!(
                !backups.join(format!("{gone}.dump")).exists(),
                "{db}: {gone}'s dump was removed"
            );
        }
    }
    d.stop().await;
}
