//! The sidecar record: one JSON file per backup in the layout existing
//! Containarium daemons write (snake_case; `destination` "local"/"gcs";
//! `engine` "postgres"), so an existing backup directory reads as is.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Where the dump bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Destination {
    #[serde(alias = "LOCAL", alias = "BACKUP_DESTINATION_LOCAL")]
    Local,
    #[serde(alias = "GCS", alias = "BACKUP_DESTINATION_GCS")]
    Gcs,
    #[serde(alias = "S3", alias = "BACKUP_DESTINATION_S3")]
    S3,
}

impl Destination {
    pub fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Gcs => "gcs",
            Self::S3 => "s3",
        }
    }
}

/// The engine that produced the dump. Absent in a sidecar = unknown, and an
/// unknown engine is never guessed to be Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    #[serde(alias = "postgresql", alias = "BACKUP_ENGINE_POSTGRES")]
    Postgres,
}

/// Outcome of a restore test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyResult {
    #[serde(alias = "PASSED", alias = "VERIFICATION_RESULT_PASSED")]
    Passed,
    #[serde(alias = "FAILED", alias = "VERIFICATION_RESULT_FAILED")]
    Failed,
}

/// One named check of a restore test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    #[serde(default)]
    pub detail: String,
}

/// Evidence of the last restore test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub verified_at: DateTime<Utc>,
    pub result: VerifyResult,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub target_container: String,
    #[serde(default)]
    pub scratch_database: String,
    #[serde(default)]
    pub duration_ms: i64,
    #[serde(default)]
    pub verified_by: String,
    #[serde(default)]
    pub checks: Vec<Check>,
}

/// One backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// The tenant that owns the backup.
    pub username: String,
    pub database: String,
    pub created_at: DateTime<Utc>,
    pub size_bytes: i64,
    pub sha256: String,
    pub destination: Destination,
    pub location: String,
    #[serde(default)]
    pub engine: Option<Engine>,
    #[serde(default)]
    pub last_verification: Option<Verification>,
    /// User + partitioned tables at dump time; `None` = no manifest.
    #[serde(default)]
    pub relation_count: Option<i64>,
    /// Rows per table (`schema.table`) at dump time; absent in records made
    /// before this manifest existed, which still verify without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_counts: Option<BTreeMap<String, i64>>,
    /// How the stored bytes encode the archive; empty in older records.
    #[serde(flatten)]
    pub encoding: Encoding,
    /// Until when the bucket refuses to delete this backup's objects (S3
    /// Object Lock, GCS retention): the latest retention of any of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<DateTime<Utc>>,
    /// What the dump holds; absent (a database) in every older record.
    #[serde(default, skip_serializing_if = "Kind::is_database")]
    pub kind: Kind,
    /// The globals (roles) taken by the same all-databases create: what
    /// `restore --globals` and verify apply before this database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub globals_id: Option<String>,
}

/// What a backup holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// One database, as `pg_dump -Fc` wrote it.
    #[default]
    Database,
    /// The tenant's roles, as `pg_dumpall --globals-only` wrote them (SQL
    /// that is parsed, never run: see `engine::globals`).
    Globals,
}

impl Kind {
    pub fn is_database(&self) -> bool {
        *self == Kind::Database
    }

    /// The name on the wire and in the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Database => "database",
            Kind::Globals => "globals",
        }
    }
}

/// How the stored bytes were made from pg_dump's archive: what restore must
/// undo, in reverse order. Every field is absent in records written before
/// stages existed, which read as a plain `pg_dump -Fc` (zlib) archive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encoding {
    /// Stage ids in the order they were applied (`["zstd", "age"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    /// Who compressed: "zlib" (pg_dump), "zstd" (the daemon) or "none";
    /// absent = "zlib".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// The archive's size as pg_dump wrote it, before the stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_size_bytes: Option<i64>,
    /// "age" when the stored bytes are encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    /// The public keys the dump was encrypted to: which key restores it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
}

impl Record {
    /// The instant until which the bucket still holds this backup, if that
    /// is later than `now`.
    pub fn locked_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.locked_until.filter(|t| *t > now)
    }
}

/// RFC 3339 UTC with a `Z`, as the wire contract writes times.
pub fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_existing_containarium_layout() {
        let json = r#"{"id":"alice-app-20260605T130405Z","username":"alice","database":"app",
            "created_at":"2026-06-05T13:04:07.123456789Z","size_bytes":41231,
            "sha256":"9f2c","destination":"local",
            "location":"/var/lib/containarium/backups/alice-app-20260605T130405Z.dump",
            "engine":"postgres","last_verification":null}"#;
        let r: Record = serde_json::from_str(json).unwrap();
        assert_eq!(r.destination, Destination::Local);
        assert_eq!(r.engine, Some(Engine::Postgres));
        assert_eq!(r.relation_count, None);
        assert_eq!(rfc3339(&r.created_at), "2026-06-05T13:04:07.123456789Z");
        let back = serde_json::to_value(&r).unwrap();
        for k in [
            "id",
            "username",
            "database",
            "created_at",
            "size_bytes",
            "sha256",
            "destination",
            "location",
            "engine",
            "last_verification",
            "relation_count",
        ] {
            assert!(back.get(k).is_some(), "field {k} written");
        }
        assert_eq!(back["destination"], "local");
        assert_eq!(back["engine"], "postgres");
    }

    #[test]
    fn a_missing_engine_stays_unknown() {
        let json = r#"{"id":"a-b-20260605T130405Z","username":"a","database":"b",
            "created_at":"2026-06-05T13:04:07Z","size_bytes":1,"sha256":"00",
            "destination":"gcs","location":"gs://x/a-b-20260605T130405Z.dump"}"#;
        let r: Record = serde_json::from_str(json).unwrap();
        assert_eq!(r.engine, None);
        assert_eq!(r.destination, Destination::Gcs);
    }
}
