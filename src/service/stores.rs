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
        let bucket = bucket.map(str::trim).filter(|b| !b.is_empty());
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
        if let Some(b) = bucket.map(str::trim).filter(|b| !b.is_empty()) {
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
        let mut out = Vec::new();
        for d in [Destination::Gcs, Destination::S3] {
            if let Some(uri) = self.remote.get(&d).and_then(|r| r.default.as_ref()) {
                out.push((d, self.remote(d)?.open_allowed(uri)?));
            }
        }
        if out.is_empty() {
            return Err(Error::precondition(
                "no bucket was named and no [gcs] or [s3] default-bucket is configured",
            ));
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
