//! One case's world: real tenants (alice with a small database, a scratch
//! tenant for restore tests), a config file, and the daemon as a process —
//! the `containarium` binary itself, so a fault can abort it or a test can
//! kill it with SIGKILL, and it starts again over the same directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use containarium::auth::jwt::Keys;
use containarium::proto::backup_service_client::BackupServiceClient;
use containarium::proto::{self, BackupDestination};
use tonic::transport::Channel;

use crate::support::daemon::{SECRET, TestDaemon, authed};
use crate::support::{Tenant, fingerprint, seed};

const BIN: &str = env!("CARGO_BIN_EXE_containarium");

/// The tenants and directory a case runs in.
pub struct World {
    pub dir: tempfile::TempDir,
    pub alice: Tenant,
    pub scratch: Tenant,
    /// Extra TOML for the config: top-level keys first, then tables
    /// (`[s3]`, `[dump]` …).
    pub extra: String,
    /// Extra environment for the daemon (bucket credentials).
    pub env: Vec<(String, String)>,
    /// Where the backups go (overridable: a small filesystem).
    pub backup_dir: PathBuf,
    /// The restore and verify markers (`.<id>.busy`, parsed) that daemons
    /// found when they started: what start-up recovery had to deal with.
    markers: Mutex<Vec<serde_json::Value>>,
}

impl World {
    /// alice with database `app` (the shared seed: every kind of table),
    /// and an empty scratch tenant.
    pub fn new() -> Self {
        Self::with_alice(Tenant::start())
    }

    /// As [`World::new`], but alice's server wants `password` over TCP
    /// (the daemon's requests carry it).
    pub fn with_password(password: &str) -> Self {
        Self::with_alice(Tenant::start_with_password(password))
    }

    fn with_alice(alice: Tenant) -> Self {
        alice.create_db("app");
        seed(&alice, "app", "alice");
        let dir = tempfile::tempdir().unwrap();
        Self {
            backup_dir: dir.path().join("backups"),
            dir,
            alice,
            scratch: Tenant::start(),
            extra: String::new(),
            env: Vec::new(),
            markers: Mutex::new(Vec::new()),
        }
    }

    /// Every restore or verify marker a daemon started over, in order.
    pub fn markers_seen(&self) -> Vec<serde_json::Value> {
        self.markers.lock().unwrap().clone()
    }

    /// The tenant the config names `name`.
    pub fn tenant(&self, name: &str) -> &Tenant {
        match name {
            "alice" => &self.alice,
            "scratch" => &self.scratch,
            other => panic!("no tenant {other} in this world"),
        }
    }

    /// Adds `table` to alice's `app` with `mib` MiB of incompressible rows, so a
    /// dump or restore is still streaming when a fault is injected.
    pub fn grow(&self, table: &str, mib: u32) {
        self.alice.psql(
            "app",
            &format!(
                "CREATE EXTENSION IF NOT EXISTS pgcrypto; CREATE TABLE {table}(id int, b bytea); \
                 INSERT INTO {table} SELECT g, gen_random_bytes(1024) FROM generate_series(1, {}) g",
                mib * 1024
            ),
        );
    }

    pub fn app_fingerprint(&self) -> Vec<String> {
        fingerprint(&self.alice, "app")
    }

    fn config(&self, backup_dir: &Path) -> PathBuf {
        let p = backup_dir.with_extension("toml");
        let text = format!(
            "backup-dir = \"{}\"\n{}\n[server]\ngrpc-listen = \"127.0.0.1:0\"\n\
             http-listen = \"127.0.0.1:0\"\n\
             [tenants.alice]\ndriver = \"netns\"\ncontainer = \"{}\"\n\
             [tenants.scratch]\ndriver = \"netns\"\ncontainer = \"{}\"\nscratch = true\n",
            backup_dir.display(),
            self.extra,
            self.alice.netns,
            self.scratch.netns,
        );
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Starts the daemon, with `fault` (`phase:abort|pause`) armed if given.
    pub fn daemon(&self, fault: Option<&str>) -> Daemon {
        self.daemon_at(&self.backup_dir, fault)
    }

    /// A daemon over another backup directory (a second host sharing the
    /// bucket), with `fault` armed if given.
    pub fn daemon_at(&self, backup_dir: &Path, fault: Option<&str>) -> Daemon {
        for f in files(backup_dir) {
            if f.starts_with('.') && f.ends_with(".busy") {
                let text = std::fs::read(backup_dir.join(&f)).unwrap();
                let marker = serde_json::from_slice(&text)
                    .unwrap_or_else(|e| panic!("marker {f} is JSON: {e}"));
                self.markers.lock().unwrap().push(marker);
            }
        }
        let fault_dir = backup_dir.with_extension("fault");
        let _ = std::fs::remove_dir_all(&fault_dir);
        std::fs::create_dir_all(&fault_dir).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["daemon", "--log-format", "json", "--config"])
            .arg(self.config(backup_dir))
            .env(
                "CONTAINARIUM_JWT_SECRET",
                std::str::from_utf8(SECRET).unwrap(),
            )
            .env("CONTAINARIUM_FAULT_DIR", &fault_dir)
            .env_remove("CONTAINARIUM_FAULT")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        if let Some(f) = fault {
            cmd.env("CONTAINARIUM_FAULT", f);
        }
        let mut child = cmd.spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if v["fields"]["message"] == "containarium daemon listening" {
                    let _ = tx.send(v["fields"]["grpc"].as_str().unwrap_or("").to_string());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let grpc = rx.recv_timeout(Duration::from_mins(1)).unwrap_or_else(|_| {
            panic!(
                "the daemon never listened: {:?}",
                lines.lock().unwrap().join("\n")
            )
        });
        Daemon {
            child,
            password: self.alice.password.clone(),
            grpc,
            lines,
            fault_dir,
            keys: Keys::new(SECRET).unwrap(),
        }
    }
}

/// A running daemon process.
pub struct Daemon {
    child: Child,
    /// alice's database password, sent with every create and restore.
    password: String,
    grpc: String,
    lines: Arc<Mutex<Vec<String>>>,
    fault_dir: PathBuf,
    keys: Keys,
}

impl Daemon {
    pub fn admin(&self) -> String {
        self.keys
            .mint(&TestDaemon::claims("root", &["admin"], Some(&["*"])))
            .unwrap()
    }

    pub async fn client(&self) -> BackupServiceClient<Channel> {
        BackupServiceClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap()
    }

    /// Starts a backup of alice's `app` to `dest` in the background.
    pub async fn create(
        &self,
        dest: BackupDestination,
    ) -> tokio::task::JoinHandle<Result<proto::CreateBackupResponse, tonic::Status>> {
        let req = proto::CreateBackupRequest {
            username: "alice".into(),
            connection: Some(proto::PgConnection {
                database: "app".into(),
                password: self.password.clone(),
                ..Default::default()
            }),
            destination: dest.into(),
            ..Default::default()
        };
        let (mut c, tok) = (self.client().await, self.admin());
        tokio::spawn(async move {
            c.create_backup(authed(req, &tok))
                .await
                .map(tonic::Response::into_inner)
        })
    }

    /// A backup of alice's `app` that must succeed: its record.
    pub async fn backup(&self, dest: BackupDestination) -> proto::BackupRecord {
        let out = self.create(dest).await.await.unwrap().unwrap();
        out.records.into_iter().next().expect("one record")
    }

    /// Restores `id` into alice's `database` (in the background).
    pub async fn restore(
        &self,
        id: &str,
        database: &str,
        clean: bool,
    ) -> tokio::task::JoinHandle<Result<String, tonic::Status>> {
        let req = proto::RestoreBackupRequest {
            id: id.into(),
            connection: Some(proto::PgConnection {
                database: database.into(),
                password: self.password.clone(),
                ..Default::default()
            }),
            clean,
            ..Default::default()
        };
        let (mut c, tok) = (self.client().await, self.admin());
        tokio::spawn(async move {
            c.restore_backup(authed(req, &tok))
                .await
                .map(|r| r.into_inner().message)
        })
    }

    /// A restore test of `id` into the scratch tenant.
    pub async fn verify(&self, id: &str) -> Result<proto::VerifyBackupResponse, tonic::Status> {
        let req = proto::VerifyBackupRequest {
            id: id.into(),
            target_username: "scratch".into(),
            connection: None,
        };
        self.client()
            .await
            .verify_backup(authed(req, &self.admin()))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Deletes `id`.
    pub async fn delete(&self, id: &str) -> Result<String, tonic::Status> {
        let req = proto::DeleteBackupRequest { id: id.into() };
        self.client()
            .await
            .delete_backup(authed(req, &self.admin()))
            .await
            .map(|r| r.into_inner().message)
    }

    /// Every record and every problem the daemon lists.
    pub async fn list(&self) -> (Vec<proto::BackupRecord>, Vec<String>) {
        let mut c = self.client().await;
        let (mut records, mut warnings, mut token) = (Vec::new(), Vec::new(), String::new());
        loop {
            let req = proto::ListBackupsRequest {
                page_token: token,
                ..Default::default()
            };
            let page = c
                .list_backups(authed(req, &self.admin()))
                .await
                .unwrap()
                .into_inner();
            records.extend(page.records);
            warnings.extend(page.warnings);
            if page.next_page_token.is_empty() {
                return (records, warnings);
            }
            token = page.next_page_token;
        }
    }

    /// Waits until the armed pause is reached.
    pub async fn reached(&self) {
        let marker = self.fault_dir.join("reached");
        for _ in 0..3000 {
            if marker.exists() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "the fault point was never reached: {}",
            self.log().join("\n")
        );
    }

    /// Lets a paused fault point go on.
    pub fn release(&self) {
        std::fs::write(self.fault_dir.join("release"), b"").unwrap();
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill9(mut self) -> Vec<String> {
        self.child.kill().unwrap();
        let _ = self.child.wait();
        self.log()
    }

    /// Waits for the process to end on its own (an armed abort): how it
    /// ended, and its log.
    pub fn ended(mut self) -> (ExitStatus, Vec<String>) {
        let status = self.child.wait().unwrap();
        (status, self.log())
    }

    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts the daemon died of the armed abort at `phase` (SIGABRT, after
/// logging the fault point), not of anything else.
pub fn assert_aborted_at(status: ExitStatus, log: &[String], phase: &str) {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(6), "aborted: {status:?}");
    assert!(
        log.iter()
            .any(|l| l.contains("fault point reached") && l.contains(phase)),
        "the fault point {phase} was reached: {}",
        log.join("\n")
    );
}

/// The files in `dir` (names), sorted.
pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
