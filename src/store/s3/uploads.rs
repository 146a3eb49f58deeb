//! Multipart uploads left behind under a store's prefix (a daemon killed or
//! cut off mid-upload): listed and aborted once stale, so they are neither
//! billed nor left for a lifecycle rule that may not exist. object_store has
//! no ListMultipartUploads, so the listing is a GET it presigns with the
//! store's own credentials (no hand-written signing), parsed with quick-xml
//! (already object_store's XML parser).

use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::aws::AmazonS3;
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::signer::{SignedUrlOptions, Signer};
use serde::Deserialize;

use super::map;
use crate::store::BucketUri;
use crate::{Error, Result};

/// Pages of the listing followed at most (1,000 uploads each).
const MAX_PAGES: usize = 100;

/// One page of S3's ListMultipartUploads answer (the fields used).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listing {
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_upload_id_marker: Option<String>,
    #[serde(default, rename = "Upload")]
    uploads: Vec<Pending>,
}

/// An upload started and neither completed nor aborted.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
struct Pending {
    key: String,
    upload_id: String,
    initiated: DateTime<Utc>,
}

/// Aborts the uploads of keys under `scope` starting with `prefix` started
/// more than `older_than` before now; returns their keys. S3 dates an upload by its start, so the
/// bound must exceed the longest upload any daemon sharing the prefix runs.
///
/// # Errors
/// Unavailable when the bucket cannot be listed; an abort that fails is
/// logged and skipped.
pub(super) async fn abort_stale(
    s3: &AmazonS3,
    scope: &BucketUri,
    prefix: &str,
    older_than: Duration,
) -> Result<Vec<String>> {
    let prefix = scope.object(prefix);
    let pending = list(s3, &prefix).await?;
    let bound = chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
    let mut aborted = Vec::new();
    for p in stale(pending, Utc::now(), bound) {
        let location = format!("s3://{}/{}", scope.bucket, p.key);
        match s3
            .abort_multipart(&Path::from(p.key.as_str()), &p.upload_id)
            .await
        {
            Ok(()) => {
                tracing::warn!(object = %location, initiated = %p.initiated, "aborted a stale multipart upload");
                aborted.push(p.key);
            }
            Err(e) => {
                tracing::warn!(object = %location, error = %e, "could not abort a stale multipart upload");
            }
        }
    }
    Ok(aborted)
}

/// The uploads started before `now - bound`.
fn stale(pending: Vec<Pending>, now: DateTime<Utc>, bound: chrono::Duration) -> Vec<Pending> {
    let before = now
        .checked_sub_signed(bound)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    pending
        .into_iter()
        .filter(|p| p.initiated < before)
        .collect()
}

/// Every pending upload whose key starts with `prefix` (S3 filters by
/// prefix already; the check again keeps a lax emulator from widening it).
async fn list(s3: &AmazonS3, prefix: &str) -> Result<Vec<Pending>> {
    let what = format!("listing the multipart uploads under {prefix:?}");
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Error::internal(format!("{what}: {e}")))?;
    let mut out = Vec::new();
    let mut markers: Option<(String, String)> = None;
    for _ in 0..MAX_PAGES {
        let mut query = vec![
            ("uploads".to_string(), String::new()),
            ("prefix".to_string(), prefix.to_string()),
        ];
        if let Some((key, id)) = markers.take() {
            query.push(("key-marker".into(), key));
            query.push(("upload-id-marker".into(), id));
        }
        let url = s3
            .signed_url_opts(
                reqwest::Method::GET,
                &Path::from(""),
                Duration::from_mins(5),
                &SignedUrlOptions::default().with_query(query),
            )
            .await
            .map_err(|e| map(&e, &what))?;
        let resp = http
            .get(url)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("{what}: {e}")))?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .map_err(|e| Error::unavailable(format!("{what}: {e}")))?;
        if !status.is_success() {
            return Err(Error::unavailable(format!(
                "{what}: S3 answered {status}: {}",
                body.chars().take(300).collect::<String>()
            )));
        }
        let page = parse(&body).map_err(|e| Error::unavailable(format!("{what}: {e}")))?;
        out.extend(
            page.uploads
                .into_iter()
                .filter(|p| p.key.starts_with(prefix)),
        );
        match (
            page.is_truncated,
            page.next_key_marker,
            page.next_upload_id_marker,
        ) {
            (true, Some(k), Some(i)) => markers = Some((k, i)),
            _ => return Ok(out),
        }
    }
    Ok(out)
}

fn parse(body: &str) -> std::result::Result<Listing, quick_xml::DeError> {
    quick_xml::de::from_str(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of AWS's documented example answer.
    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>p/new.dump</NextKeyMarker><NextUploadIdMarker>id-2</NextUploadIdMarker>
  <MaxUploads>2</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload><Key>p/old.dump</Key><UploadId>id-1</UploadId>
    <Initiator><ID>x</ID><DisplayName>x</DisplayName></Initiator>
    <StorageClass>STANDARD</StorageClass><Initiated>2026-01-01T10:00:00.000Z</Initiated></Upload>
  <Upload><Key>p/new.dump</Key><UploadId>id-2</UploadId>
    <StorageClass>STANDARD</StorageClass><Initiated>2026-01-01T11:30:00.000Z</Initiated></Upload>
</ListMultipartUploadsResult>"#;

    #[test]
    fn a_listing_page_parses_with_its_markers() {
        let page = parse(PAGE).unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.next_key_marker.as_deref(), Some("p/new.dump"));
        assert_eq!(page.next_upload_id_marker.as_deref(), Some("id-2"));
        let keys: Vec<_> = page.uploads.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["p/old.dump", "p/new.dump"]);
    }

    #[test]
    fn an_empty_listing_parses() {
        let page = parse(
            "<ListMultipartUploadsResult><Bucket>b</Bucket><IsTruncated>false</IsTruncated>\
             </ListMultipartUploadsResult>",
        )
        .unwrap();
        assert!(page.uploads.is_empty() && !page.is_truncated);
    }

    #[test]
    fn only_uploads_older_than_the_bound_are_stale() {
        let page = parse(PAGE).unwrap();
        let now: DateTime<Utc> = "2026-01-01T12:00:00Z".parse().unwrap();
        let stale = stale(page.uploads, now, chrono::Duration::hours(1));
        let keys: Vec<_> = stale.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["p/old.dump"], "the 30-minute-old upload is kept");
    }
}
