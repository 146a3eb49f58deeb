//! The README's commands whose promise is in their exit code, their output
//! or their flags: `create --all-tenants` failing loudly on a partial
//! failure, `token mint --scopes/--ttl` writing the claims asked for,
//! completions a real zsh and fish load, and `restore --jobs/--no-owner`.

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::support::daemon::{SECRET, TestDaemon};
use crate::support::{Tenant, config_for, fingerprint, seed};
use crate::{BOTH, Cli, failed_with};

/// The systemd unit runs `create --all-tenants` and relies on its exit
/// code: one tenant down makes it exit non-zero, naming that tenant, while
/// every other tenant is still backed up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_all_tenants_exits_non_zero_on_a_partial_failure() {
    let (alice, bob) = (Tenant::start(), Tenant::start());
    alice.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("alice", &alice), ("bob", &bob)]);
    let d = TestDaemon::start(&config).await;
    bob.stop();
    for transport in BOTH {
        let cli = Cli::new(&d, transport, Some(d.admin()));
        let out = cli
            .run(&["create", "--all-tenants", "--output", "json"])
            .await;
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let failed: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("failed: "))
            .collect();
        assert_eq!(failed.len(), 1, "{stderr}");
        assert!(failed[0].starts_with("failed: bob: "), "{stderr}");
        let created: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut got: Vec<String> = created["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{}/{}", r["username"], r["database"]).replace('"', ""))
            .collect();
        got.sort();
        // alice's globals (roles) have no database.
        assert_eq!(got, ["alice/", "alice/app", "alice/postgres"], "{created}");
        for r in created["records"].as_array().unwrap() {
            let dump = config
                .backup_dir
                .join(format!("{}.dump", r["id"].as_str().unwrap()));
            assert!(dump.exists(), "{}", dump.display());
        }
    }
    d.stop().await;
}

/// The claims of a JWT, decoded without verifying (what any holder sees).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn mint(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_containarium"))
        .args(["token", "mint"])
        .args(args)
        .env_remove("CONTAINARIUM_CONFIG")
        .env_remove("CONTAINARIUM_JWT_SECRET_FILE")
        .env(
            "CONTAINARIUM_JWT_SECRET",
            std::str::from_utf8(SECRET).unwrap(),
        )
        .output()
        .unwrap()
}

/// `token mint` writes exactly the scopes and lifetime asked for, and the
/// daemon honours them: a read-only token lists but may not create.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_mint_writes_the_scopes_and_expiry_asked_for() {
    let t = Tenant::start();
    t.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&config_for(dir.path(), &[("alice", &t)])).await;

    let before = chrono::Utc::now().timestamp();
    let out = mint(&[
        "--username",
        "alice",
        "--scopes",
        "backups:read",
        "--ttl",
        "90min",
    ]);
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let c = claims(&token);
    assert_eq!(c["username"], "alice", "{c}");
    assert_eq!(c["scopes"], serde_json::json!(["backups:read"]), "{c}");
    assert_eq!(c["roles"], serde_json::json!([]), "{c}");
    assert_eq!(c["tt"], "access", "{c}");
    assert_eq!(c["aud"], "containarium-api", "{c}");
    let (iat, exp) = (c["iat"].as_i64().unwrap(), c["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 90 * 60, "{c}");
    assert!(
        (before..=chrono::Utc::now().timestamp()).contains(&iat),
        "{c}"
    );

    // Without --scopes: every scope, written into the token.
    let out = mint(&["--username", "root", "--roles", "admin", "--ttl", "2h"]);
    let admin = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let c = claims(&admin);
    assert_eq!(c["scopes"], serde_json::json!(["*"]), "{c}");
    assert_eq!(c["roles"], serde_json::json!(["admin"]), "{c}");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        7200
    );

    // Months are not minutes.
    let out = mint(&["--username", "alice", "--ttl", "15m"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("write min for minutes"),
        "{out:?}"
    );

    for transport in BOTH {
        let reader = Cli::new(&d, transport, Some(token.clone()));
        reader.ok(&["list"]).await;
        failed_with(
            &reader.run(&["create", "alice", "--database", "app"]).await,
            "this token lacks the backups:write scope",
        );
        Cli::new(&d, transport, Some(admin.clone()))
            .ok(&["create", "alice", "--database", "app"])
            .await;
    }
    d.stop().await;
}

fn completions(shell: &str) -> tempfile::NamedTempFile {
    let out = Command::new(env!("CARGO_BIN_EXE_containarium"))
        .args(["completions", shell])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &out.stdout).unwrap();
    file
}

fn shell(program: &str, script: &str) -> String {
    let out = Command::new(program)
        .args(["-c", script])
        .output()
        .unwrap_or_else(|e| panic!("{program} is missing ({e}): run ./scripts/setup.sh"));
    assert!(out.status.success(), "{program}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The generated completions load in a real zsh (the completion function is
/// registered for the command) and a real fish (completing `containarium
/// b` offers `backup`, and `containarium backup ` its subcommands).
#[test]
fn zsh_and_fish_load_the_completions() {
    let zsh = completions("zsh");
    let registered = shell(
        "zsh",
        &format!(
            "autoload -Uz compinit && compinit -u -D && source {} && print -r -- $_comps[containarium]",
            zsh.path().display()
        ),
    );
    assert_eq!(registered.trim(), "_containarium");

    let fish = completions("fish");
    let offered = shell(
        "fish",
        &format!(
            "source {}; complete -C 'containarium b'; complete -C 'containarium backup '",
            fish.path().display()
        ),
    );
    let words: Vec<&str> = offered
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    for want in ["backup", "create", "list", "restore", "prune"] {
        assert!(words.contains(&want), "{want} not offered: {offered}");
    }
}

/// `restore --jobs` (parallel, not atomic) brings every row back; `--jobs`
/// beyond the limit is refused; `--no-owner` leaves the restored tables to
/// the restoring role, where a plain restore gives them back their owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restore_jobs_and_no_owner_through_the_flags() {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", "alice");
    t.psql(
        "app",
        "CREATE ROLE keeper; CREATE TABLE kept(i int); INSERT INTO kept VALUES (1); \
         ALTER TABLE kept OWNER TO keeper",
    );
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&config_for(dir.path(), &[("alice", &t)])).await;
    let owner = |db: &str| {
        t.psql(
            db,
            "SELECT tableowner FROM pg_tables WHERE tablename = 'kept'",
        )
    };
    for transport in BOTH {
        let cli = Cli::new(&d, transport, Some(d.token("alice", &[], None)));
        let created = cli.json(&["create", "alice", "--database", "app"]).await;
        let id = created["record"]["id"].as_str().unwrap().to_string();
        let tag = format!("{transport:?}").to_lowercase();

        let parallel = format!("jobs_{tag}");
        cli.ok(&["restore", &id, "--database", &parallel, "--jobs", "4"])
            .await;
        assert_eq!(fingerprint(&t, &parallel), fingerprint(&t, "app"));
        assert_eq!(owner(&parallel), "keeper");
        let refused = cli
            .run(&["restore", &id, "--database", "never", "--jobs", "65"])
            .await;
        assert_eq!(refused.status.code(), Some(2), "{refused:?}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("65 is not in 1..=64"),
            "{refused:?}"
        );
        assert!(!t.databases().contains(&"never".to_string()));

        let plain = format!("no_owner_{tag}");
        cli.ok(&["restore", &id, "--database", &plain, "--no-owner"])
            .await;
        assert_eq!(fingerprint(&t, &plain), fingerprint(&t, "app"));
        assert_eq!(owner(&plain), "postgres");
    }
    d.stop().await;
}
