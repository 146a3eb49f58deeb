//! The service's own request types: what the adapters translate into.
//! Defaults (user `postgres`, host `127.0.0.1`, port 5432) live here once.

use crate::catalog::{Destination, validate_name};
use crate::engine::{Password, PgConn, RestoreOptions};
use crate::runtime::Target;
use crate::{Error, Result};

/// How to reach the tenant's Postgres; empty fields take the defaults.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub database: Option<String>,
    pub user: Option<String>,
    pub password: Password,
    pub host: Option<String>,
    pub port: Option<u16>,
}

impl Connection {
    /// # Errors
    /// InvalidArgument for a user or host that could be taken for an option.
    pub(super) fn pg(&self) -> Result<PgConn> {
        let mut c = PgConn {
            password: self.password.clone(),
            ..PgConn::default()
        };
        if let Some(u) = self.user.as_deref().filter(|u| !u.is_empty()) {
            check_arg("database user", u)?;
            c.user = u.into();
        }
        if let Some(h) = self.host.as_deref().filter(|h| !h.is_empty()) {
            check_arg("database host", h)?;
            c.host = h.into();
        }
        if let Some(p) = self.port.filter(|p| *p != 0) {
            c.port = p;
        }
        Ok(c)
    }

    /// The named database, validated; `None` when none was named.
    pub(super) fn database(&self) -> Result<Option<&str>> {
        match self.database.as_deref().filter(|d| !d.is_empty()) {
            Some(d) => validate_name("database", d).map(|()| Some(d)),
            None => Ok(None),
        }
    }
}

/// Refuses a connection that would leave the tenant: on `netns` and `host`
/// the tools share the daemon host's filesystem and network, so only
/// loopback TCP (the tenant's own server) is accepted, plus whatever the
/// tenant's `allowed-hosts` lists. Other drivers resolve the host inside the
/// tenant's own container.
///
/// # Errors
/// PermissionDenied naming the host and the config key that would allow it.
pub(super) fn check_reach(tenant: &str, target: &Target, conn: &PgConn) -> Result<()> {
    let host = conn.host.as_str();
    if !target.shares_host() || target.allowed_hosts.iter().any(|h| h == host) {
        return Ok(());
    }
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        return Ok(());
    }
    let what = if host.starts_with(['/', '@']) || host.contains('/') {
        "a Unix socket path"
    } else {
        "a host other than loopback"
    };
    Err(Error::denied(format!(
        "tenant {tenant} is reached with the {} driver, which shares the daemon host: \
         a request may not name {what} ({host:?}) unless the tenant's allowed-hosts lists it",
        target.driver.name()
    )))
}

fn check_arg(what: &str, v: &str) -> Result<()> {
    if v.starts_with('-') || v.contains(['\0', '\n']) || v.len() > 255 {
        return Err(Error::invalid(format!("{what} {v:?} is not acceptable")));
    }
    Ok(())
}

/// Back up one database, or every database when `connection.database` is empty.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub tenant: String,
    pub connection: Connection,
    pub destination: Option<Destination>,
    /// `gs://bucket/prefix` or `s3://bucket/prefix` for bucket destinations.
    pub bucket: Option<String>,
    /// Every database of every configured tenant (admin only; `tenant` empty).
    pub all_tenants: bool,
}

/// Restore a backup into its tenant's server.
#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    pub id: String,
    /// Empty database = the record's own.
    pub connection: Connection,
    pub options: RestoreOptions,
    /// First recreate the roles of the backup's globals (`globals_id`).
    pub globals: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Driver;

    fn target(driver: Driver, allowed: &[&str]) -> Target {
        Target {
            driver,
            container: "ns".into(),
            namespace: None,
            pod_container: None,
            tool_path: None,
            allowed_hosts: allowed.iter().map(|h| (*h).to_string()).collect(),
        }
    }

    fn conn(host: &str) -> PgConn {
        PgConn {
            host: host.into(),
            ..PgConn::default()
        }
    }

    #[test]
    fn shared_host_drivers_reach_only_loopback_unless_allowed() {
        for d in [Driver::Netns, Driver::Host] {
            for ok in ["127.0.0.1", "127.8.0.1", "::1", "localhost"] {
                check_reach("a", &target(d, &[]), &conn(ok)).unwrap();
            }
            for bad in [
                "/tmp/bob/sock",
                "@abstract",
                "10.0.0.7",
                "db.example",
                "127.0.0.1,/tmp/x",
            ] {
                let e = check_reach("a", &target(d, &[]), &conn(bad)).unwrap_err();
                assert_eq!(e.code, crate::Code::PermissionDenied, "{bad}");
                assert!(e.message.contains("allowed-hosts"), "{}", e.message);
            }
            check_reach("a", &target(d, &["/run/pg"]), &conn("/run/pg")).unwrap();
        }
        check_reach("a", &target(Driver::Lxd, &[]), &conn("/run/postgresql")).unwrap();
    }
}
