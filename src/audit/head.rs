//! Each day's chain head, off the host: the sequence number and SHA-256 of
//! the last line written on a (UTC) day, as a write-once object in the
//! default bucket. Whoever later gains root on the daemon's host can rewrite
//! the local chain from an edit on, but not the heads already in the bucket,
//! so `audit verify` output can be checked against them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// `[audit]` in the config.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct AuditConfig {
    /// Write each finished day's chain head to the default bucket
    /// (`[s3]`, else `[gcs]` `default-bucket`) as `audit-chain/<day>.json`.
    pub bucket_chain_head: bool,
}

/// The last line of one day, as it is published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayHead {
    pub day: NaiveDate,
    /// The line's `seq` in its file.
    pub seq: u64,
    /// Hex SHA-256 of the line.
    pub sha256: String,
    /// The audit file's name (not its host path).
    pub file: String,
}

impl DayHead {
    /// The object key the head is written to.
    pub fn key(&self) -> String {
        format!("audit-chain/{}.json", self.day)
    }
}
