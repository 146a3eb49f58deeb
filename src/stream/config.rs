//! How dumps are encoded and bounded, from the config: `[dump]` for every
//! tenant and `[tenants.X.dump]` per tenant, overriding key by key (so a
//! tenant's `recipients` list replaces the global one). Validated when the
//! config is parsed, so a bad recipient stops the daemon at start, not at 3 am.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::pipeline::{Keys, Pipeline};
use crate::{Error, Result};

/// The `[dump]` table (global, or per tenant).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DumpConfig {
    /// Who compresses: pg_dump's own zlib (default), the daemon's
    /// multi-threaded zstd (pg_dump then runs with `-Z0`), or nobody.
    pub compression: Option<Compression>,
    /// zstd level, 1..=19; default 3.
    pub level: Option<i32>,
    /// zstd worker threads; default (and 0) = the host's cores.
    pub workers: Option<u32>,
    /// age X25519 recipients (`age1…`): set = every dump is encrypted to them.
    pub recipients: Option<Vec<String>>,
    /// age identities (as written by `age-keygen`) for restores and restore
    /// tests; absent with recipients set = an encrypt-only host.
    pub identity_file: Option<PathBuf>,
    /// Largest archive pg_dump may emit (bytes before compression and
    /// encryption); a dump growing past it is aborted. 0 = no limit (default).
    pub max_dump_bytes: Option<u64>,
    /// Free space the backup directory must keep: a local dump does not start
    /// below it. Default 64 MiB; 0 = no floor.
    pub min_free_bytes: Option<u64>,
    /// Whether the globals taken with an all-databases create keep the
    /// roles' password verifiers. Default false (`--no-role-passwords`):
    /// restored roles then need a new password before they can log in.
    pub role_passwords: Option<bool>,
}

/// Who compresses the archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    /// `pg_dump -Fc` compresses with its own single-threaded zlib.
    #[default]
    Zlib,
    /// `pg_dump -Fc -Z0`, then multi-threaded zstd in the daemon.
    Zstd,
    /// `pg_dump -Fc -Z0`, stored as is.
    None,
}

pub const DEFAULT_LEVEL: i32 = 3;
pub const DEFAULT_MIN_FREE: u64 = 64 * 1024 * 1024;

impl DumpConfig {
    /// `self` with every key `over` sets replacing ours.
    fn merged(&self, over: Option<&DumpConfig>) -> DumpConfig {
        let Some(o) = over else { return self.clone() };
        DumpConfig {
            compression: o.compression.or(self.compression),
            level: o.level.or(self.level),
            workers: o.workers.or(self.workers),
            recipients: o.recipients.clone().or_else(|| self.recipients.clone()),
            identity_file: o
                .identity_file
                .clone()
                .or_else(|| self.identity_file.clone()),
            max_dump_bytes: o.max_dump_bytes.or(self.max_dump_bytes),
            min_free_bytes: o.min_free_bytes.or(self.min_free_bytes),
            role_passwords: o.role_passwords.or(self.role_passwords),
        }
    }
}

/// The global table and every tenant's overrides, resolved per tenant.
#[derive(Debug, Clone, Default)]
pub struct DumpPolicy {
    global: DumpConfig,
    tenants: BTreeMap<String, DumpConfig>,
}

impl DumpPolicy {
    /// # Errors
    /// InvalidArgument naming the table and the bad key.
    pub fn new(global: DumpConfig, tenants: BTreeMap<String, DumpConfig>) -> Result<Self> {
        let policy = Self { global, tenants };
        Pipeline::from_config(&policy.global).map_err(|e| e.context("[dump]"))?;
        for name in policy.tenants.keys() {
            policy
                .pipeline(name)
                .map_err(|e| e.context(format!("[tenants.{name}.dump]")))?;
        }
        Ok(policy)
    }

    fn for_tenant(&self, tenant: &str) -> DumpConfig {
        self.global.merged(self.tenants.get(tenant))
    }

    /// The stages a new dump of `tenant` goes through.
    ///
    /// # Errors
    /// InvalidArgument for a bad recipient or an out-of-range level.
    pub fn pipeline(&self, tenant: &str) -> Result<Pipeline> {
        Pipeline::from_config(&self.for_tenant(tenant))
    }

    /// The identities that decrypt `tenant`'s dumps (none on an encrypt-only
    /// host). Read at each use, so a rotated key file needs no restart.
    ///
    /// # Errors
    /// FailedPrecondition when the identity file cannot be read or parsed.
    pub fn keys(&self, tenant: &str) -> Result<Keys> {
        Keys::load(self.for_tenant(tenant).identity_file.as_deref())
    }

    /// Whether `tenant`'s globals keep role passwords.
    pub fn role_passwords(&self, tenant: &str) -> bool {
        self.for_tenant(tenant).role_passwords.unwrap_or(false)
    }

    /// The free space a local dump of `tenant` must leave.
    pub fn min_free_bytes(&self, tenant: &str) -> u64 {
        self.for_tenant(tenant)
            .min_free_bytes
            .unwrap_or(DEFAULT_MIN_FREE)
    }
}

/// Checks the level and worker ranges (zstd's own limits would only panic
/// or clamp silently).
pub(super) fn check_ranges(c: &DumpConfig) -> Result<()> {
    if let Some(l) = c.level
        && !(1..=19).contains(&l)
    {
        return Err(Error::invalid(format!(
            "level = {l}: zstd levels run from 1 to 19"
        )));
    }
    if let Some(w) = c.workers
        && w > 256
    {
        return Err(Error::invalid(format!(
            "workers = {w}: at most 256 zstd worker threads"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_overrides_key_by_key() {
        let global: DumpConfig = toml::from_str(
            r#"compression = "zstd"
               level = 5
               recipients = ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]"#,
        )
        .unwrap();
        let alice: DumpConfig = toml::from_str("recipients = []\nmax-dump-bytes = 10").unwrap();
        let policy =
            DumpPolicy::new(global, BTreeMap::from([("alice".to_string(), alice)])).unwrap();
        let a = policy.for_tenant("alice");
        assert_eq!(a.compression, Some(Compression::Zstd));
        assert_eq!(a.level, Some(5));
        assert_eq!(a.recipients, Some(vec![]), "a tenant's list replaces");
        assert_eq!(a.max_dump_bytes, Some(10));
        assert_eq!(policy.for_tenant("bob").recipients.unwrap().len(), 1);
        assert_eq!(policy.pipeline("alice").unwrap().stage_ids(), ["zstd"]);
        assert_eq!(policy.pipeline("bob").unwrap().stage_ids(), ["zstd", "age"]);
    }

    #[test]
    fn bad_keys_are_refused_with_their_table() {
        let bad: DumpConfig = toml::from_str(r#"recipients = ["age1nope"]"#).unwrap();
        let e = DumpPolicy::new(DumpConfig::default(), BTreeMap::from([("t".into(), bad)]))
            .unwrap_err();
        assert!(e.message.contains("[tenants.t.dump]"), "{}", e.message);
        assert!(e.message.contains("age1nope"), "{}", e.message);
        let e =
            DumpPolicy::new(toml::from_str("level = 40").unwrap(), BTreeMap::new()).unwrap_err();
        assert!(e.message.contains("1 to 19"), "{}", e.message);
        assert!(toml::from_str::<DumpConfig>("compresion = \"zstd\"").is_err());
    }
}
