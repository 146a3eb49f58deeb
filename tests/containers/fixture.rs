//! The tenants of `scripts/fixtures/containers.sh`, found through the
//! KEY=VALUE variables it exports: which manager, which containers, how to
//! reach Postgres, the password. Without them every test fails and says how
//! to run it. The helpers here talk to the containers with the manager's own
//! CLI as the fixture documents it, not through containarium's drivers, so
//! they can check what the drivers did.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;

use containarium::config::Config;
use containarium::proto;

use crate::support::Psql;

const HOW_TO_RUN: &str = "\
these tests need real container managers: run them through the fixture, which
starts the tenants, exports their variables and tears everything down after:

    ./scripts/test-containers.sh          # LXD, Incus, Podman, Docker
    scripts/fixtures/containers.sh with incus -- cargo test --test containers
    (likewise with lxd, podman or docker)

(see scripts/fixtures/README.md)";

/// The fixture's variable `name`; panics with [`HOW_TO_RUN`] when unset.
fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("{name} is not set: {HOW_TO_RUN}"),
    }
}

/// Files where a running Postgres legitimately writes: anything else that
/// changes inside a tenant during a backup or restore is a leftover.
const POSTGRES_OWN: [&str; 4] = [
    "/var/lib/postgresql/",
    "/var/log/postgresql/",
    "/run/postgresql/",
    "/var/run/postgresql/",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    Lxd,
    Incus,
    Podman,
    Docker,
}

impl Manager {
    /// The driver name in the daemon config.
    pub fn driver(self) -> &'static str {
        match self {
            Self::Lxd => "lxd",
            Self::Incus => "incus",
            Self::Podman => "podman",
            Self::Docker => "docker",
        }
    }

    /// The manager's client, and whether it speaks LXD's grammar (`exec
    /// NAME -- argv`, `info NAME`) or the OCI one (`exec -i NAME argv`,
    /// `inspect`).
    fn client(self) -> (&'static str, bool) {
        match self {
            Self::Lxd => ("lxc", true),
            Self::Incus => ("incus", true),
            Self::Podman => ("podman", false),
            Self::Docker => ("docker", false),
        }
    }
}

/// The running fixture of one manager: a trust tenant and a scram tenant.
pub struct Fixture {
    pub manager: Manager,
    /// `ctr-*-alice`: TCP without a password.
    pub trust: Container,
    /// `ctr-*-bob`: TCP needs [`Fixture::password`] (scram-sha-256).
    pub scram: Container,
    pub password: String,
    pg_host: String,
    pg_port: i32,
    pg_user: String,
}

impl Fixture {
    /// Reads the variables `containers.sh up|with` exports.
    ///
    /// # Panics
    /// With instructions when a variable is missing.
    pub fn from_env() -> Self {
        let (manager, prefix) = match var("FIXTURE_MANAGER").as_str() {
            "lxd" => (Manager::Lxd, "LXD"),
            "incus" => (Manager::Incus, "INCUS"),
            "podman" => (Manager::Podman, "PODMAN"),
            "docker" => (Manager::Docker, "DOCKER"),
            other => panic!(
                "FIXTURE_MANAGER={other:?}, expected lxd, incus, podman or docker: {HOW_TO_RUN}"
            ),
        };
        // The daemon's `lxc` / `incus` / `podman` / `docker` reach the
        // fixture only through these.
        let private = match manager {
            Manager::Lxd => ["LXD_DIR", "LXD_CONF"],
            Manager::Incus => ["INCUS_DIR", "INCUS_CONF"],
            Manager::Podman => ["CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF"],
            Manager::Docker => ["DOCKER_HOST", "DOCKER_CONFIG"],
        };
        for v in private {
            var(v);
        }
        let container = |role: &str| Container {
            manager,
            name: var(&format!("{prefix}_CONTAINER_{role}")),
        };
        let password = std::env::var("FIXTURE_PG_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| {
                let file = var("FIXTURE_PG_PASSWORD_FILE");
                let text = std::fs::read_to_string(&file)
                    .unwrap_or_else(|e| panic!("cannot read FIXTURE_PG_PASSWORD_FILE {file}: {e}"));
                text.trim_end_matches('\n').to_string()
            });
        assert!(!password.is_empty(), "the fixture's password is empty");
        Self {
            manager,
            trust: container("TRUST"),
            scram: container("SCRAM"),
            password,
            pg_host: var("FIXTURE_PG_HOST"),
            pg_port: var("FIXTURE_PG_PORT").parse().expect("FIXTURE_PG_PORT"),
            pg_user: var("FIXTURE_PG_USER"),
        }
    }

    /// The daemon config as an operator writes it: alice and bob on the
    /// manager's driver, each naming its container; bob is also the scratch
    /// tenant that restore tests target.
    pub fn daemon_config(&self, dir: &Path) -> Config {
        let path = dir.join("containarium.toml");
        let text = format!(
            "backup-dir = \"{backups}\"\n\n\
             [tenants.alice]\ndriver = \"{driver}\"\ncontainer = \"{alice}\"\n\n\
             [tenants.bob]\ndriver = \"{driver}\"\ncontainer = \"{bob}\"\nscratch = true\n",
            backups = dir.join("backups").display(),
            driver = self.manager.driver(),
            alice = self.trust.name,
            bob = self.scram.name,
        );
        std::fs::write(&path, text).unwrap();
        Config::load(&path).unwrap()
    }

    /// How the daemon reaches `database`, with or without the password.
    pub fn connection(&self, database: &str, password: Option<&str>) -> proto::PgConnection {
        proto::PgConnection {
            database: database.into(),
            user: self.pg_user.clone(),
            password: password.unwrap_or_default().into(),
            host: self.pg_host.clone(),
            port: self.pg_port,
        }
    }
}

/// One tenant container.
pub struct Container {
    pub manager: Manager,
    pub name: String,
}

impl Container {
    /// `inner` run inside the container, stdin attached, never a tty.
    pub fn command(&self, inner: &[&str]) -> Command {
        let (client, lxd_like) = self.manager.client();
        let mut cmd = Command::new(client);
        if lxd_like {
            cmd.args(["exec", "-T", &self.name, "--"]);
        } else {
            cmd.args(["exec", "-i", &self.name]);
        }
        cmd.args(inner);
        cmd
    }

    /// Runs `inner` with `input` on stdin; panics unless it succeeds.
    pub fn run(&self, inner: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .command(inner)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", self.manager));
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{inner:?} in {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn sh(&self, script: &str, input: &[u8]) -> String {
        let out = self.run(&["sh", "-c", script], input);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `DROP DATABASE IF EXISTS`, so a rerun on a kept fixture starts clean.
    pub fn drop_db(&self, name: &str) {
        self.psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        );
    }

    /// A new, empty database `name` (dropped first if it exists).
    pub fn fresh_db(&self, name: &str) {
        self.drop_db(name);
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

    /// `readlink /proc/<init>/ns/pid` on the host: the container's PID
    /// namespace, to tell its processes from the host's.
    pub fn pid_namespace(&self) -> String {
        let (client, lxd_like) = self.manager.client();
        let out = if lxd_like {
            Command::new(client).args(["info", &self.name]).output()
        } else {
            Command::new(client)
                .args(["inspect", "-f", "PID: {{.State.Pid}}", &self.name])
                .output()
        }
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let pid = text
            .lines()
            .find_map(|l| l.strip_prefix("PID: "))
            .unwrap_or_else(|| panic!("no PID for {}: {text}", self.name))
            .trim();
        std::fs::read_link(format!("/proc/{pid}/ns/pid"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    /// Every regular file on the container's own filesystems (and its temp
    /// directories, wherever they are mounted): path → size and mtime.
    pub fn files(&self) -> BTreeMap<String, String> {
        // Postgres may drop a file while find walks past it: not an error.
        let text = self.sh(
            "find / /tmp /var/tmp /dev/shm -xdev -type f -printf '%p\\t%s %T@\\n' 2>/dev/null; true",
            b"",
        );
        let files: BTreeMap<String, String> = text
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect();
        assert!(
            files.keys().any(|p| p.ends_with("/bin/pg_dump")),
            "the listing of {} looks broken ({} files)",
            self.name,
            files.len()
        );
        files
    }

    /// Compares the files now with `before`: no file may have appeared or
    /// changed outside Postgres' own directories, and none of those that did
    /// may be a pg_dump archive (magic `PGDMP`).
    pub fn assert_no_dump_files(&self, before: &BTreeMap<String, String>) {
        let after = self.files();
        let changed: Vec<&String> = after
            .iter()
            .filter(|(p, s)| before.get(*p) != Some(*s))
            .map(|(p, _)| p)
            .collect();
        let stray: Vec<&&String> = changed
            .iter()
            .filter(|p| !POSTGRES_OWN.iter().any(|d| p.starts_with(d)))
            .collect();
        assert!(
            stray.is_empty(),
            "files written in {} outside Postgres' directories: {stray:?}",
            self.name
        );
        let list: String = changed.iter().flat_map(|p| [p.as_str(), "\n"]).collect();
        let dumps = self.sh(
            r#"while IFS= read -r f; do
                 [ "$(head -c 5 "$f" 2>/dev/null)" = PGDMP ] && printf '%s\n' "$f"
               done; true"#,
            list.as_bytes(),
        );
        assert!(
            dumps.trim().is_empty(),
            "pg_dump archives left in {}: {dumps}",
            self.name
        );
    }

    /// Starts scanning `/proc/*/cmdline` from inside the container, a pass
    /// every 50 ms, until [`InsideWatch::finish`]. The secret stays on the
    /// host: the scan sends every command line out and the test looks.
    pub fn watch_argv(&self) -> InsideWatch {
        // Loops in the background until our stdin closes (`cat` returns).
        const SCAN: &str = r#"(
            while :; do
                for f in /proc/[0-9]*/cmdline; do
                    a=$(tr '\0' ' ' < "$f" 2>/dev/null) && [ -n "$a" ] && printf '%s\n' "$a"
                done
                echo '-- pass --'
                sleep 0.05
            done
        ) &
        cat > /dev/null
        kill $! 2>/dev/null || true"#;
        let mut child = self
            .command(&["sh", "-c", SCAN])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = BTreeSet::new();
            let mut passes = 0;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line == "-- pass --" {
                    passes += 1;
                } else {
                    lines.insert(line.trim_end().to_string());
                }
            }
            (lines, passes)
        });
        InsideWatch { child, reader }
    }
}

impl Psql for Container {
    /// As the superuser over the Unix socket (root maps to role postgres).
    fn psql(&self, database: &str, sql: &str) -> String {
        let out = self.run(
            &[
                "psql",
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ],
            b"",
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// A running in-container argv scan.
pub struct InsideWatch {
    child: Child,
    reader: JoinHandle<(BTreeSet<String>, u64)>,
}

impl InsideWatch {
    /// Stops the scan: the distinct command lines seen, and the passes made.
    pub fn finish(mut self) -> (BTreeSet<String>, u64) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "the in-container scan ended with {status}"
        );
        self.reader.join().unwrap()
    }
}
