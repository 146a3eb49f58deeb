//! The restore-test sandbox: a login role made for one verify, owning one
//! fresh database, with no attribute or membership that reaches outside it.
//! An archive is SQL that pg_restore executes as whoever connects, so the
//! restore and every later query in that database run *as this role* (a
//! connection of its own, not `SET ROLE`, which a `RESET ROLE` in the archive
//! would undo). The operator's connection only creates and drops.

use std::fmt::Write as _;

use super::{Password, PgConn, query, sql};
use crate::runtime::Target;
use crate::{Error, Result};

/// One verify's role and database (same name) and how to log in as the role.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The role's and the database's name.
    pub name: String,
    /// The role's own connection: the operator's host and port, its name
    /// and a random password that exists only for this verify.
    pub conn: PgConn,
}

impl Sandbox {
    /// A sandbox named `name`, reached like `admin` (not created yet).
    pub fn new(admin: &PgConn, name: &str) -> Result<Self> {
        let password = Password::new(format!("{:032x}", rand::random::<u128>()))?;
        Ok(Self {
            name: name.to_string(),
            conn: PgConn {
                user: name.to_string(),
                password,
                host: admin.host.clone(),
                port: admin.port,
            },
        })
    }

    /// Creates the role and its database, revokes the database from PUBLIC,
    /// and confirms the role has no privileged attribute and no membership.
    ///
    /// # Errors
    /// FailedPrecondition with psql's words; or when the role turned out
    /// privileged (then nothing should be restored).
    pub async fn create(&self, target: &Target, admin: &PgConn) -> Result<()> {
        let (role, lit) = (sql::ident(&self.name), sql::literal(&self.name));
        // INHERIT (the default) on purpose: the role's only implicit
        // membership is pg_database_owner of its own database, which owns
        // `public` there since PostgreSQL 15.
        let create = format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE \
               NOREPLICATION NOBYPASSRLS PASSWORD {pw};\n\
             CREATE DATABASE {role} OWNER {role};\n\
             REVOKE ALL ON DATABASE {role} FROM PUBLIC;\n\
             SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls \
               OR EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid) \
               FROM pg_roles r WHERE rolname = {lit};",
            pw = sql::literal(self.conn.password.expose()),
        );
        let privileged = query(target, admin, "postgres", &create).await?;
        if privileged == "f" {
            Ok(())
        } else {
            Err(Error::precondition(format!(
                "the restore-test role is not confined (privileged or a member of a role: {privileged:?})"
            )))
        }
    }

    /// Drops what a restore test named `name` made and a crash left behind:
    /// its database, its role and the scratch copies of globals roles
    /// (`<name>_g<n>`), then confirms none remains. Returns what was there
    /// (`database <name>`, `role <name>` …); empty when nothing was.
    ///
    /// # Errors
    /// FailedPrecondition with psql's words, or when something remains.
    pub async fn drop_leftovers(
        target: &Target,
        admin: &PgConn,
        name: &str,
    ) -> Result<Vec<String>> {
        let (lit, globals) = (sql::literal(name), sql::literal(&format!("{name}_g")));
        // starts_with, not LIKE: `_` is a LIKE wildcard.
        let find = format!(
            "SELECT 'database ' || datname FROM pg_database WHERE datname = {lit} \
             UNION ALL SELECT 'role ' || rolname FROM pg_roles \
               WHERE rolname = {lit} OR starts_with(rolname, {globals}) ORDER BY 1"
        );
        let found: Vec<String> = query(target, admin, "postgres", &find)
            .await?
            .lines()
            .map(str::to_string)
            .collect();
        if found.is_empty() {
            return Ok(found);
        }
        let mut drop = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE);\n",
            sql::ident(name)
        );
        for role in found.iter().filter_map(|f| f.strip_prefix("role ")) {
            let _ = writeln!(drop, "DROP ROLE IF EXISTS {};", sql::ident(role));
        }
        query(target, admin, "postgres", &drop).await?;
        let remaining = query(target, admin, "postgres", &find).await?;
        if remaining.is_empty() {
            Ok(found)
        } else {
            Err(Error::precondition(format!(
                "still there after DROP: {}",
                remaining.lines().collect::<Vec<_>>().join(", ")
            )))
        }
    }

    /// Drops the database (ending its sessions) and the role, then checks
    /// that neither exists any more.
    ///
    /// # Errors
    /// FailedPrecondition when either could not be dropped or remains.
    pub async fn drop(&self, target: &Target, admin: &PgConn) -> Result<()> {
        let (role, lit) = (sql::ident(&self.name), sql::literal(&self.name));
        let drop = format!(
            "DROP DATABASE IF EXISTS {role} WITH (FORCE);\n\
             DROP ROLE IF EXISTS {role};"
        );
        let dropped = query(target, admin, "postgres", &drop).await;
        let remaining = query(
            target,
            admin,
            "postgres",
            &format!(
                "SELECT (SELECT count(*) FROM pg_database WHERE datname = {lit}) \
                      + (SELECT count(*) FROM pg_roles WHERE rolname = {lit})"
            ),
        )
        .await?;
        match (remaining.as_str(), dropped) {
            ("0", _) => Ok(()),
            (_, Err(e)) => Err(e),
            (n, Ok(_)) => Err(Error::precondition(format!(
                "{n} of the database and role remain after DROP"
            ))),
        }
    }
}
