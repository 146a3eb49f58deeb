//! Engine: what to run inside the container to dump, restore and inspect a
//! Postgres database. Commands go through a [`Target`]; the password reaches
//! the tools only through [`secret`]'s stdin preamble, never through argv.

pub mod globals;
mod sandbox;
mod secret;
mod sql;

pub use globals::Globals;
pub use sandbox::Sandbox;
pub use secret::Password;
pub use sql::ident as quote_ident;

use std::collections::BTreeMap;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::runtime::{Running, Target};
use crate::{Error, Result};

/// How to reach the tenant's server, as seen from inside its container.
#[derive(Debug, Clone)]
pub struct PgConn {
    pub user: String,
    pub password: Password,
    pub host: String,
    pub port: u16,
}

impl Default for PgConn {
    fn default() -> Self {
        Self {
            user: "postgres".into(),
            password: Password::default(),
            host: "127.0.0.1".into(),
            port: 5432,
        }
    }
}

impl PgConn {
    /// `-h H -p P -U U -w -d DB`: `-w` so a missing password fails instead of
    /// waiting for a prompt nobody will answer.
    fn args(&self, database: &str) -> Vec<String> {
        vec![
            "-h".into(),
            self.host.clone(),
            "-p".into(),
            self.port.to_string(),
            "-U".into(),
            self.user.clone(),
            "-w".into(),
            "-d".into(),
            database.into(),
        ]
    }
}

/// Options of a restore.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreOptions {
    /// `--clean --if-exists`: drop objects before recreating them.
    pub clean: bool,
    /// Parallel jobs; above 1 the restore is not atomic and the archive is
    /// staged in an unlinked temporary file inside the container (pg_restore
    /// cannot run parallel jobs from a pipe).
    pub jobs: u32,
    /// `--no-owner`: do not reproduce object ownership.
    pub no_owner: bool,
}

/// Starts `pg_dump -Fc` (plus `extra`, e.g. `-Z0`) writing the archive to
/// stdout; read `stdout`, then [`Running::finish`].
///
/// # Errors
/// Unavailable when the container manager cannot be started.
pub async fn dump(
    target: &Target,
    conn: &PgConn,
    database: &str,
    extra: &[String],
) -> Result<Running> {
    let mut argv = vec!["pg_dump".to_string(), "-Fc".into()];
    argv.extend_from_slice(extra);
    argv.extend(conn.args(database));
    secret::spawn(target, &conn.password, &argv, false).await
}

/// Starts `pg_dumpall --globals-only` writing the roles as SQL to stdout.
/// Without `passwords`, `--no-role-passwords`: no verifier leaves the
/// tenant's server, and a non-superuser can take the dump.
///
/// # Errors
/// Unavailable when the container manager cannot be started.
pub async fn dump_globals(target: &Target, conn: &PgConn, passwords: bool) -> Result<Running> {
    let mut argv = vec!["pg_dumpall".to_string(), "--globals-only".into()];
    if !passwords {
        argv.push("--no-role-passwords".into());
    }
    // pg_dumpall's -d takes a connection string; -l names the database.
    let mut connect = conn.args("postgres");
    connect.truncate(connect.len() - 2);
    argv.extend(connect);
    argv.extend(["-l".into(), "postgres".into()]);
    secret::spawn(target, &conn.password, &argv, false).await
}

/// The names of every role on the server.
///
/// # Errors
/// As [`query`].
pub async fn role_names(
    target: &Target,
    conn: &PgConn,
) -> Result<std::collections::BTreeSet<String>> {
    let out = query(target, conn, "postgres", "SELECT rolname FROM pg_roles").await?;
    Ok(out.lines().map(str::to_string).collect())
}

/// Runs SQL this daemon generated (never a tenant's) in one transaction.
///
/// # Errors
/// As [`query`]; nothing is changed then.
pub async fn apply(target: &Target, conn: &PgConn, database: &str, sql: &str) -> Result<()> {
    let sql = format!("BEGIN;\n{sql}COMMIT;");
    query(target, conn, database, &sql).await.map(drop)
}

/// Starts `pg_restore` reading the archive from stdin: write it to `stdin`,
/// then [`Running::finish`].
///
/// # Errors
/// Unavailable when the container manager cannot be started.
pub async fn restore(
    target: &Target,
    conn: &PgConn,
    database: &str,
    opts: RestoreOptions,
) -> Result<Running> {
    let mut argv = vec!["pg_restore".to_string()];
    argv.extend(conn.args(database));
    argv.push("--exit-on-error".into());
    if opts.clean {
        argv.extend(["--clean".into(), "--if-exists".into()]);
    }
    if opts.no_owner {
        argv.push("--no-owner".into());
    }
    let staged = opts.jobs > 1;
    if staged {
        argv.extend(["-j".into(), opts.jobs.to_string()]);
    } else {
        argv.push("--single-transaction".into());
    }
    secret::spawn(target, &conn.password, &argv, staged).await
}

/// Runs one SQL statement through `psql` and returns its unaligned output.
///
/// # Errors
/// FailedPrecondition carrying psql's stderr when the statement fails.
pub async fn query(target: &Target, conn: &PgConn, database: &str, sql: &str) -> Result<String> {
    let mut argv = vec![
        "psql".to_string(),
        "-X".into(),
        "-q".into(),
        "-A".into(),
        "-t".into(),
        "-v".into(),
        "ON_ERROR_STOP=1".into(),
    ];
    argv.extend(conn.args(database));
    let mut child = secret::spawn(target, &conn.password, &argv, false).await?;
    // The SQL goes in on stdin (it may carry a generated password); it is
    // small, so it is written whole before the output is read.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(sql.as_bytes()).await;
        let _ = stdin.write_all(b"\n").await;
        let _ = stdin.shutdown().await;
    }
    let mut out = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_end(&mut out).await?;
    }
    let done = child.finish().await?;
    if !done.success() {
        return Err(Error::precondition(format!(
            "psql in {} failed: {}",
            target.describe(),
            done.explain()
        )));
    }
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// Every database that can be backed up: not a template, accepting connections.
///
/// # Errors
/// As [`query`].
pub async fn list_databases(target: &Target, conn: &PgConn) -> Result<Vec<String>> {
    let out = query(target, conn, "postgres", sql::LIST_DATABASES).await?;
    Ok(out
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect())
}

/// User tables plus partitioned tables: the relation manifest.
///
/// # Errors
/// As [`query`], or Internal when the output is not a number.
pub async fn relation_count(target: &Target, conn: &PgConn, database: &str) -> Result<i64> {
    let out = query(target, conn, database, sql::RELATION_COUNT).await?;
    out.parse()
        .map_err(|_| Error::internal(format!("relation count: unexpected output {out:?}")))
}

/// Exact row counts per table (`schema.table` → rows): the row manifest.
///
/// # Errors
/// As [`query`], or Internal for output that is not `name<TAB>count`.
pub async fn row_counts(
    target: &Target,
    conn: &PgConn,
    database: &str,
) -> Result<BTreeMap<String, i64>> {
    let out = query(target, conn, database, sql::ROW_COUNTS).await?;
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, n) = l
                .rsplit_once('\t')
                .ok_or_else(|| Error::internal(format!("row counts: unexpected line {l:?}")))?;
            let n = n
                .parse()
                .map_err(|_| Error::internal(format!("row counts: unexpected count in {l:?}")))?;
            Ok((name.to_string(), n))
        })
        .collect()
}

/// Whether `database` exists on the tenant's server.
///
/// # Errors
/// As [`query`].
pub async fn database_exists(target: &Target, conn: &PgConn, database: &str) -> Result<bool> {
    let sql = format!(
        "SELECT count(*) FROM pg_database WHERE datname = {}",
        sql::literal(database)
    );
    Ok(query(target, conn, "postgres", &sql).await? == "1")
}

/// `CREATE DATABASE`; its OID, read in the same session, so whoever
/// created it can later tell it from one created under the same name.
///
/// # Errors
/// As [`query`], or Internal when the OID cannot be read.
pub async fn create_database(target: &Target, conn: &PgConn, database: &str) -> Result<u32> {
    let sql = format!(
        "CREATE DATABASE {};\n{}",
        sql::ident(database),
        oid_query(database)
    );
    let out = query(target, conn, "postgres", &sql).await?;
    parse_oid(&out)?.ok_or_else(|| {
        Error::internal(format!(
            "database {database} was created but has no OID in pg_database"
        ))
    })
}

/// The OID of `database`, or `None` when there is no such database.
///
/// # Errors
/// As [`query`], or Internal when the answer is not an OID.
pub async fn database_oid(target: &Target, conn: &PgConn, database: &str) -> Result<Option<u32>> {
    parse_oid(&query(target, conn, "postgres", &oid_query(database)).await?)
}

fn oid_query(database: &str) -> String {
    format!(
        "SELECT oid FROM pg_database WHERE datname = {}",
        sql::literal(database)
    )
}

fn parse_oid(out: &str) -> Result<Option<u32>> {
    if out.is_empty() {
        return Ok(None);
    }
    out.parse()
        .map(Some)
        .map_err(|_| Error::internal(format!("pg_database: unexpected OID {out:?}")))
}

/// `DROP DATABASE IF EXISTS … WITH (FORCE)`.
///
/// # Errors
/// As [`query`].
pub async fn drop_database(target: &Target, conn: &PgConn, database: &str) -> Result<()> {
    let sql = format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        sql::ident(database)
    );
    query(target, conn, "postgres", &sql).await.map(drop)
}
