//! Which container a tenant's commands run in: a default driver and name
//! template, with per-tenant overrides, all from the daemon config. Tenants
//! must be declared, so a typo is a NotFound instead of a command run in some
//! container that happens to match a template.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Driver, Target};
use crate::{Error, Result};

/// The defaults every tenant starts from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct RuntimeConfig {
    /// Driver used by tenants that do not name one.
    pub driver: Driver,
    /// Container name template; `{tenant}` is replaced by the tenant name.
    pub container: String,
    /// Kubernetes namespace for the kubectl driver.
    pub namespace: Option<String>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            driver: Driver::Incus,
            container: "{tenant}-container".into(),
            namespace: None,
        }
    }
}

/// Per-tenant overrides; an empty table means "use the defaults".
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TenantConfig {
    pub driver: Option<Driver>,
    /// Container (or pod, or network namespace) name, verbatim.
    pub container: Option<String>,
    pub namespace: Option<String>,
    /// Container inside the pod (kubectl).
    pub pod_container: Option<String>,
    /// A container kept for restore tests (it receives copies of other
    /// tenants' data): `--all-tenants` skips it and `check` expects nothing of it.
    #[serde(default)]
    pub scratch: bool,
    /// `netns`/`host` only: directories searched before the system path for
    /// pg_dump, pg_restore and psql (e.g. `/usr/lib/postgresql/16/bin`).
    /// Children start from a cleared environment, so this is the only way
    /// the tools' location changes.
    pub tool_path: Option<String>,
    /// `netns`/`host` only: hosts a request may name besides loopback TCP
    /// (`127.0.0.1`, `::1`, `localhost`). These drivers share the daemon
    /// host's filesystem and network, so a socket directory or another
    /// address could reach another tenant's server; list each one allowed.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// This tenant's `[dump]` overrides (compression, encryption, limits).
    pub dump: Option<crate::stream::DumpConfig>,
}

/// The resolver: defaults plus declared tenants.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tenants {
    pub defaults: RuntimeConfig,
    pub tenants: BTreeMap<String, TenantConfig>,
}

impl Tenants {
    /// The target a declared tenant's commands run in.
    ///
    /// # Errors
    /// NotFound for a tenant the config does not declare.
    pub fn resolve(&self, tenant: &str) -> Result<Target> {
        let t = self.tenants.get(tenant).ok_or_else(|| {
            Error::not_found(format!(
                "unknown tenant {tenant:?}: it is not declared under [tenants] in the daemon config"
            ))
        })?;
        let driver = t.driver.unwrap_or(self.defaults.driver);
        let container = match (&t.container, driver) {
            (Some(c), _) => c.clone(),
            (None, Driver::Host) => String::new(),
            (None, _) => self.defaults.container.replace("{tenant}", tenant),
        };
        Ok(Target {
            driver,
            container,
            namespace: t
                .namespace
                .clone()
                .or_else(|| self.defaults.namespace.clone()),
            pod_container: t.pod_container.clone(),
            tool_path: t.tool_path.clone(),
            allowed_hosts: t.allowed_hosts.clone(),
        })
    }

    /// Whether `tenant` is declared `scratch = true` (a restore-test target).
    pub fn is_scratch(&self, tenant: &str) -> bool {
        self.tenants.get(tenant).is_some_and(|t| t.scratch)
    }

    /// Every declared tenant whose databases are backed up, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tenants
            .iter()
            .filter(|(_, t)| !t.scratch)
            .map(|(n, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_override_and_unknown() {
        let mut t = Tenants::default();
        t.tenants.insert("alice".into(), TenantConfig::default());
        t.tenants.insert(
            "bob".into(),
            TenantConfig {
                driver: Some(Driver::Netns),
                container: Some("ns-bob".into()),
                ..TenantConfig::default()
            },
        );
        let a = t.resolve("alice").unwrap();
        assert_eq!(
            (a.driver, a.container.as_str()),
            (Driver::Incus, "alice-container")
        );
        let b = t.resolve("bob").unwrap();
        assert_eq!((b.driver, b.container.as_str()), (Driver::Netns, "ns-bob"));
        let e = t.resolve("carol").unwrap_err();
        assert_eq!(e.code, crate::Code::NotFound);
        assert!(e.message.contains("carol"));
    }
}
