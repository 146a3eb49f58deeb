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

/// The keys of each table the environment may set.
const GCS_KEYS: &[&str] = &[
    "ENDPOINT",
    "CREDENTIALS_FILE",
    "ANONYMOUS",
    "DEFAULT_BUCKET",
    "ALLOWED_BUCKETS",
];
const S3_KEYS: &[&str] = &[
    "ENDPOINT",
    "REGION",
    "PATH_STYLE",
    "ACCESS_KEY_ID",
    "SECRET_ACCESS_KEY",
    "SESSION_TOKEN",
    "DEFAULT_BUCKET",
    "ALLOWED_BUCKETS",
];

/// One environment variable, if set and not empty.
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn text(env: Env, name: &str) -> Option<String> {
    env(name).filter(|v| !v.is_empty())
}

fn flag(env: Env, name: &str) -> Result<Option<bool>> {
    match text(env, name).as_deref() {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(v) => Err(crate::Error::invalid(format!(
            "{name}={v:?}: expected true or false"
        ))),
    }
}

fn list(env: Env, name: &str) -> Option<Vec<String>> {
    text(env, name).map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(str::to_string)
            .collect()
    })
}

/// `[gcs]` and `[s3]` overridden from the environment, as the rest of the
/// config is: `CONTAINARIUM_GCS_<KEY>` and `CONTAINARIUM_S3_<KEY>`, with KEY
/// the config key in upper snake case (`CONTAINARIUM_S3_DEFAULT_BUCKET`); a
/// list is comma-separated, a flag `true` or `false`. Setting any variable
/// of a table creates that table. The result is checked like the file.
///
/// # Errors
/// InvalidArgument for a malformed flag or bucket.
pub fn apply_env(gcs: &mut Option<GcsConfig>, s3: &mut Option<S3Config>, env: Env) -> Result<()> {
    let g = |k: &str| format!("CONTAINARIUM_GCS_{k}");
    let any = |prefix: &str, keys: &[&str]| {
        keys.iter()
            .any(|k| text(env, &format!("{prefix}{k}")).is_some())
    };
    if any("CONTAINARIUM_GCS_", GCS_KEYS) {
        let c = gcs.get_or_insert_with(GcsConfig::default);
        if let Some(v) = text(env, &g("ENDPOINT")) {
            c.endpoint = Some(v);
        }
        if let Some(v) = text(env, &g("CREDENTIALS_FILE")) {
            c.credentials_file = Some(v.into());
        }
        if let Some(v) = flag(env, &g("ANONYMOUS"))? {
            c.anonymous = v;
        }
        if let Some(v) = text(env, &g("DEFAULT_BUCKET")) {
            c.default_bucket = Some(v);
        }
        if let Some(v) = list(env, &g("ALLOWED_BUCKETS")) {
            c.allowed_buckets = v;
        }
        c.policy()
            .map_err(|e| e.context("[gcs] from the environment"))?;
    }
    let s = |k: &str| format!("CONTAINARIUM_S3_{k}");
    if any("CONTAINARIUM_S3_", S3_KEYS) {
        let c = s3.get_or_insert_with(S3Config::default);
        if let Some(v) = text(env, &s("ENDPOINT")) {
            c.endpoint = Some(v);
        }
        if let Some(v) = text(env, &s("REGION")) {
            c.region = Some(v);
        }
        if let Some(v) = flag(env, &s("PATH_STYLE"))? {
            c.path_style = v;
        }
        if let Some(v) = text(env, &s("ACCESS_KEY_ID")) {
            c.access_key_id = Some(v);
        }
        if let Some(v) = text(env, &s("SECRET_ACCESS_KEY")) {
            c.secret_access_key = Some(Redacted::new(v));
        }
        if let Some(v) = text(env, &s("SESSION_TOKEN")) {
            c.session_token = Some(Redacted::new(v));
        }
        if let Some(v) = text(env, &s("DEFAULT_BUCKET")) {
            c.default_bucket = Some(v);
        }
        if let Some(v) = list(env, &s("ALLOWED_BUCKETS")) {
            c.allowed_buckets = v;
        }
        c.policy()
            .map_err(|e| e.context("[s3] from the environment"))?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_environment_overrides_and_creates_bucket_tables() {
        let mut gcs = Some(GcsConfig {
            default_bucket: Some("gs://file/x".into()),
            ..GcsConfig::default()
        });
        let mut s3 = None;
        let e = env(&[
            ("CONTAINARIUM_GCS_DEFAULT_BUCKET", "gs://env/y"),
            ("CONTAINARIUM_GCS_ANONYMOUS", "true"),
            ("CONTAINARIUM_S3_DEFAULT_BUCKET", "s3://bbb/p"),
            ("CONTAINARIUM_S3_ALLOWED_BUCKETS", "aaa, ccc"),
            ("CONTAINARIUM_S3_PATH_STYLE", "1"),
            ("CONTAINARIUM_S3_SECRET_ACCESS_KEY", "sekrit"),
        ]);
        apply_env(&mut gcs, &mut s3, &e).unwrap();
        let g = gcs.unwrap();
        assert_eq!(g.default_bucket.as_deref(), Some("gs://env/y"));
        assert!(g.anonymous);
        let s = s3.unwrap();
        assert_eq!(s.allowed_buckets, ["aaa", "ccc"]);
        assert!(s.path_style);
        assert_eq!(s.policy().unwrap().1, ["aaa", "bbb", "ccc"]);
        assert!(!format!("{s:?}").contains("sekrit"));

        let (mut gcs, mut s3) = (None, None);
        apply_env(&mut gcs, &mut s3, &env(&[])).unwrap();
        assert!(
            gcs.is_none() && s3.is_none(),
            "nothing set, nothing created"
        );
        let bad = env(&[("CONTAINARIUM_S3_PATH_STYLE", "yes")]);
        let e = apply_env(&mut gcs, &mut s3, &bad).unwrap_err();
        assert!(e.message.contains("CONTAINARIUM_S3_PATH_STYLE"), "{e}");
        let bad = env(&[("CONTAINARIUM_GCS_DEFAULT_BUCKET", "s3://x")]);
        assert!(apply_env(&mut gcs, &mut s3, &bad).is_err());
    }
}
