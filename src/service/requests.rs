//! The service's own request types: what the adapters translate into.
//! Defaults (user `postgres`, host `127.0.0.1`, port 5432) live here once.

use crate::catalog::{Destination, validate_name};
use crate::engine::{Password, PgConn, RestoreOptions};
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
}
