//! The daemon's configuration: a plain serde struct read from TOML (unknown
//! keys rejected), then overridden by flags/env in the `daemon` command.
//! Loading never writes anything; secrets are redacted wherever printed.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod buckets;

pub use buckets::{
    GcsConfig, LockMode, S3Config, apply_env as apply_bucket_env, bucket_policy, lock_period,
};

use crate::runtime::{RuntimeConfig, TenantConfig, Tenants};
use crate::stream::{DumpConfig, DumpPolicy};
use crate::{Error, Result};

pub const DEFAULT_BACKUP_DIR: &str = "/var/lib/containarium/backups";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Config {
    /// Dumps and sidecars of the local destination (0700).
    pub backup_dir: PathBuf,
    /// Where restores spool and verify dumps; default `<backup-dir>/.spool`.
    pub spool_dir: Option<PathBuf>,
    /// Dumps and restores running at once; more wait in line.
    pub max_concurrent: usize,
    /// How long a queued operation waits before it is refused (Unavailable).
    pub queue_timeout_secs: u64,
    /// How long SIGTERM waits for running operations before exiting.
    pub shutdown_grace_secs: u64,
    /// Operations of one tenant running at once (creates, restores,
    /// verifies of its backups); more wait in line like for `max-concurrent`,
    /// so one tenant's calls can never take every slot.
    pub max_concurrent_per_tenant: usize,
    /// Longest one database's dump may take (manifest queries included);
    /// then pg_dump is killed, its partial output removed and the failure
    /// recorded and audited. A tenant holding a lock fails here, alone.
    pub create_timeout_secs: u64,
    /// Longest one restore may take before pg_restore is killed.
    pub restore_timeout_secs: u64,
    /// Longest the restore and comparison of a verify may take; the scratch
    /// database and role are dropped afterwards either way.
    pub verify_timeout_secs: u64,
    /// Treat the default buckets as the shared catalog: before each read,
    /// index the sidecars other daemons wrote there and drop records whose
    /// backups another daemon deleted. Several hosts then list and restore
    /// each other's bucket backups. Costs one bucket listing per operation.
    pub catalog_sync: bool,
    /// Append-only audit log; default `<backup-dir>/audit.jsonl`.
    pub audit_log: Option<PathBuf>,
    /// `[audit]`: where the audit chain's daily heads go.
    pub audit: crate::audit::AuditConfig,
    /// The default driver and container name template.
    pub runtime: RuntimeConfig,
    /// Declared tenants; a tenant not listed here is unknown.
    pub tenants: BTreeMap<String, TenantConfig>,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    /// The GCS destination; absent = GCS requests are refused.
    pub gcs: Option<GcsConfig>,
    /// The S3 destination; absent = S3 requests are refused.
    pub s3: Option<S3Config>,
    /// How dumps are compressed, encrypted and bounded (per tenant too).
    pub dump: DumpConfig,
    /// Webhooks told about failures and recoveries (`[[notify]]`).
    pub notify: Vec<crate::notify::NotifyConfig>,
    /// The threshold the daemon's own freshness check (and `/ui`) judges by.
    pub freshness: FreshnessConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct FreshnessConfig {
    /// A (tenant, database) whose newest backup is older is stale.
    pub max_age: String,
    /// How often the daemon checks (and alerts on) staleness.
    pub check_interval_secs: u64,
}

impl Default for FreshnessConfig {
    fn default() -> Self {
        Self {
            max_age: "26h".into(),
            check_interval_secs: 300,
        }
    }
}

impl FreshnessConfig {
    /// # Errors
    /// InvalidArgument for a malformed `max-age`.
    pub fn max_age(&self) -> Result<crate::retention::CalendarDuration> {
        self.max_age
            .parse()
            .map_err(|e: String| Error::invalid(format!("[freshness] max-age: {e}")))
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            backup_dir: DEFAULT_BACKUP_DIR.into(),
            spool_dir: None,
            max_concurrent: 4,
            queue_timeout_secs: 600,
            shutdown_grace_secs: 60,
            max_concurrent_per_tenant: 1,
            create_timeout_secs: 4 * 3600,
            restore_timeout_secs: 4 * 3600,
            verify_timeout_secs: 4 * 3600,
            catalog_sync: false,
            audit_log: None,
            audit: crate::audit::AuditConfig::default(),
            runtime: RuntimeConfig::default(),
            tenants: BTreeMap::new(),
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            gcs: None,
            s3: None,
            notify: Vec::new(),
            freshness: FreshnessConfig::default(),
            dump: DumpConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ServerConfig {
    pub grpc_listen: SocketAddr,
    /// REST, MCP (`/mcp`), `/healthz`, `/openapi.json`.
    pub http_listen: SocketAddr,
    /// PEM certificate chain and key; both or neither. Enables TLS on both ports.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Largest accepted REST/MCP request body.
    pub max_body_bytes: usize,
    /// Connections served at once per port; further clients wait in the
    /// kernel's backlog until one closes.
    pub max_connections: usize,
    /// How long a client may take to send its first byte, finish the TLS
    /// handshake, and send an HTTP/1 request head; then it is disconnected.
    pub header_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            grpc_listen: "0.0.0.0:50051".parse().expect("valid"),
            http_listen: "0.0.0.0:8080".parse().expect("valid"),
            tls_cert: None,
            tls_key: None,
            max_body_bytes: 1024 * 1024,
            max_connections: 1024,
            header_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct AuthConfig {
    /// HS256 secret (≥ 32 bytes). Prefer `jwt-secret-file` or the env var.
    pub jwt_secret: Option<Redacted>,
    pub jwt_secret_file: Option<PathBuf>,
    /// Longest lifetime `token mint` will issue.
    pub max_token_ttl_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            jwt_secret_file: None,
            max_token_ttl_secs: 30 * 24 * 3600,
        }
    }
}

/// A secret string: printed as `<redacted>` by Debug and Serialize.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Redacted(String);

impl Redacted {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Redacted {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

impl Config {
    /// Reads a TOML file. Pure: creates nothing.
    ///
    /// # Errors
    /// InvalidArgument naming the file and the offending key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid(format!("cannot read config {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| e.context(format!("config {}", path.display())))
    }

    /// # Errors
    /// InvalidArgument for bad TOML or unknown keys.
    pub fn parse(text: &str) -> Result<Self> {
        let c: Self = toml::from_str(text).map_err(|e| Error::invalid(e.to_string()))?;
        for name in c.tenants.keys() {
            crate::catalog::validate_name("tenant", name)?;
        }
        if let Some(g) = &c.gcs {
            g.policy().map_err(|e| e.context("[gcs]"))?;
        }
        if let Some(s) = &c.s3 {
            s.policy().map_err(|e| e.context("[s3]"))?;
        }
        c.freshness.max_age()?;
        if c.freshness.check_interval_secs == 0 {
            return Err(Error::invalid(
                "[freshness] check-interval-secs must be at least 1",
            ));
        }
        c.dump_policy()?;
        Ok(c)
    }

    pub fn tenants(&self) -> Tenants {
        Tenants {
            defaults: self.runtime.clone(),
            tenants: self.tenants.clone(),
        }
    }

    /// The `[dump]` table with every tenant's overrides.
    ///
    /// # Errors
    /// InvalidArgument for a bad recipient or an out-of-range number.
    pub fn dump_policy(&self) -> Result<DumpPolicy> {
        let tenants = self
            .tenants
            .iter()
            .filter_map(|(n, t)| Some((n.clone(), t.dump.clone()?)))
            .collect();
        DumpPolicy::new(self.dump.clone(), tenants)
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.spool_dir
            .clone()
            .unwrap_or_else(|| self.backup_dir.join(".spool"))
    }

    pub fn audit_log(&self) -> PathBuf {
        self.audit_log
            .clone()
            .unwrap_or_else(|| self.backup_dir.join("audit.jsonl"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tenants_and_rejects_unknown_keys() {
        let c = Config::parse(
            r#"
            backup-dir = "/srv/b"
            [runtime]
            driver = "incus"
            [tenants.alice]
            [tenants.bob]
            driver = "netns"
            container = "ns-bob"
            [auth]
            jwt-secret = "0123456789abcdef0123456789abcdef"
            "#,
        )
        .unwrap();
        assert_eq!(c.tenants().resolve("bob").unwrap().container, "ns-bob");
        let shown = toml::to_string(&c).unwrap();
        assert!(shown.contains("<redacted>") && !shown.contains("0123456789abcdef"));
        assert!(!format!("{c:?}").contains("0123456789abcdef"));

        let e = Config::parse("backup-dri = \"/x\"").unwrap_err();
        assert!(c.gcs.is_none() && c.s3.is_none());
        assert!(e.message.contains("backup-dri"), "{}", e.message);
        assert!(Config::parse("[tenants.\"a/b\"]").is_err());
    }

    #[test]
    fn notify_urls_are_redacted_and_freshness_checked() {
        let c = Config::parse(
            r#"
            [[notify]]
            url = "https://hooks.slack.com/services/T0/B0/sekrit-key"
            format = "slack"
            [[notify]]
            url = "http://127.0.0.1:9/hook?token=sekrit-token"
            events = ["create-failed"]
            [freshness]
            max-age = "2d"
            check-interval-secs = 60
            "#,
        )
        .unwrap();
        assert_eq!(c.notify.len(), 2);
        let shown = format!("{c:?}{}", toml::to_string(&c).unwrap());
        assert!(!shown.contains("sekrit"), "{shown}");
        assert!(shown.contains("https://hooks.slack.com/…"), "{shown}");
        assert_eq!(c.freshness.max_age().unwrap().days, 2);
        let e = Config::parse("[freshness]\nmax-age = \"soon\"").unwrap_err();
        assert!(e.message.contains("max-age"), "{}", e.message);
        assert!(Config::parse("[[notify]]\nurl = \"ftp://h/x\"").is_err());
    }

    #[test]
    fn parses_bucket_destinations_with_secrets_redacted() {
        let c = Config::parse(
            r#"
            [gcs]
            endpoint = "http://127.0.0.7:4443"
            anonymous = true
            default-bucket = "gs://backups/prod"
            allowed-buckets = ["archive", "gs://other"]
            [s3]
            region = "eu-west-1"
            path-style = true
            access-key-id = "AKIAEXAMPLE"
            secret-access-key = "very-secret-key-material"
            default-bucket = "s3://bucket-3/x"
            "#,
        )
        .unwrap();
        let (default, allowed) = c.gcs.as_ref().unwrap().policy().unwrap();
        let default = default.unwrap();
        assert_eq!(
            (default.bucket.as_str(), default.prefix.as_str()),
            ("backups", "prod")
        );
        assert_eq!(allowed, ["archive", "backups", "other"]);
        let shown = format!("{c:?}{}", toml::to_string(&c).unwrap());
        assert!(!shown.contains("very-secret-key-material"), "{shown}");

        assert!(
            Config::parse("[s3]\nbucket = \"x\"").is_err(),
            "unknown key"
        );
        let e = Config::parse("[gcs]\nallowed-buckets = [\"abc/d\"]").unwrap_err();
        assert!(e.message.contains("not prefixes"), "{}", e.message);
        let e = Config::parse("[gcs]\ndefault-bucket = \"s3://x\"").unwrap_err();
        assert!(e.message.contains("gs://"), "{}", e.message);
    }
}
