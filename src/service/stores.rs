//! Which store a request or a record may use. Buckets come from the daemon's
//! config only (a default and an allow-list per destination): the daemon
//! writes with its own credentials, so a caller naming any other bucket is
//! refused before a byte is written (the confused-deputy guard). Records are
//! held to the same list, so a tampered sidecar cannot redirect a read.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::{Destination, Record};
use crate::config::Config;
use crate::store::{BucketUri, Buckets, GcsClient, LocalStore, S3Client, Store};
use crate::{Error, Result};

/// Every destination this daemon serves.
#[derive(Debug)]
pub(super) struct Stores {
    local: Arc<LocalStore>,
    remote: HashMap<Destination, Remote>,
}

/// A configured bucket destination.
#[derive(Debug)]
struct Remote {
    client: Box<dyn Buckets>,
    default: Option<BucketUri>,
    /// Bucket names a request may use (the default's included).
    allowed: Vec<String>,
}

impl Stores {
    /// # Errors
    /// InvalidArgument for a malformed `[gcs]`/`[s3]` table.
    pub fn new(config: &Config, local: Arc<LocalStore>) -> Result<Self> {
        let mut remote = HashMap::new();
        if let Some(g) = &config.gcs {
            let (default, allowed) = g.policy().map_err(|e| e.context("[gcs]"))?;
            g.retention()?;
            let client = Box::new(GcsClient::new(g)?);
            remote.insert(
                Destination::Gcs,
                Remote {
                    client,
                    default,
                    allowed,
                },
            );
        }
        if let Some(s) = &config.s3 {
            let (default, allowed) = s.policy().map_err(|e| e.context("[s3]"))?;
            s.object_lock()?;
            let client = Box::new(S3Client::new(s));
            remote.insert(
                Destination::S3,
                Remote {
                    client,
                    default,
                    allowed,
                },
            );
        }
        Ok(Self { local, remote })
    }

    fn remote(&self, d: Destination) -> Result<&Remote> {
        self.remote.get(&d).ok_or_else(|| {
            Error::precondition(format!(
                "the {} destination is not configured on this daemon: add a [{}] table with a \
                 default-bucket (or allowed-buckets) to its config",
                d.name(),
                d.name()
            ))
        })
    }

    /// Where a new backup to `d` goes: the named bucket URI, or the default.
    ///
    /// # Errors
    /// FailedPrecondition when `d` is not configured or has no default and
    /// none was named; InvalidArgument for a malformed URI or a bucket given
    /// to the local destination; PermissionDenied for a bucket outside the
    /// allow-list.
    pub fn for_create(&self, d: Destination, bucket: Option<&str>) -> Result<Arc<dyn Store>> {
        let bucket = bucket.filter(|b| !b.is_empty());
        if d == Destination::Local {
            return match bucket {
                None => Ok(self.local.clone()),
                Some(b) => Err(Error::invalid(format!(
                    "a bucket ({b}) was named for the local destination; choose gcs or s3"
                ))),
            };
        }
        let r = self.remote(d)?;
        let uri = match bucket {
            Some(b) => BucketUri::parse(d, b)?,
            None => r.default.clone().ok_or_else(|| {
                Error::precondition(format!(
                    "no bucket was named and [{}] has no default-bucket",
                    d.name()
                ))
            })?,
        };
        r.open_allowed(&uri)
    }

    /// The host backup directory.
    pub fn local(&self) -> Arc<dyn Store> {
        self.local.clone()
    }

    /// The store holding a record's dump, checked against the allow-list.
    ///
    /// # Errors
    /// FailedPrecondition when the record's destination is not configured or
    /// its location is not of the form this daemon writes; PermissionDenied
    /// for a bucket outside the allow-list.
    pub fn for_record(&self, record: &Record) -> Result<Arc<dyn Store>> {
        if record.destination == Destination::Local {
            return Ok(self.local.clone());
        }
        let r = self.remote(record.destination)?;
        let uri = BucketUri::of_location(
            record.destination,
            &record.location,
            &format!("{}.dump", record.id),
        )
        .ok_or_else(|| {
            Error::precondition(format!(
                "backup {} has the location {:?}, which is not <bucket URI>/{}.dump",
                record.id, record.location, record.id
            ))
        })?;
        r.open_allowed(&uri)
    }

    /// The bucket stores to scan when rebuilding the index: the named URI,
    /// or every configured default.
    ///
    /// # Errors
    /// As [`Stores::for_create`]; FailedPrecondition when nothing is named
    /// and no bucket destination has a default.
    pub fn for_rebuild(&self, bucket: Option<&str>) -> Result<Vec<(Destination, Arc<dyn Store>)>> {
        if let Some(b) = bucket.filter(|b| !b.is_empty()) {
            let d = match b.split_once("://") {
                Some(("gs", _)) => Destination::Gcs,
                Some(("s3", _)) => Destination::S3,
                _ => {
                    return Err(Error::invalid(format!(
                        "name the bucket to scan as gs://bucket[/prefix] or s3://bucket[/prefix], not {b:?}"
                    )));
                }
            };
            return Ok(vec![(d, self.for_create(d, Some(b))?)]);
        }
        let out = self.defaults()?;
        if out.is_empty() {
            return Err(Error::precondition(
                "no bucket was named and no [gcs] or [s3] default-bucket is configured",
            ));
        }
        Ok(out)
    }
}

impl Stores {
    /// The store of every configured default bucket URI (none for a daemon
    /// that writes only to its host directory).
    ///
    /// # Errors
    /// As [`Buckets::open`].
    pub fn defaults(&self) -> Result<Vec<(Destination, Arc<dyn Store>)>> {
        let mut out = Vec::new();
        for d in [Destination::Gcs, Destination::S3] {
            if let Some(r) = self.remote.get(&d)
                && let Some(uri) = &r.default
            {
                out.push((d, r.open_allowed(uri)?));
            }
        }
        Ok(out)
    }
}

impl Remote {
    fn open_allowed(&self, uri: &BucketUri) -> Result<Arc<dyn Store>> {
        if !self.allowed.contains(&uri.bucket) {
            let allowed = if self.allowed.is_empty() {
                "none".to_string()
            } else {
                self.allowed.join(", ")
            };
            return Err(Error::denied(format!(
                "bucket {} is not allowed on this daemon (allowed {} buckets: {allowed}); \
                 buckets are chosen in the daemon's config",
                uri.bucket,
                uri.destination.name()
            )));
        }
        self.client.open(uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;
    use crate::config::{GcsConfig, S3Config};

    fn stores(dir: &std::path::Path) -> Stores {
        let config = Config {
            backup_dir: dir.to_path_buf(),
            gcs: Some(GcsConfig {
                anonymous: true,
                default_bucket: Some("gs://main-bucket/prod".into()),
                allowed_buckets: vec!["archive".into()],
                ..GcsConfig::default()
            }),
            s3: Some(S3Config {
                allowed_buckets: vec!["s3-only".into()],
                ..S3Config::default()
            }),
            ..Config::default()
        };
        Stores::new(&config, Arc::new(LocalStore::open(dir).unwrap())).unwrap()
    }

    fn record(d: Destination, location: &str) -> Record {
        let mut r: Record = serde_json::from_str(
            r#"{"id":"a-b-20260605T130405Z","username":"a","database":"b",
            "created_at":"2026-06-05T13:04:07Z","size_bytes":1,"sha256":"00",
            "destination":"local","location":"x"}"#,
        )
        .unwrap();
        r.destination = d;
        r.location = location.into();
        r
    }

    #[test]
    fn only_configured_buckets_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let s = stores(dir.path());
        let code = |r: Result<Arc<dyn Store>>| r.err().map(|e| e.code);
        let gcs = s.for_create(Destination::Gcs, None).unwrap();
        assert_eq!(gcs.location("x.dump"), "gs://main-bucket/prod/x.dump");
        assert!(
            s.for_create(Destination::Gcs, Some("gs://archive/p"))
                .is_ok()
        );
        assert!(s.for_create(Destination::Gcs, Some("main-bucket")).is_ok());
        assert_eq!(
            code(s.for_create(Destination::Gcs, Some("gs://other/p"))),
            Some(Code::PermissionDenied)
        );
        assert_eq!(
            code(s.for_create(Destination::S3, None)),
            Some(Code::FailedPrecondition),
            "no default bucket"
        );
        assert!(
            s.for_create(Destination::S3, Some("s3://s3-only/x"))
                .is_ok()
        );
        assert_eq!(
            code(s.for_create(Destination::Local, Some("gs://archive"))),
            Some(Code::InvalidArgument)
        );

        let ok = record(Destination::Gcs, "gs://archive/p/a-b-20260605T130405Z.dump");
        assert_eq!(s.for_record(&ok).unwrap().location("k"), "gs://archive/p/k");
        let tampered = record(
            Destination::Gcs,
            "gs://evil-bucket/a-b-20260605T130405Z.dump",
        );
        assert_eq!(code(s.for_record(&tampered)), Some(Code::PermissionDenied));
        let odd = record(Destination::Gcs, "gs://archive/p/other.dump");
        assert_eq!(code(s.for_record(&odd)), Some(Code::FailedPrecondition));

        let all = s.for_rebuild(None).unwrap();
        assert_eq!(all.len(), 1, "only GCS has a default");
        assert_eq!(
            s.for_rebuild(Some("archive")).err().map(|e| e.code),
            Some(Code::InvalidArgument),
            "a scheme is needed to know the destination"
        );
    }

    #[test]
    fn unconfigured_destinations_say_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            backup_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let s = Stores::new(&config, Arc::new(LocalStore::open(dir.path()).unwrap())).unwrap();
        let e = s.for_create(Destination::S3, None).err().unwrap();
        assert_eq!(e.code, Code::FailedPrecondition);
        assert!(e.message.contains("[s3]"), "{}", e.message);
        assert!(s.for_create(Destination::Local, None).is_ok());
    }
}
