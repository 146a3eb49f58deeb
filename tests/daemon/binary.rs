//! The `containarium daemon` binary itself: configuration, refusals, the
//! audit trail, and what SIGTERM / SIGKILL during a backup leave behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use serde_json::{Value, json};

use crate::support::Tenant;
use crate::support::daemon::SECRET;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_containarium");

pub(crate) fn config_file(dir: &Path, netns: &str, extra: &str) -> PathBuf {
    let p = dir.join("containarium.toml");
    let text = format!(
        "backup-dir = \"{}\"\n{extra}\n[server]\ngrpc-listen = \"127.0.0.1:0\"\nhttp-listen = \"127.0.0.1:0\"\n\
         [tenants.alice]\ndriver = \"netns\"\ncontainer = \"{netns}\"\n",
        dir.join("backups").display()
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// A daemon process; its addresses come from its own "listening" log line.
pub(crate) struct Daemon {
    child: Child,
    pub(crate) http: String,
    pub(crate) grpc: String,
    pub(crate) lines: mpsc::Receiver<String>,
}

impl Daemon {
    pub(crate) fn start(config: &Path) -> Self {
        let mut child = Command::new(BIN)
            .args(["daemon", "--log-format", "json", "--config"])
            .arg(config)
            .env(
                "CONTAINARIUM_JWT_SECRET",
                std::str::from_utf8(SECRET).unwrap(),
            )
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (http, grpc) = loop {
            let line = rx
                .recv_timeout(std::time::Duration::from_mins(1))
                .expect("the daemon exited or stayed silent before listening");
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if v["fields"]["message"] == "containarium daemon listening" {
                let addr = |k: &str| v["fields"][k].as_str().unwrap().to_string();
                break (addr("http"), addr("grpc"));
            }
        };
        Self {
            child,
            http,
            grpc,
            lines: rx,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    pub(crate) fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().unwrap();
        (status, self.lines.try_iter().collect())
    }
}

pub(crate) fn token(username: &str, roles: &[&str]) -> String {
    scoped_token(username, roles, &[])
}

/// A token limited to `scopes` (none given: `*`, as `token mint` writes).
pub(crate) fn scoped_token(username: &str, roles: &[&str], scopes: &[&str]) -> String {
    let list = |flag: &str, v: &[&str]| {
        if v.is_empty() {
            vec![]
        } else {
            vec![flag.to_string(), v.join(",")]
        }
    };
    let out = Command::new(BIN)
        .args(["token", "mint", "--username", username, "--ttl", "10min"])
        .args(list("--roles", roles))
        .args(list("--scopes", scopes))
        .env(
            "CONTAINARIUM_JWT_SECRET",
            std::str::from_utf8(SECRET).unwrap(),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.retain(|n| n != "audit.jsonl" && n != ".spool" && n != ".index");
    v.sort();
    v
}

#[test]
fn config_is_read_without_side_effects_and_secrets_are_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(
        dir.path(),
        "ns",
        "[auth]\njwt-secret = \"inline-secret-value-0123456789abcdef\"",
    );
    let out = Command::new(BIN)
        .args(["daemon", "--print-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success());
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.contains("jwt-secret = \"<redacted>\""), "{shown}");
    assert!(!shown.contains("inline-secret-value"));
    assert!(
        !dir.path().join("backups").exists(),
        "loading the config created nothing"
    );

    let out = Command::new(BIN)
        .args(["daemon", "--print-config", "--config"])
        .arg(&cfg)
        .env("CONTAINARIUM_BACKUP_DIR", "/srv/elsewhere")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("backup-dir = \"/srv/elsewhere\""),
        "env overrides the file"
    );
    let out = Command::new(BIN)
        .args(["daemon", "--print-config", "--config"])
        .arg(&cfg)
        .env("CONTAINARIUM_S3_DEFAULT_BUCKET", "s3://from-env/p")
        .env(
            "CONTAINARIUM_S3_SECRET_ACCESS_KEY",
            "env-secret-key-material",
        )
        .env("CONTAINARIUM_GCS_ALLOWED_BUCKETS", "one,two")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("[s3]") && shown.contains("default-bucket = \"s3://from-env/p\""),
        "[s3] from the environment: {shown}"
    );
    assert!(
        shown.contains("allowed-buckets = [\"one\", \"two\"]"),
        "{shown}"
    );
    assert!(!shown.contains("env-secret-key-material"), "{shown}");

    std::fs::write(&cfg, "backup-dri = \"/x\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["daemon", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("backup-dri") && err.lines().count() <= 6,
        "{err}"
    );
}

#[test]
fn refuses_weak_secrets_and_dev_mode_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), "ns", "");
    let out = Command::new(BIN)
        .args(["daemon", "--config"])
        .arg(&cfg)
        .env("CONTAINARIUM_JWT_SECRET", "too-short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 32 bytes"));

    let out = Command::new(BIN)
        .args([
            "daemon",
            "--insecure-no-auth",
            "--http-listen",
            "0.0.0.0:0",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    assert!(files(&dir.path().join("backups")).is_empty());
}

#[test]
fn every_action_and_every_denial_is_audited_without_secrets() {
    let t = Tenant::start_with_password("audit-pw-Zx9");
    t.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_file(dir.path(), &t.netns, ""));
    let admin = token("root", &["admin"]);
    let bob = token("bob", &[]);
    let http = reqwest::blocking::Client::new();
    let post = |path: &str, tok: &str, body: Value| {
        http.post(format!("http://{}{path}", d.http))
            .bearer_auth(tok)
            .body(body.to_string())
            .send()
            .unwrap()
    };
    let conn = json!({"database": "app", "password": "audit-pw-Zx9"});
    let r: Value = post(
        "/v1/backups",
        &admin,
        json!({"username": "alice", "connection": conn, "destination": 1}),
    )
    .json()
    .unwrap();
    let id = r["record"]["id"].as_str().unwrap().to_string();
    let denied = post(
        "/v1/backups",
        &bob,
        json!({"username": "alice", "connection": conn, "destination": 1}),
    );
    assert_eq!(denied.status(), 403);
    let restore = json!({"connection": {"database": "copy", "password": "audit-pw-Zx9"}});
    assert_eq!(
        post(&format!("/v1/backups/{id}/restore"), &admin, restore).status(),
        200
    );
    // Into its own container: refused before anything runs, and audited.
    let own = post(
        &format!("/v1/backups/{id}/verify"),
        &admin,
        json!({"targetUsername": "alice"}),
    );
    assert_eq!(own.status(), 400);
    let del = http
        .delete(format!("http://{}/v1/backups/{id}", d.http))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(del.status(), 200);
    let anon = http
        .get(format!("http://{}/v1/backups", d.http))
        .send()
        .unwrap();
    assert_eq!(anon.status(), 401);
    d.signal("-TERM");
    let (status, logs) = d.wait();
    assert!(status.success());

    let audit = std::fs::read_to_string(dir.path().join("backups/audit.jsonl")).unwrap();
    // The chain's own markers and the intent before the delete aside
    // (tests/cli/audit.rs checks those).
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l.get("marker").is_none() && l["phase"] != "intent")
        .collect();
    let summary: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap().to_string(),
                l["subject"].as_str().unwrap().to_string(),
                l["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("create", "root", "ok"),
        ("create", "bob", "denied"),
        ("restore", "root", "ok"),
        ("verify", "root", "failed"),
        ("delete", "root", "ok"),
        ("list", "", "denied"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into()))
        .collect();
    assert_eq!(summary, want);
    for l in &lines {
        for k in [
            "timestamp",
            "action",
            "id",
            "tenant",
            "database",
            "size_bytes",
            "destination",
            "subject",
            "outcome",
            "error",
            "duration_ms",
        ] {
            assert!(l.get(k).is_some(), "{k} in {l}");
        }
    }
    assert_eq!(lines[0]["id"], id.as_str());
    assert_eq!(lines[0]["tenant"], "alice");
    assert_eq!(lines[0]["database"], "app");
    assert!(lines[0]["size_bytes"].as_i64().unwrap() > 0);
    assert_eq!(lines[0]["destination"], "local");
    assert_eq!(lines[4]["id"], id.as_str());
    let everything = format!("{audit}\n{}", logs.join("\n"));
    assert!(
        everything.contains("\"action\":\"create\""),
        "audit lines also go to the log"
    );
    for secret in [
        "audit-pw-Zx9",
        admin.as_str(),
        bob.as_str(),
        std::str::from_utf8(SECRET).unwrap(),
    ] {
        assert!(
            !everything.contains(secret),
            "a secret leaked into the audit trail or logs"
        );
    }
}

/// A backup running when the daemon is told to stop either commits fully or
/// leaves nothing: SIGTERM lets it finish; SIGKILL leaves only temporary
/// files, which the next start removes.
#[test]
fn stopping_during_a_backup_never_leaves_half_a_record() {
    let t = Tenant::start();
    t.create_db("big");
    t.psql("big", "CREATE TABLE b AS SELECT g, md5(g::text) || repeat('x', 200) AS h FROM generate_series(1, 600000) g");
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let cfg = config_file(dir.path(), &t.netns, "");
    let admin = token("root", &["admin"]);

    for sig in ["-TERM", "-KILL"] {
        let d = Daemon::start(&cfg);
        let url = format!("http://{}/v1/backups", d.http);
        let tok = admin.clone();
        let req = std::thread::spawn(move || {
            reqwest::blocking::Client::builder()
                .timeout(None)
                .build()
                .unwrap()
                .post(url)
                .bearer_auth(tok)
                .body(json!({"username": "alice", "connection": {"database": "big"}, "destination": 1}).to_string())
                .send()
                .map(|r| r.status().as_u16())
        });
        // Wait (bounded) until the dump is streaming into its temporary file.
        let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
        while !files(&backups).iter().any(|f| f.ends_with(".tmp")) {
            assert!(
                std::time::Instant::now() < deadline,
                "the dump never started writing its temporary file: {:?}",
                files(&backups)
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        d.signal(sig);
        let (status, _) = d.wait();
        let answer = req.join().unwrap();
        let left = files(&backups);
        if sig == "-TERM" {
            assert!(status.success());
            assert_eq!(
                answer.unwrap(),
                200,
                "the running backup was allowed to finish"
            );
            assert_eq!(
                left.iter().filter(|f| f.ends_with(".meta.json")).count(),
                1,
                "{left:?}"
            );
            assert_eq!(
                left.iter().filter(|f| f.ends_with(".dump")).count(),
                1,
                "{left:?}"
            );
            assert_eq!(left.len(), 2, "{left:?}");
        } else {
            assert!(answer.is_err(), "the connection died with the daemon");
            assert_eq!(
                left.iter().filter(|f| f.ends_with(".meta.json")).count(),
                1,
                "no new record: {left:?}"
            );
            assert!(
                left.iter().any(|f| f.ends_with(".tmp")),
                "only temporary files: {left:?}"
            );
            // The next start sweeps them.
            let again = Daemon::start(&cfg);
            again.signal("-TERM");
            again.wait();
            assert_eq!(files(&backups).len(), 2, "{:?}", files(&backups));
        }
    }
}

#[test]
fn tokens_never_outlive_the_configured_maximum_and_completions_print() {
    let mint = |ttl: &str| {
        Command::new(BIN)
            .args(["token", "mint", "--username", "alice", "--ttl", ttl])
            .env(
                "CONTAINARIUM_JWT_SECRET",
                std::str::from_utf8(SECRET).unwrap(),
            )
            .output()
            .unwrap()
    };
    assert!(mint("30d").status.success());
    let too_long = mint("31d");
    assert!(!too_long.status.success());
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("maximum"));
    assert!(too_long.stdout.is_empty(), "no token printed");
    // Overflowing lifetimes are refused, never wrapped into a short or
    // negative one; `m` (months everywhere) is ambiguous for a lifetime.
    for (ttl, why) in [
        ("4000000000d", "out of range"),
        ("357913942y", "out of range"),
        ("99999999999999999999s", "out of range"),
        ("15m", "min for minutes"),
    ] {
        let out = mint(ttl);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(why), "{ttl}: {err}");
        assert!(out.stdout.is_empty(), "{ttl}: no token printed");
    }
    assert!(mint("15min").status.success());

    let out = Command::new(BIN)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("containarium"));
}
