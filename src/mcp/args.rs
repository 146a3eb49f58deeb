//! The tools' arguments, in the wire contract's snake_case names, and their
//! translation into proto requests. Nothing is validated here: the service
//! behind [`crate::api::Api`] does that once for every surface.
//!
//! None of these types derives `Debug`: several carry a database password.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use crate::proto;

/// Where a new backup is stored.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Dest {
    #[default]
    Local,
    Gcs,
    S3,
}

impl From<Dest> for proto::BackupDestination {
    fn from(d: Dest) -> Self {
        match d {
            Dest::Local => Self::Local,
            Dest::Gcs => Self::Gcs,
            Dest::S3 => Self::S3,
        }
    }
}

/// A password argument. A value of the wrong type is refused without being
/// quoted: serde's own message would echo a numeric password to the caller.
fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(serde::de::Error::custom("db_password must be a string")),
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArgs {
    /// The tenant (container) whose Postgres to back up.
    pub username: String,
    /// The database to back up; omit it to back up every non-template database.
    pub database: Option<String>,
    /// Where the dump is stored (default `local`).
    #[serde(default)]
    pub dest: Dest,
    /// `gs://bucket/prefix` for `dest: gcs` (`s3://…` for `dest: s3`).
    pub gcs_bucket: Option<String>,
    /// Database user (default `postgres`).
    pub db_user: Option<String>,
    /// Database password; never logged or echoed.
    #[serde(default, deserialize_with = "secret")]
    pub db_password: Option<String>,
    /// Host as seen from inside the tenant's container (default `127.0.0.1`).
    pub db_host: Option<String>,
    /// Port (default 5432).
    pub db_port: Option<i32>,
}

impl From<CreateArgs> for proto::CreateBackupRequest {
    fn from(a: CreateArgs) -> Self {
        Self {
            username: a.username,
            connection: Some(proto::PgConnection {
                database: a.database.unwrap_or_default(),
                user: a.db_user.unwrap_or_default(),
                password: a.db_password.unwrap_or_default(),
                host: a.db_host.unwrap_or_default(),
                port: a.db_port.unwrap_or_default(),
            }),
            destination: proto::BackupDestination::from(a.dest).into(),
            gcs_bucket: a.gcs_bucket.unwrap_or_default(),
            all_tenants: false,
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only this tenant's backups. Omitted: every tenant's for an admin; a
    /// non-admin always sees only their own.
    pub username: Option<String>,
    /// Records per page, 1 to 1000. Omitted: every record at once.
    pub page_size: Option<i32>,
    /// The `next page token` of the previous answer, to continue a listing.
    pub page_token: Option<String>,
}

impl From<ListArgs> for proto::ListBackupsRequest {
    fn from(a: ListArgs) -> Self {
        Self {
            username: a.username.unwrap_or_default(),
            page_size: a.page_size.unwrap_or_default(),
            page_token: a.page_token.unwrap_or_default(),
        }
    }
}

/// The running operations take no paging: they are few and short-lived.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationsArgs {
    /// Only this tenant's operations. Omitted: every tenant's for an admin; a
    /// non-admin always sees only their own.
    pub username: Option<String>,
}

impl From<OperationsArgs> for proto::ListOperationsRequest {
    fn from(a: OperationsArgs) -> Self {
        Self {
            username: a.username.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdArgs {
    /// The backup id, e.g. `alice-app-20260605T130405Z`.
    pub id: String,
}

impl From<IdArgs> for proto::GetBackupRequest {
    fn from(a: IdArgs) -> Self {
        Self { id: a.id }
    }
}

impl From<IdArgs> for proto::DeleteBackupRequest {
    fn from(a: IdArgs) -> Self {
        Self { id: a.id }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreArgs {
    /// The backup id.
    pub id: String,
    /// Restore into this database (created when missing); omit it to restore
    /// into the backup's own database.
    pub database: Option<String>,
    /// Drop objects before recreating them.
    #[serde(default)]
    pub clean: bool,
    /// Parallel pg_restore jobs; above 1 the restore is not atomic.
    pub jobs: Option<i32>,
    /// Do not reproduce object ownership (roles missing on the target).
    #[serde(default)]
    pub no_owner: bool,
    /// First recreate the roles of the globals backup taken with this one.
    #[serde(default)]
    pub globals: bool,
    /// Database user (default `postgres`).
    pub db_user: Option<String>,
    /// Database password; never logged or echoed.
    #[serde(default, deserialize_with = "secret")]
    pub db_password: Option<String>,
}

impl From<RestoreArgs> for proto::RestoreBackupRequest {
    fn from(a: RestoreArgs) -> Self {
        Self {
            id: a.id,
            connection: Some(proto::PgConnection {
                database: a.database.unwrap_or_default(),
                user: a.db_user.unwrap_or_default(),
                password: a.db_password.unwrap_or_default(),
                ..proto::PgConnection::default()
            }),
            clean: a.clean,
            jobs: a.jobs.unwrap_or_default(),
            no_owner: a.no_owner,
            globals: a.globals,
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyArgs {
    /// The backup id.
    pub id: String,
    /// A tenant container other than the backup's own, to restore into a
    /// scratch database there.
    pub target_username: String,
    /// Database user on the target (default `postgres`).
    pub db_user: Option<String>,
    /// Database password on the target; never logged or echoed.
    #[serde(default, deserialize_with = "secret")]
    pub db_password: Option<String>,
}

impl From<VerifyArgs> for proto::VerifyBackupRequest {
    fn from(a: VerifyArgs) -> Self {
        Self {
            id: a.id,
            target_username: a.target_username,
            connection: Some(proto::PgConnection {
                user: a.db_user.unwrap_or_default(),
                password: a.db_password.unwrap_or_default(),
                ..proto::PgConnection::default()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_arguments_map_onto_the_proto_fields() {
        let args: CreateArgs = serde_json::from_value(json!({
            "username": "alice", "dest": "gcs", "gcs_bucket": "gs://b/p",
            "db_user": "u", "db_password": "pw", "db_host": "h", "db_port": 6543
        }))
        .unwrap();
        let req = proto::CreateBackupRequest::from(args);
        assert_eq!(req.destination, proto::BackupDestination::Gcs as i32);
        assert_eq!(req.gcs_bucket, "gs://b/p");
        let c = req.connection.unwrap();
        assert_eq!(
            (c.database.as_str(), c.user.as_str(), c.password.as_str()),
            ("", "u", "pw")
        );
        assert_eq!((c.host.as_str(), c.port), ("h", 6543));

        let args: CreateArgs = serde_json::from_value(json!({"username": "a"})).unwrap();
        let req = proto::CreateBackupRequest::from(args);
        assert_eq!(req.destination, proto::BackupDestination::Local as i32);

        let bad_dest = json!({"username": "a", "dest": "ftp"});
        assert!(serde_json::from_value::<CreateArgs>(bad_dest).is_err());
        let unknown = json!({"id": "x", "password": "pw"});
        assert!(serde_json::from_value::<IdArgs>(unknown).is_err());
    }

    #[test]
    fn restore_and_verify_arguments_map_onto_the_proto_fields() {
        let args: RestoreArgs = serde_json::from_value(json!({
            "id": "x", "database": "copy", "clean": true, "jobs": 3, "no_owner": true
        }))
        .unwrap();
        let req = proto::RestoreBackupRequest::from(args);
        assert!(req.clean && req.no_owner && req.jobs == 3);
        assert_eq!(req.connection.unwrap().database, "copy");

        let args: VerifyArgs = serde_json::from_value(json!({
            "id": "alice-app-20260605T130405Z", "target_username": "bob", "db_user": "v"
        }))
        .unwrap();
        let req = proto::VerifyBackupRequest::from(args);
        assert_eq!(req.target_username, "bob");
        assert_eq!(req.connection.unwrap().user, "v");
    }

    #[test]
    fn a_mistyped_password_is_not_quoted_back() {
        let numeric = json!({"id": "x", "target_username": "b", "db_password": 918_273});
        let e = serde_json::from_value::<VerifyArgs>(numeric).err().unwrap();
        assert!(!e.to_string().contains("918273"), "{e}");
        assert!(
            e.to_string().contains("db_password must be a string"),
            "{e}"
        );
    }
}
