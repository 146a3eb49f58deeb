//! What a restore or verify makes on a tenant's server (a restore's new
//! database, a restore test's sandbox and roles) is noted in its marker
//! before it exists, and dropped again at start-up when the operation was
//! interrupted, so no database is left half-restored and no scratch stays.

use std::time::Duration;

use super::BackupService;
use super::recover::Recovery;
use crate::catalog::{Intent, Made, Marker};
use crate::engine::{self, Password, PgConn, Sandbox};
use crate::runtime::Target;
use crate::{Error, Result};

/// How long recovery waits for one tenant's server: a tenant that is down
/// must not keep the daemon from serving (what it made stays, and is named
/// in the audit line).
const TENANT_DEADLINE: Duration = Duration::from_secs(30);

/// Creates `database` for a restore, noting it in the restore's marker
/// first (name only) and again with its OID once it exists, so an
/// interrupted restore's database is dropped at start-up, and only that one.
///
/// # Errors
/// As [`engine::create_database`]; Internal when the marker cannot be
/// written (then the database is dropped again, or never created).
pub(super) async fn create_noted(
    marker: &Marker,
    intent: &Intent,
    made: Made,
    target: &Target,
    conn: &PgConn,
) -> Result<()> {
    let note = |made: &Made| {
        marker.note(&Intent {
            made: Some(made.clone()),
            ..intent.clone()
        })
    };
    note(&made)?;
    let oid = engine::create_database(target, conn, &made.database).await?;
    let made = Made {
        oid: Some(oid),
        ..made
    };
    if let Err(e) = note(&made) {
        // Unnoted, a crash would leave it for nobody to find: not made.
        if let Err(d) = engine::drop_database(target, conn, &made.database).await {
            tracing::warn!(database = made.database, error = %d, "could not drop a database whose creation could not be noted");
        }
        return Err(e);
    }
    Ok(())
}

impl BackupService {
    /// Drops what an interrupted restore or verify made (see [`Made`]) and
    /// says what became of it, as the end of that operation's audit line.
    pub(super) async fn undo_made(&self, id: &str, made: &Made, out: &mut Recovery) -> String {
        let what = format!("{}/{}", made.tenant, made.database);
        let undone = tokio::time::timeout(TENANT_DEADLINE, self.drop_made(made))
            .await
            .unwrap_or_else(|_| {
                Err(Error::unavailable(format!(
                    "tenant {} did not answer in {}s",
                    made.tenant,
                    TENANT_DEADLINE.as_secs()
                )))
            });
        match undone {
            Ok((said, dropped)) => {
                tracing::warn!(id, database = %what, outcome = %said, "recovery");
                if dropped {
                    out.dropped.push(what);
                }
                said
            }
            Err(e) => {
                tracing::error!(id, database = %what, error = %e, "recovery could not drop what an interrupted operation made");
                out.unresolved.push(format!("{what}: {}", e.message));
                format!(
                    "{what}, which it made, may remain: {} (drop it by hand)",
                    e.message
                )
            }
        }
    }

    /// What was done, and whether anything was dropped.
    async fn drop_made(&self, made: &Made) -> Result<(String, bool)> {
        // The operation's own user, host and port; no password is kept.
        let conn = PgConn {
            user: made.user.clone(),
            password: Password::default(),
            host: made.host.clone(),
            port: made.port,
        };
        let target = self.reach(&made.tenant, &conn)?;
        let (tenant, db) = (&made.tenant, &made.database);
        if made.sandbox {
            if !super::verify::is_scratch_name(db) {
                return Err(Error::invalid(format!(
                    "{db} is not a restore-test name; only those are dropped"
                )));
            }
            let found = Sandbox::drop_leftovers(&target, &conn, db).await?;
            return Ok(if found.is_empty() {
                (
                    format!("no scratch {db} remained in tenant {tenant}"),
                    false,
                )
            } else {
                let found = found.join(", ");
                (
                    format!("its scratch {found} in tenant {tenant} dropped at start-up"),
                    true,
                )
            });
        }
        let now = engine::database_oid(&target, &conn, db).await?;
        match (made.oid, now) {
            (_, None) => Ok((
                format!("the database {tenant}/{db} it was creating does not exist"),
                false,
            )),
            (Some(oid), Some(now)) if oid == now => {
                engine::drop_database(&target, &conn, db).await?;
                if engine::database_oid(&target, &conn, db).await?.is_some() {
                    return Err(Error::precondition(format!(
                        "{tenant}/{db} is still there after DROP DATABASE"
                    )));
                }
                Ok((
                    format!(
                        "the database {tenant}/{db} it had created (OID {oid}) was dropped at start-up"
                    ),
                    true,
                ))
            }
            (Some(oid), Some(now)) => Ok((
                format!(
                    "the database {tenant}/{db} was left as it is: it is not the one the restore \
                     created (OID {now}, not {oid})"
                ),
                false,
            )),
            (None, Some(now)) => Ok((
                format!(
                    "the database {tenant}/{db} (OID {now}) was left as it is: the restore stopped \
                     before it noted creating it"
                ),
                false,
            )),
        }
    }
}
