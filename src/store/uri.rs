//! Bucket URIs (`gs://bucket/prefix`, `s3://bucket/prefix`): parsed and
//! checked once, so no bucket or prefix reaches a request URL unvalidated.

use std::fmt;

use crate::catalog::Destination;
use crate::{Error, Result};

/// A bucket and a key prefix inside it (no leading or trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketUri {
    pub destination: Destination,
    pub bucket: String,
    pub prefix: String,
}

/// The URI scheme of a bucket destination.
pub fn scheme(d: Destination) -> &'static str {
    match d {
        Destination::Gcs => "gs",
        Destination::S3 => "s3",
        Destination::Local => "file",
    }
}

impl BucketUri {
    /// Parses `scheme://bucket/prefix` or a bare `bucket/prefix` for `d`.
    ///
    /// # Errors
    /// InvalidArgument for another scheme, a malformed bucket name, or a
    /// prefix with empty, `.` or `..` segments or unusual characters.
    pub fn parse(d: Destination, s: &str) -> Result<Self> {
        let want = scheme(d);
        let rest = match s.split_once("://") {
            Some((sch, rest)) if sch == want => rest,
            Some((sch, _)) => {
                return Err(Error::invalid(format!(
                    "bucket {s:?} is a {sch}:// URI but the destination is {} (want {want}://bucket/prefix)",
                    d.name()
                )));
            }
            None => s,
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_end_matches('/');
        check_bucket(bucket).map_err(|m| Error::invalid(format!("bucket {s:?}: {m}")))?;
        if !prefix.is_empty() {
            for seg in prefix.split('/') {
                check_segment(seg).map_err(|m| Error::invalid(format!("bucket {s:?}: {m}")))?;
            }
        }
        Ok(Self {
            destination: d,
            bucket: bucket.into(),
            prefix: prefix.into(),
        })
    }

    /// The object name of `key` under the prefix.
    pub fn object(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// `scheme://bucket/prefix/key`.
    pub fn location(&self, key: &str) -> String {
        format!(
            "{}://{}/{}",
            scheme(self.destination),
            self.bucket,
            self.object(key)
        )
    }

    /// The URI of the directory holding `location`'s `key`, if `location`
    /// is `scheme://bucket[/prefix]/key` of this destination.
    pub fn of_location(d: Destination, location: &str, key: &str) -> Option<Self> {
        let dir = location.strip_suffix(key)?;
        let dir = dir.strip_suffix('/')?;
        // `gs://bucket/` stripped to `gs://bucket`: a bucket root.
        let uri = Self::parse(d, dir).ok()?;
        (dir.starts_with(&format!("{}://", scheme(d))) && uri.location(key) == location)
            .then_some(uri)
    }
}

impl fmt::Display for BucketUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", scheme(self.destination), self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

/// Bucket names as GCS and S3 both accept them.
fn check_bucket(b: &str) -> std::result::Result<(), String> {
    let ok_chars = b
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'.'));
    let ends_ok = b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric());
    if (3..=222).contains(&b.len()) && ok_chars && ends_ok && !b.contains("..") {
        Ok(())
    } else {
        Err(format!(
            "{b:?} is not a valid bucket name (3-222 of a-z 0-9 - _ ., starting and ending alphanumeric)"
        ))
    }
}

fn check_segment(seg: &str) -> std::result::Result<(), String> {
    let ok = !seg.is_empty()
        && seg != "."
        && seg != ".."
        && seg.len() <= 255
        && seg.bytes().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'=' | b'+' | b'@')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "prefix segment {seg:?} is not allowed (use A-Z a-z 0-9 - _ . = + @; no empty, . or .. segments)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let u = BucketUri::parse(Destination::Gcs, "gs://my-bucket/a/b/").unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("my-bucket", "a/b"));
        assert_eq!(u.to_string(), "gs://my-bucket/a/b");
        assert_eq!(u.location("x.dump"), "gs://my-bucket/a/b/x.dump");
        let bare = BucketUri::parse(Destination::S3, "bucket1").unwrap();
        assert_eq!(bare.location("x.dump"), "s3://bucket1/x.dump");
        for bad in [
            "s3://b/x",
            "gs://B/x",
            "gs://ab",
            "gs://bucket/../x",
            "gs://bucket/a//b",
            "gs://bucket/a?b",
            "gs://-bucket",
            "gs://bucket/a b",
        ] {
            assert!(BucketUri::parse(Destination::Gcs, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn finds_the_directory_of_a_location() {
        let u =
            BucketUri::of_location(Destination::Gcs, "gs://bkt/p/q/id.dump", "id.dump").unwrap();
        assert_eq!(u.to_string(), "gs://bkt/p/q");
        let root = BucketUri::of_location(Destination::S3, "s3://bkt/id.dump", "id.dump").unwrap();
        assert_eq!(root.prefix, "");
        assert!(BucketUri::of_location(Destination::S3, "gs://bkt/id.dump", "id.dump").is_none());
        assert!(BucketUri::of_location(Destination::S3, "s3://bkt/xid.dump", "id.dump").is_none());
        assert!(BucketUri::of_location(Destination::S3, "bkt/id.dump", "id.dump").is_none());
    }
}
