//! Failures: one `error: …` line on stderr and a non-zero exit, the same
//! over both transports.

use crate::support::config_for;
use crate::support::daemon::TestDaemon;
use crate::{BOTH, Cli, failed_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_exit_non_zero_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&config_for(dir.path(), &[])).await;
    for transport in BOTH {
        let anonymous = Cli::new(&d, transport, None);
        failed_with(&anonymous.run(&["list"]).await, "token");

        let forged = Cli::new(&d, transport, Some("not.a.jwt".into()));
        failed_with(&forged.run(&["list"]).await, "invalid token");

        let alice = Cli::new(&d, transport, Some(d.token("alice", &[], None)));
        failed_with(
            &alice.run(&["get", "alice-app-20200101T000000Z"]).await,
            "not found",
        );
        failed_with(
            &alice.run(&["delete", "alice-app-20200101T000000Z"]).await,
            "not found",
        );
        failed_with(&alice.run(&["get", "../x"]).await, "is not a backup id");
        // Another tenant's id answers exactly like a missing one.
        failed_with(
            &alice.run(&["get", "bob-app-20200101T000000Z"]).await,
            "not found",
        );
        // A tenant the daemon does not know.
        failed_with(
            &alice.run(&["create", "alice", "--database", "app"]).await,
            "unknown tenant \"alice\": it is not declared under [tenants]",
        );

        let read_only = Cli::new(
            &d,
            transport,
            Some(d.token("alice", &[], Some(&["backups:read"]))),
        );
        read_only.ok(&["list"]).await;
        failed_with(
            &read_only
                .run(&["delete", "alice-app-20200101T000000Z"])
                .await,
            "this token lacks the backups:write scope",
        );
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_daemon_is_one_clear_line() {
    // Bind then drop: a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for http in [false, true] {
        let cli = Cli::at(format!("http://127.0.0.1:{port}"), http, Some("t".into()));
        let line = failed_with(&cli.run(&["list"]).await, "cannot reach");
        assert!(line.contains(&port.to_string()), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_file_and_default_credentials_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&config_for(dir.path(), &[])).await;
    for transport in BOTH {
        let cli = Cli::new(&d, transport, None);
        let file = dir.path().join("token");
        std::fs::write(&file, format!("{}\n", d.token("alice", &[], None))).unwrap();
        cli.ok(&["list", "--token-file", file.to_str().unwrap()])
            .await;
        failed_with(
            &cli.run(&["list", "--token-file", "/nonexistent/token"])
                .await,
            "token file",
        );

        // $XDG_CONFIG_HOME/containarium/token is read when present.
        let default = cli.config_home_path().join("containarium");
        std::fs::create_dir_all(&default).unwrap();
        std::fs::copy(&file, default.join("token")).unwrap();
        cli.ok(&["list"]).await;
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overflowing_and_ambiguous_durations_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&config_for(dir.path(), &[])).await;
    for transport in BOTH {
        let admin = Cli::new(&d, transport, Some(d.admin()));
        for (args, why) in [
            (["check", "--max-age", "4000000000d"], "out of range"),
            (["prune", "--keep-within", "357913942y"], "out of range"),
            (
                ["prune", "--keep-within-daily", "4294967295m"],
                "out of range",
            ),
            (["check", "--max-age", "26M"], "ambiguous"),
        ] {
            // The daemon refuses it: one clear line, not a panic.
            let line = failed_with(&admin.run(&args).await, why);
            assert!(!line.contains("panic"), "{line}");
        }
        // The spellings that mean what they say still work.
        admin.ok(&["check", "--max-age", "90min"]).await;
        admin
            .ok(&["prune", "--keep-within", "6m", "--dry-run"])
            .await;
    }
    d.stop().await;
}
