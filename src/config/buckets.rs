//! `[gcs]` and `[s3]`: the off-host destinations. Each names a default bucket
//! and an allow-list, because the daemon writes with its own credentials and
//! must never be talked into writing to a bucket an operator did not choose.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Redacted;
use crate::Result;
use crate::catalog::Destination;
use crate::store::BucketUri;

/// Google Cloud Storage over its JSON API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct GcsConfig {
    /// API root, for emulators (`http://127.0.0.7:4443`); default
    /// `https://storage.googleapis.com`.
    pub endpoint: Option<String>,
    /// A service-account key file. Without it, Application Default
    /// Credentials are used (GOOGLE_APPLICATION_CREDENTIALS, gcloud, the
    /// metadata server).
    pub credentials_file: Option<PathBuf>,
    /// Send no credentials at all (emulators only).
    pub anonymous: bool,
    /// Used when a request names no bucket: `gs://bucket/prefix` or a bare
    /// `bucket/prefix`. Always allowed.
    pub default_bucket: Option<String>,
    /// Further bucket names a request may name (any prefix inside them).
    pub allowed_buckets: Vec<String>,
    /// Days (fractions allowed) for which every object written (dump,
    /// sidecar, evidence) gets an object retention: GCS refuses to delete it
    /// before then. The bucket must have object retention enabled.
    pub retention_days: Option<f64>,
}

/// S3 or an S3-compatible service. Anything unset here falls back to the
/// usual `AWS_*` environment variables.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct S3Config {
    /// For S3-compatible services and emulators (`http://127.0.0.6:5000`).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// `endpoint/bucket/key` instead of `bucket.endpoint/key` (most
    /// S3-compatible services and emulators want this).
    pub path_style: bool,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Redacted>,
    pub session_token: Option<Redacted>,
    /// Used when a request names no bucket: `s3://bucket/prefix` or a bare
    /// `bucket/prefix`. Always allowed.
    pub default_bucket: Option<String>,
    /// Further bucket names a request may name (any prefix inside them).
    pub allowed_buckets: Vec<String>,
    /// Days (fractions allowed) for which every object written (dump,
    /// sidecar, evidence) gets an S3 Object Lock retention: S3 refuses to
    /// delete its version before then. The bucket must have Object Lock
    /// enabled (which also makes it versioned).
    pub object_lock_days: Option<f64>,
    /// `GOVERNANCE` (default: users with s3:BypassGovernanceRetention may
    /// still remove it) or `COMPLIANCE` (nobody may, not even root).
    pub object_lock_mode: LockMode,
}

/// The S3 Object Lock retention mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LockMode {
    #[default]
    #[serde(alias = "governance")]
    Governance,
    #[serde(alias = "compliance")]
    Compliance,
}

impl LockMode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Governance => "GOVERNANCE",
            Self::Compliance => "COMPLIANCE",
        }
    }
}

/// The longest retention accepted: a typo of a few zeros should not lock a
/// bucket for millennia.
const MAX_LOCK_DAYS: f64 = 36_500.0;

/// `days` of `key` as a duration; `None` when unset.
///
/// # Errors
/// InvalidArgument unless 0 < days ≤ 36 500.
pub fn lock_period(key: &str, days: Option<f64>) -> Result<Option<chrono::Duration>> {
    let Some(days) = days else {
        return Ok(None);
    };
    if !(days.is_finite() && days > 0.0 && days <= MAX_LOCK_DAYS) {
        return Err(crate::Error::invalid(format!(
            "{key} = {days} is out of range: use more than 0 and at most {MAX_LOCK_DAYS} days"
        )));
    }
    // Whole milliseconds: at most 36 500 days, far inside i64.
    #[allow(clippy::cast_possible_truncation)]
    let ms = (days * 86_400_000.0).ceil() as i64;
    Ok(Some(chrono::Duration::milliseconds(ms)))
}

/// A destination's bucket policy, parsed: the default (if any) and every
/// bucket name a request may use (the default's included), sorted.
///
/// # Errors
/// InvalidArgument for a malformed bucket or URI.
pub fn bucket_policy(
    d: Destination,
    default_bucket: Option<&str>,
    allowed_buckets: &[String],
) -> Result<(Option<BucketUri>, Vec<String>)> {
    let default = default_bucket.map(|b| BucketUri::parse(d, b)).transpose()?;
    let mut allowed = Vec::new();
    for b in allowed_buckets {
        let uri = BucketUri::parse(d, b)?;
        if !uri.prefix.is_empty() {
            return Err(crate::Error::invalid(format!(
                "allowed-buckets lists bucket names, not prefixes: {b:?}"
            )));
        }
        allowed.push(uri.bucket);
    }
    allowed.extend(default.iter().map(|u| u.bucket.clone()));
    allowed.sort();
    allowed.dedup();
    Ok((default, allowed))
}

impl GcsConfig {
    /// # Errors
    /// As [`bucket_policy`].
    pub fn policy(&self) -> Result<(Option<BucketUri>, Vec<String>)> {
        bucket_policy(
            Destination::Gcs,
            self.default_bucket.as_deref(),
            &self.allowed_buckets,
        )
    }

    /// How long each written object is retained (`retention-days`).
    ///
    /// # Errors
    /// As [`lock_period`].
    pub fn retention(&self) -> Result<Option<chrono::Duration>> {
        lock_period("[gcs] retention-days", self.retention_days)
    }
}

impl S3Config {
    /// # Errors
    /// As [`bucket_policy`].
    pub fn policy(&self) -> Result<(Option<BucketUri>, Vec<String>)> {
        bucket_policy(
            Destination::S3,
            self.default_bucket.as_deref(),
            &self.allowed_buckets,
        )
    }

    /// How long each written object is locked (`object-lock-days`).
    ///
    /// # Errors
    /// As [`lock_period`].
    pub fn object_lock(&self) -> Result<Option<chrono::Duration>> {
        lock_period("[s3] object-lock-days", self.object_lock_days)
    }
}
