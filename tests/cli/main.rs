//! The real `containarium backup` binary against the real daemon (in-process
//! on port 0) and real tenant clusters, through both transports: every
//! command must behave the same over gRPC and over `--http` REST.

#[path = "../support/mod.rs"]
mod support;

mod audit;
mod commands;
mod compat;
mod deploy;
mod errors;
mod progress;
mod retention;
mod tls;

use std::path::Path;
use std::process::{Command, Output};

use assert_cmd::assert::OutputAssertExt as _;
use serde_json::Value;
use support::daemon::TestDaemon;
use support::{Tenant, config_for, fingerprint, seed, with_scratch};

/// Which wire the CLI speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Grpc,
    Rest,
}

const BOTH: [Transport; 2] = [Transport::Grpc, Transport::Rest];

/// `containarium backup …` aimed at one daemon over one transport, with a
/// clean environment (no inherited token, server or default token file).
struct Cli {
    server: String,
    http: bool,
    token: Option<String>,
    /// An empty XDG_CONFIG_HOME, so no developer's token file leaks in.
    config_home: tempfile::TempDir,
}

impl Cli {
    fn new(d: &TestDaemon, transport: Transport, token: Option<String>) -> Self {
        let (server, http) = match transport {
            Transport::Grpc => (format!("http://{}", d.grpc), false),
            Transport::Rest => (format!("http://{}", d.http), true),
        };
        Self::at(server, http, token)
    }

    fn at(server: String, http: bool, token: Option<String>) -> Self {
        Self {
            server,
            http,
            token,
            config_home: tempfile::tempdir().unwrap(),
        }
    }

    /// Where this CLI looks for `containarium/token`.
    fn config_home_path(&self) -> &Path {
        self.config_home.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_containarium"));
        c.arg("backup").args(args).arg("--server").arg(&self.server);
        if self.http {
            c.arg("--http");
        }
        for var in [
            "CONTAINARIUM_TOKEN",
            "CONTAINARIUM_SERVER",
            "PGPASSWORD",
            "HOME",
        ] {
            c.env_remove(var);
        }
        c.env("XDG_CONFIG_HOME", self.config_home.path());
        if let Some(t) = &self.token {
            c.env("CONTAINARIUM_TOKEN", t);
        }
        c
    }

    /// Runs the binary off the async workers (the daemon needs them).
    async fn run(&self, args: &[&str]) -> Output {
        let mut c = self.command(args);
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }

    /// Runs and requires success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let text = String::from_utf8(out.stdout.clone()).unwrap();
        out.assert().success();
        text
    }

    /// Runs with `--output json` and requires success.
    async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        serde_json::from_str(&self.ok(&all).await).unwrap()
    }
}

/// Requires a failure reported as exactly one `error: …` line on stderr
/// containing `needle`; returns that line.
fn failed_with(out: &Output, needle: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "expected a failure, got {out:?}");
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr:?}");
    assert!(
        stderr.to_lowercase().contains(&needle.to_lowercase()),
        "{needle:?} not in {stderr:?}"
    );
    stderr
}

/// The line of `table` whose first column is `id`.
fn row<'a>(table: &'a str, id: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("no row {id} in\n{table}"))
}

async fn round_trip(transport: Transport) {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", "alice");
    let bob = Tenant::start();
    let dir = tempfile::tempdir().unwrap();
    let config = with_scratch(
        config_for(dir.path(), &[("alice", &t), ("bob", &bob)]),
        "bob",
    );
    let d = TestDaemon::start(&config).await;
    let cli = Cli::new(&d, transport, Some(d.token("alice", &[], None)));

    // create (json): the proto3 JSON of CreateBackupResponse.
    let created = cli.json(&["create", "alice", "--database", "app"]).await;
    let rec = &created["record"];
    let id = rec["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("alice-app-"), "{created}");
    assert_eq!(created["records"][0]["id"], id.as_str());
    assert_eq!(created["failures"], serde_json::json!([]));
    assert_eq!(rec["destination"], "BACKUP_DESTINATION_LOCAL");
    assert_eq!(rec["engine"], "BACKUP_ENGINE_POSTGRES");
    assert_eq!(rec["relationCount"], "5");
    let size: i64 = rec["sizeBytes"].as_str().unwrap().parse().unwrap();
    assert!(size > 0);
    // A tenant sees the dump's file name, not where the host keeps it.
    let location = rec["location"].as_str().unwrap();
    assert_eq!(location, format!("{id}.dump"));
    let dump = config.backup_dir.join(location);
    assert!(dump.exists(), "{}", dump.display());

    // create (table): the message, then the records table.
    let out = cli.ok(&["create", "alice", "--database", "app"]).await;
    let mut lines = out.lines();
    assert!(!lines.next().unwrap().is_empty(), "message first: {out}");
    assert!(lines.next().unwrap().starts_with("ID  "), "{out}");
    assert!(lines.next().unwrap().starts_with("alice-app-"), "{out}");

    // list (table).
    let table = cli.ok(&["list"]).await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "ID", "USER", "DATABASE", "CREATED", "SIZE", "DEST", "VERIFIED", "LOCATION"
        ]
    );
    assert_eq!(table.lines().count(), 3, "header + two backups:\n{table}");
    let cells: Vec<&str> = row(&table, &id).split_whitespace().collect();
    assert_eq!(cells[1..3], ["alice", "app"]);
    assert_eq!(cells[3], rec["createdAt"].as_str().unwrap());
    assert!(
        matches!(cells[5], "B" | "KiB" | "MiB"),
        "size unit: {cells:?}"
    );
    assert_eq!(cells[6..], ["local", "never", location]);

    // list (json), filtered by tenant.
    let listed = cli.json(&["list", "alice"]).await;
    let records = listed["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    let mine = records.iter().find(|r| r["id"] == id.as_str()).unwrap();
    assert_eq!(mine, rec, "list and create agree");
    assert_eq!(listed["warnings"], serde_json::json!([]));

    // get (table, json).
    let detail = cli.ok(&["get", &id]).await;
    for want in [
        format!("id:          {id}"),
        "user:        alice".into(),
        "database:    app".into(),
        format!("size:        {} ({size} bytes)", cells[4..6].join(" ")),
        format!("sha256:      {}", rec["sha256"].as_str().unwrap()),
        "destination: local".into(),
        format!("location:    {location}"),
        "engine:      postgres".into(),
        "relations:   5".into(),
        "verified:    never".into(),
    ] {
        assert!(
            detail.lines().any(|l| l == want),
            "{want:?} not in\n{detail}"
        );
    }
    assert_eq!(cli.json(&["get", &id]).await["record"], *rec);

    // restore into another database: every row comes back.
    let out = cli.ok(&["restore", &id, "--database", "copy"]).await;
    assert!(out.contains("restored"), "{out}");
    assert_eq!(fingerprint(&t, "copy"), fingerprint(&t, "app"));
    t.psql("copy", "DELETE FROM people WHERE id > 10");
    cli.ok(&["restore", &id, "--database", "copy", "--clean"])
        .await;
    assert_eq!(fingerprint(&t, "copy"), fingerprint(&t, "app"));

    verify(&d, &cli, transport, &id, &bob).await;

    // delete; the id is gone afterwards.
    let out = cli.ok(&["delete", &id]).await;
    assert!(out.contains("deleted"), "{out}");
    assert!(!dump.exists());
    failed_with(&cli.run(&["get", &id]).await, "not found");
    failed_with(&cli.run(&["delete", &id]).await, "not found");
    d.stop().await;
}

/// Verification into another tenant: the owner may not (one error line), an
/// admin may; PASSED exits 0 and shows up in `list` and `get`.
async fn verify(d: &TestDaemon, cli: &Cli, transport: Transport, id: &str, bob: &Tenant) {
    let out = cli.run(&["verify", id, "--target", "bob"]).await;
    failed_with(&out, "verify only into a tenant they own");

    let admin = Cli::new(d, transport, Some(d.admin()));
    let out = admin.ok(&["verify", id, "--target", "bob"]).await;
    assert!(out.lines().any(|l| l == "result:      pass"), "{out}");
    let target = format!("target:      netns:{}", bob.netns);
    assert!(out.lines().any(|l| l == target), "{out}");
    assert!(out.contains("checks:\n"), "{out}");

    let table = cli.ok(&["list"]).await;
    assert!(row(&table, id).contains(" pass 20"), "{table}");
    let detail = cli.ok(&["get", id]).await;
    assert!(
        detail
            .lines()
            .any(|l| l.starts_with("verified:    pass 20")),
        "{detail}"
    );
    assert!(
        detail.lines().any(|l| l == "  verified by: root"),
        "{detail}"
    );
    let got = cli.json(&["get", id]).await;
    assert_eq!(
        got["record"]["lastVerification"]["result"],
        "VERIFICATION_RESULT_PASSED"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn round_trip_over_grpc() {
    round_trip(Transport::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn round_trip_over_rest() {
    round_trip(Transport::Rest).await;
}

/// The same daemon answers both transports with byte-identical JSON output.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn both_transports_print_the_same() {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", "alice");
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&config_for(dir.path(), &[("alice", &t)])).await;
    let admin = Some(d.admin());
    let grpc = Cli::new(&d, Transport::Grpc, admin.clone());
    let rest = Cli::new(&d, Transport::Rest, admin);

    // An all-databases create: the globals, app and postgres, no single `record`.
    let created = rest.json(&["create", "alice"]).await;
    assert_eq!(created["records"].as_array().unwrap().len(), 3, "{created}");
    assert_eq!(created["records"][0]["kind"], "globals", "{created}");
    assert!(created["record"].is_null(), "{created}");
    let id = created["records"][0]["id"].as_str().unwrap().to_string();

    for args in [
        vec!["list"],
        vec!["list", "alice"],
        vec!["list", "--output", "json"],
        vec!["get", &id],
        vec!["get", &id, "--output", "json"],
    ] {
        let (g, r) = (grpc.run(&args).await, rest.run(&args).await);
        g.clone().assert().success();
        assert_eq!(g.stdout, r.stdout, "{args:?}");
        assert_eq!(g.status.code(), r.status.code(), "{args:?}");
    }
    d.stop().await;
}
