//! A tenant "container" for tests: its own Linux network namespace running its
//! own Postgres 15 cluster on 127.0.0.1:5432 — what a tenant container looks
//! like to the daemon. Dropping it stops Postgres and deletes the namespace,
//! also when the test panics; namespaces leaked by killed test processes are
//! swept on the next start.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const PREFIX: &str = "ctn-";

static SWEEP: Once = Once::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A running tenant cluster.
pub struct Tenant {
    /// The network namespace (the driver's "container").
    pub netns: String,
    root: tempfile::TempDir,
    /// The superuser password when the cluster uses scram, else empty.
    pub password: String,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn sweep_leaked() {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|r| r.split('-').next()) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let pids = Command::new("ip")
            .args(["netns", "pids", name])
            .output()
            .expect("ip netns pids");
        for p in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-9", p]).status();
        }
        let _ = Command::new("ip").args(["netns", "del", name]).status();
    }
}

impl Tenant {
    /// A cluster with trust authentication.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A cluster whose TCP connections need `password` (scram-sha-256).
    pub fn start_with_password(password: &str) -> Self {
        Self::start_with(Some(password))
    }

    fn start_with(password: Option<&str>) -> Self {
        assert!(
            Path::new(PG_BIN).join("initdb").exists(),
            "PostgreSQL 15 server binaries are missing in {PG_BIN}: run ./scripts/setup.sh"
        );
        SWEEP.call_once(sweep_leaked);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let netns = format!("{PREFIX}{}-{n}", std::process::id());
        let root = tempfile::Builder::new()
            .prefix("containarium-tenant-")
            .tempdir()
            .unwrap();
        // The postgres user must traverse into the directory.
        run(Command::new("chmod").arg("755").arg(root.path()));
        let t = Self {
            netns,
            root,
            password: password.unwrap_or_default().to_string(),
        };
        run(Command::new("ip").args(["netns", "add", &t.netns]));
        run(Command::new("ip").args(["netns", "exec", &t.netns, "ip", "link", "set", "lo", "up"]));
        std::fs::create_dir(t.sock()).unwrap();
        std::fs::create_dir(t.data()).unwrap();
        run(Command::new("chown")
            .arg("postgres:postgres")
            .arg(t.sock())
            .arg(t.data()));
        run(Command::new("chmod").arg("700").arg(t.data()));
        let mut initdb = Command::new("runuser");
        initdb
            .args(["-u", "postgres", "--"])
            .arg(format!("{PG_BIN}/initdb"));
        initdb.arg("-D").arg(t.data()).args([
            "-U",
            "postgres",
            "--auth-local=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]);
        if let Some(p) = password {
            let pwfile = t.root.path().join("pwfile");
            std::fs::write(&pwfile, format!("{p}\n")).unwrap();
            run(Command::new("chown").arg("postgres").arg(&pwfile));
            initdb
                .arg("--auth-host=scram-sha-256")
                .arg(format!("--pwfile={}", pwfile.display()));
        } else {
            initdb.arg("--auth-host=trust");
        }
        run(&mut initdb);
        t.pg_start();
        t
    }

    /// Starts the cluster's server (again, after [`Tenant::stop`]).
    pub fn pg_start(&self) {
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -c port=5432 -c unix_socket_directories={} -c fsync=off \
             -c max_connections=60",
            self.sock().display()
        );
        run(Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns,
                "runuser",
                "-u",
                "postgres",
                "--",
            ])
            .arg(format!("{PG_BIN}/pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.sock().join("postgres.log"))
            .args(["-o", &opts, "-w", "start"]));
    }

    fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// The Unix socket directory (reachable from the host, trust auth).
    pub fn sock(&self) -> PathBuf {
        self.root.path().join("sock")
    }

    /// Runs SQL as the superuser over the Unix socket and returns the output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = run(Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.sock())
            .args(["-p", "5432", "-U", "postgres", "-d", database, "-c", sql]));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Like [`Tenant::psql`], but returns the error text instead of panicking.
    pub fn try_psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let out = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.sock())
            .args(["-p", "5432", "-U", "postgres", "-d", database, "-c", sql])
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).to_string())
        }
    }

    pub fn create_db(&self, name: &str) {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
    }

    pub fn databases(&self) -> Vec<String> {
        self.psql(
            "postgres",
            "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1",
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// Stops the server (to test "server down").
    pub fn stop(&self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{PG_BIN}/pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

impl Drop for Tenant {
    fn drop(&mut self) {
        self.stop();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}
