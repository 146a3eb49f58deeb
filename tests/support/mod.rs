//! Shared test support: real tenant clusters, a service wired to them, and
//! content fingerprints to compare databases row for row.
#![allow(dead_code)]

pub mod certs;
pub mod daemon;
pub mod disk;
pub mod emulators;
pub mod mcp_client;
pub mod procs;
pub mod tenant;

use containarium::auth::{Authenticator, Credentials};
use containarium::catalog::Destination;
use containarium::config::Config;
use containarium::runtime::{Driver, TenantConfig};
use containarium::service::{BackupService, Connection, CreateRequest, RestoreRequest};
pub use tenant::Tenant;

/// Tables of every interesting kind: bytea, non-ASCII text, jsonb, a
/// partitioned table, and large objects.
pub const SEED: &str = r"
CREATE TABLE people(id int PRIMARY KEY, name text NOT NULL, photo bytea, born date);
INSERT INTO people SELECT g, '名前-' || g || ' Ünïcødé ✓ ' || repeat('x', g % 7),
    decode(md5(g::text), 'hex') || '\x00ff00'::bytea, date '2000-01-01' + g
  FROM generate_series(1, 500) g;
CREATE TABLE events(id bigint, at date NOT NULL, payload jsonb) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO events SELECT g, date '2025-06-01' + (g % 400), jsonb_build_object('n', g, 'tag', 'ñ')
  FROM generate_series(1, 1000) g;
SELECT lo_from_bytea(0, convert_to(repeat('large object ✓ ', 1000), 'UTF8'));
SELECT lo_from_bytea(0, '\xdeadbeef00'::bytea);
";

/// Somewhere SQL runs as the superuser: a netns [`Tenant`] over its socket,
/// or a tenant container through its manager. Seeding and fingerprints are
/// written once against this.
pub trait Psql {
    /// Runs SQL in `database` and returns the unaligned, tuples-only output;
    /// panics when it fails.
    fn psql(&self, database: &str, sql: &str) -> String;
}

impl Psql for Tenant {
    fn psql(&self, database: &str, sql: &str) -> String {
        Tenant::psql(self, database, sql)
    }
}

/// Seeds `database` with [`SEED`] plus an `owner` table naming `marker`.
pub fn seed(t: &impl Psql, database: &str, marker: &str) {
    t.psql(database, SEED);
    t.psql(
        database,
        &format!("CREATE TABLE owner(name text); INSERT INTO owner VALUES ('{marker}')"),
    );
}

/// Every user table's row count and content hash, plus large objects: equal
/// fingerprints mean equal contents.
pub fn fingerprint(t: &impl Psql, database: &str) -> Vec<String> {
    let tables = t.psql(
        database,
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema') \
         AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1",
    );
    let mut out: Vec<String> = tables
        .lines()
        .map(|tbl| {
            let h = t.psql(
                database,
                &format!(
                    "SELECT count(*) || ':' || md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) FROM {tbl} x"
                ),
            );
            format!("{tbl}={h}")
        })
        .collect();
    out.push(format!(
        "large_objects={}",
        t.psql(
            database,
            "SELECT count(*) || ':' || md5(coalesce(string_agg(md5(lo_get(oid)), ',' ORDER BY md5(lo_get(oid))), '')) \
             FROM pg_largeobject_metadata"
        )
    ));
    out
}

/// A service (auth disabled: the pipeline is under test) over a temporary
/// backup directory, with each tenant reached through its network namespace.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub config: Config,
    pub service: BackupService,
}

pub fn config_for(dir: &std::path::Path, tenants: &[(&str, &Tenant)]) -> Config {
    let mut config = Config {
        backup_dir: dir.join("backups"),
        max_concurrent: 32,
        ..Config::default()
    };
    for (name, t) in tenants {
        config.tenants.insert(
            (*name).to_string(),
            TenantConfig {
                driver: Some(Driver::Netns),
                container: Some(t.netns.clone()),
                ..TenantConfig::default()
            },
        );
    }
    config
}

/// Declares `name` a scratch tenant (`scratch = true`): the only kind a
/// restore test may target.
pub fn with_scratch(mut config: Config, name: &str) -> Config {
    config
        .tenants
        .get_mut(name)
        .unwrap_or_else(|| panic!("{name} is not a tenant of this config"))
        .scratch = true;
    config
}

impl Harness {
    pub fn new(tenants: &[(&str, &Tenant)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = config_for(dir.path(), tenants);
        Self::with_config(dir, config)
    }

    /// Like [`Harness::new`], with `scratch` declared a scratch tenant.
    pub fn with_scratch_tenant(tenants: &[(&str, &Tenant)], scratch: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = with_scratch(config_for(dir.path(), tenants), scratch);
        Self::with_config(dir, config)
    }

    pub fn with_config(dir: tempfile::TempDir, config: Config) -> Self {
        let service = BackupService::new(&config, Authenticator::Disabled).unwrap();
        Self {
            dir,
            config,
            service,
        }
    }

    /// Backs up one database and returns its record.
    pub async fn backup(&self, tenant: &str, database: &str) -> containarium::catalog::Record {
        let mut out = self
            .service
            .create(none(), create_req(tenant, database))
            .await
            .unwrap();
        out.records.remove(0)
    }

    pub fn backup_dir(&self) -> &std::path::Path {
        &self.config.backup_dir
    }

    /// Files in the backup directory other than the audit log and spool.
    pub fn backup_files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.backup_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "audit.jsonl" && n != ".spool" && n != ".index")
            .collect();
        v.sort();
        v
    }
}

pub fn conn(database: &str) -> Connection {
    Connection {
        database: (!database.is_empty()).then(|| database.to_string()),
        ..Connection::default()
    }
}

pub fn create_req(tenant: &str, database: &str) -> CreateRequest {
    CreateRequest {
        tenant: tenant.into(),
        connection: conn(database),
        destination: Some(Destination::Local),
        bucket: None,
        all_tenants: false,
    }
}

pub fn restore_req(id: &str, database: &str) -> RestoreRequest {
    RestoreRequest {
        id: id.into(),
        connection: conn(database),
        ..RestoreRequest::default()
    }
}

static NONE: Credentials = Credentials::None;

/// No credentials: the harness runs with auth disabled.
pub fn none() -> &'static Credentials {
    &NONE
}

/// The record of a local backup of `tenant`/`database` taken `at` (the
/// `n`-th in that second), with a placeholder digest: for tests that write
/// sidecars themselves and never read the dump.
pub fn synthetic_record(
    dir: &std::path::Path,
    tenant: &str,
    database: &str,
    at: chrono::DateTime<chrono::Utc>,
    n: u32,
) -> containarium::catalog::Record {
    let id = containarium::catalog::make_id(tenant, database, &at, n);
    containarium::catalog::Record {
        id: id.clone(),
        username: tenant.into(),
        database: database.into(),
        created_at: at,
        size_bytes: 1,
        sha256: "00".into(),
        destination: Destination::Local,
        location: dir.join(format!("{id}.dump")).display().to_string(),
        engine: Some(containarium::catalog::Engine::Postgres),
        last_verification: None,
        relation_count: None,
        row_counts: None,
        locked_until: None,
        encoding: containarium::catalog::Encoding::default(),
        kind: containarium::catalog::Kind::Database,
        globals_id: None,
    }
}

/// A `tool-path` directory whose `tool` (e.g. `pg_dump`) prints the file
/// returned beside it, first holding `output`: what a tenant that owns its
/// container can make its tools do. Rewrite the file to change the output.
pub fn hostile_tool(tool: &str, output: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.path().join(format!("{tool}.out"));
    std::fs::write(&file, output).unwrap();
    let script = dir.path().join(tool);
    std::fs::write(
        &script,
        format!("#!/bin/sh\nexec cat '{}'\n", file.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, file)
}
