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
        failed_with(&cli.run(&["prune"]).await, "keep rule");
        let dry = cli.ok(&["prune", "--keep-last", "1", "--dry-run"]).await;
        assert!(dry.contains("would remove"), "{dry}");
        assert!(
            dry.lines()
                .any(|l| l.starts_with("keep") && l.contains("last snapshot")),
            "{dry}"
        );
        let listed = cli.json(&["list"]).await;
        assert!(
            listed["records"].as_array().unwrap().len() >= 2,
            "dry run deleted nothing"
        );
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
