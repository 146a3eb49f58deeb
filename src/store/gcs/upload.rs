//! A resumable upload: bytes gather into one part ([`PART`](crate::store::PART)); each full part
//! is PUT to the session with `Content-Range: bytes a-b/*` and the last one
//! carries the total, which is what makes the object appear. Until then
//! nothing is visible; abort cancels the session. A part that fails in
//! transit is retried from the offset GCS says it persisted.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode, header};

use super::GcsStore;
use super::http::{encode, retryable, status_error, transport};
use crate::store::ObjectWriter;
use crate::store::parts::Parts;
use crate::{Error, Result};

/// Attempts per part before the upload fails (the backoff doubles from 250 ms).
const ATTEMPTS: u32 = 4;

pub(super) struct GcsWriter {
    store: GcsStore,
    name: String,
    /// The session URI, once the first part is sent.
    session: Option<String>,
    buf: Parts,
    /// Bytes the session has persisted.
    sent: u64,
    /// The object retention the object is created with, if any.
    until: Option<DateTime<Utc>>,
}

/// The object resource sent when a session starts: with `until`, an object
/// retention (mode `Unlocked`: the retention can be extended, never
/// shortened or removed, and GCS refuses to delete the object before it).
pub(super) fn upload_metadata(until: Option<DateTime<Utc>>) -> serde_json::Value {
    let mut m = serde_json::json!({ "contentType": "application/octet-stream" });
    if let Some(t) = until {
        m["retention"] = serde_json::json!({
            "mode": "Unlocked",
            "retainUntilTime": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
    }
    m
}

impl GcsWriter {
    pub fn new(store: GcsStore, name: String, until: Option<DateTime<Utc>>) -> Self {
        Self {
            store,
            name,
            session: None,
            buf: Parts::default(),
            sent: 0,
            until,
        }
    }

    fn location(&self) -> String {
        format!("gs://{}/{}", self.store.uri.bucket, self.name)
    }

    /// Starts the session. `ifGenerationMatch=0` makes GCS itself refuse to
    /// replace an existing object when the upload completes.
    async fn session(&mut self) -> Result<String> {
        if let Some(s) = &self.session {
            return Ok(s.clone());
        }
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=resumable&ifGenerationMatch=0&name={}",
            self.store.inner().base,
            self.store.uri.bucket,
            encode(&self.name)
        );
        let what = format!("starting the upload of {}", self.location());
        let req = self
            .store
            .request(Method::POST, &url)
            .await?
            .header("X-Upload-Content-Type", "application/octet-stream")
            .json(&upload_metadata(self.until));
        let resp = self.store.send(req, &what).await?;
        let uri = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::unavailable(format!("{what}: GCS returned no session URI")))?
            .to_string();
        self.session = Some(uri.clone());
        Ok(uri)
    }

    /// Sends `data` (which starts at `self.sent`); `total` is set on the last
    /// part. Returns once GCS has persisted all of it.
    async fn send(&mut self, data: Bytes, total: Option<u64>) -> Result<()> {
        let session = self.session().await?;
        let start = self.sent;
        let end = start + data.len() as u64;
        let what = format!("uploading {} (bytes {start}-{end})", self.location());
        let mut attempt = 0;
        loop {
            let rest = data.slice(usize::try_from(self.sent - start).unwrap_or(0)..);
            let result = self.put(&session, rest, total).await;
            match result {
                Ok(None) => {
                    self.sent = end;
                    return Ok(());
                }
                Ok(Some(persisted)) if persisted < start => {
                    return Err(Error::unavailable(format!(
                        "{what}: GCS reports only {persisted} bytes persisted; the upload must start over"
                    )));
                }
                Ok(Some(persisted)) => {
                    let progressed = persisted > self.sent;
                    self.sent = persisted.min(end);
                    if self.sent >= end && total.is_none() {
                        return Ok(());
                    }
                    // GCS kept only part of it: send the rest.
                    if !progressed {
                        attempt += 1;
                        if attempt >= ATTEMPTS {
                            return Err(Error::unavailable(format!(
                                "{what}: GCS persisted nothing after {ATTEMPTS} attempts"
                            )));
                        }
                    }
                }
                Err(e) if retryable(&e) && attempt + 1 < ATTEMPTS => {
                    tracing::warn!(object = %self.location(), error = %e, "GCS upload part failed; retrying");
                    tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                    attempt += 1;
                    if let Ok(Some(p)) = self.put(&session, Bytes::new(), None).await
                        && p >= start
                    {
                        self.sent = p.min(end);
                    }
                }
                Err(e) => return Err(e.context(what)),
            }
        }
    }

    /// One PUT to the session. `Ok(Some(n))` = incomplete, `n` bytes
    /// persisted; `Ok(None)` = the object is complete. An empty non-final
    /// `data` asks for the status only.
    async fn put(&self, session: &str, data: Bytes, total: Option<u64>) -> Result<Option<u64>> {
        let start = self.sent;
        let len = data.len() as u64;
        let range = match (len, total) {
            (0, Some(t)) => format!("bytes */{t}"),
            (0, None) => "bytes */*".to_string(),
            (n, Some(t)) => format!("bytes {start}-{}/{t}", start + n - 1),
            (n, None) => format!("bytes {start}-{}/*", start + n - 1),
        };
        let what = format!("uploading {}", self.location());
        let resp = self
            .store
            .request(Method::PUT, session)
            .await?
            .header(header::CONTENT_RANGE, range)
            .body(data)
            .send()
            .await
            .map_err(|e| transport(&e, &what))?;
        if resp.status() == StatusCode::PERMANENT_REDIRECT {
            // "Resume Incomplete": `Range: bytes=0-N` = N+1 bytes persisted.
            let persisted = resp
                .headers()
                .get(header::RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit('-').next())
                .and_then(|n| n.parse::<u64>().ok())
                .map_or(0, |n| n + 1);
            return Ok(Some(persisted));
        }
        let status = resp.status();
        if status.is_success() {
            return Ok(None);
        }
        let body = resp.text().await.unwrap_or_default();
        Err(status_error(status, &what, &body))
    }

    async fn finish(&mut self) -> Result<()> {
        // GCS refuses the replacement through ifGenerationMatch=0; emulators
        // may not, so look first: an existing object is never overwritten.
        if self.store.exists(&self.name).await? {
            return Err(Error::precondition(format!(
                "{} already exists; objects are written once and never replaced",
                self.location()
            )));
        }
        let last = self.buf.finish();
        let total = self.sent + last.len() as u64;
        self.send(last, Some(total)).await
    }
}

#[async_trait]
impl ObjectWriter for GcsWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        // Full parts go as they fill; the last PUT always carries data and
        // the total.
        let mut rest = &chunk[..];
        while let Some(part) = self.buf.fill(&mut rest) {
            self.send(part.clone(), None).await?;
            // Persisted: the next part fills the same buffer.
            self.buf.recycle(part);
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let result = self.finish().await;
        if result.is_err() {
            self.cancel().await;
        }
        result
    }

    async fn abort(mut self: Box<Self>) {
        self.cancel().await;
    }
}

impl GcsWriter {
    /// Cancels the session (GCS answers 499); nothing was ever visible.
    async fn cancel(&mut self) {
        self.buf.clear();
        if let Some(session) = self.session.take() {
            let what = format!("cancelling the upload of {}", self.location());
            match self.store.request(Method::DELETE, &session).await {
                Ok(req) => {
                    if let Err(e) = req.send().await {
                        tracing::warn!(error = %transport(&e, &what), "upload left to expire");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "upload left to expire"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_travels_in_the_object_resource_of_the_session() {
        let plain = upload_metadata(None);
        assert_eq!(
            plain,
            serde_json::json!({"contentType": "application/octet-stream"})
        );
        let until = "2027-01-02T03:04:05Z".parse().unwrap();
        let locked = upload_metadata(Some(until));
        assert_eq!(
            locked["retention"],
            serde_json::json!({"mode": "Unlocked", "retainUntilTime": "2027-01-02T03:04:05Z"})
        );
        assert_eq!(locked["contentType"], "application/octet-stream");
    }
}
