//! Google Cloud Storage over its JSON API, on the daemon's own reqwest:
//! resumable uploads in 8 MiB chunks (so memory stays bounded and the
//! emulators that speak only the JSON API work), streamed downloads, prefix
//! listing, deletes. Tokens come from [`auth`].

mod auth;
mod http;
mod upload;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use tokio_util::io::StreamReader;

use super::{BucketUri, Buckets, ObjectReader, ObjectWriter, Store};
use crate::config::GcsConfig;
use crate::{Error, Result};
use auth::Auth;
use http::{check, encode, transport};

const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

/// One HTTP client and one token source for every GCS bucket.
#[derive(Debug, Clone)]
pub struct GcsClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    /// API root without a trailing `/`.
    base: String,
    auth: Auth,
    /// `retention-days` (checked when the daemon's stores were set up).
    retention: Option<chrono::Duration>,
}

impl GcsClient {
    /// # Errors
    /// InvalidArgument for an unusable endpoint; Internal when the HTTP
    /// client cannot be built.
    pub fn new(config: &GcsConfig) -> Result<Self> {
        let base = config
            .endpoint
            .as_deref()
            .unwrap_or(DEFAULT_ENDPOINT)
            .trim_end_matches('/')
            .to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(Error::invalid(format!(
                "[gcs] endpoint {base:?} must be an http(s) URL"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_mins(2))
            .build()
            .map_err(|e| Error::internal(format!("building the GCS HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                auth: Auth::new(config.anonymous, config.credentials_file.clone()),
                retention: config.retention()?,
            }),
        })
    }
}

impl Buckets for GcsClient {
    fn open(&self, uri: &BucketUri) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(GcsStore {
            client: self.clone(),
            uri: uri.clone(),
        }))
    }
}

/// A bucket and prefix in GCS.
#[derive(Debug, Clone)]
pub(super) struct GcsStore {
    client: GcsClient,
    uri: BucketUri,
}

impl GcsStore {
    fn inner(&self) -> &Inner {
        &self.client.inner
    }

    /// The JSON API URL of object `name`'s metadata.
    fn object_url(&self, name: &str) -> String {
        format!(
            "{}/storage/v1/b/{}/o/{}",
            self.inner().base,
            self.uri.bucket,
            encode(name)
        )
    }

    /// A request with the bearer token, when there is one.
    async fn request(&self, method: reqwest::Method, url: &str) -> Result<reqwest::RequestBuilder> {
        let req = self.inner().http.request(method, url);
        Ok(match self.inner().auth.token().await? {
            Some(t) => req.bearer_auth(t),
            None => req,
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> Result<reqwest::Response> {
        let resp = req.send().await.map_err(|e| transport(&e, what))?;
        check(resp, what).await
    }

    /// Whether object `name` exists.
    async fn exists(&self, name: &str) -> Result<bool> {
        let what = format!("looking up {}", self.uri.location(name));
        let req = self
            .request(
                reqwest::Method::GET,
                &format!("{}?fields=name", self.object_url(name)),
            )
            .await?;
        match self.send(req, &what).await {
            Ok(_) => Ok(true),
            Err(e) if e.code == crate::Code::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Store for GcsStore {
    fn location(&self, key: &str) -> String {
        self.uri.location(key)
    }

    fn lock_period(&self) -> Option<chrono::Duration> {
        self.inner().retention
    }

    async fn writer(&self, key: &str) -> Result<Box<dyn ObjectWriter>> {
        self.writer_locked(key, self.lock_period().map(super::retain_until))
            .await
    }

    async fn writer_locked(
        &self,
        key: &str,
        until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Box<dyn ObjectWriter>> {
        Ok(Box::new(upload::GcsWriter::new(
            self.clone(),
            self.uri.object(key),
            until,
        )))
    }

    async fn reader(&self, key: &str) -> Result<ObjectReader> {
        let what = format!("reading {}", self.location(key));
        let req = self
            .request(
                reqwest::Method::GET,
                &format!("{}?alt=media", self.object_url(&self.uri.object(key))),
            )
            .await?;
        let resp = self.send(req, &what).await?;
        let stream = resp
            .bytes_stream()
            .map_err(move |e| std::io::Error::other(format!("{what}: {e}")));
        Ok(Box::new(StreamReader::new(stream)))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let what = format!("deleting {}", self.location(key));
        let req = self
            .request(
                reqwest::Method::DELETE,
                &self.object_url(&self.uri.object(key)),
            )
            .await?;
        self.send(req, &what).await.map(drop)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            items: Vec<Item>,
            next_page_token: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct Item {
            name: String,
        }
        let scope = self.uri.object("");
        let full = format!("{scope}{prefix}");
        let url = format!("{}/storage/v1/b/{}/o", self.inner().base, self.uri.bucket);
        let what = format!("listing {}", self.location(prefix));
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut page_url = format!(
                "{url}?prefix={}&fields=items(name),nextPageToken",
                encode(&full)
            );
            if let Some(t) = &token {
                let _ = write!(page_url, "&pageToken={}", encode(t));
            }
            let req = self.request(reqwest::Method::GET, &page_url).await?;
            let page: Page = self
                .send(req, &what)
                .await?
                .json()
                .await
                .map_err(|e| Error::unavailable(format!("{what}: unreadable answer: {e}")))?;
            keys.extend(
                page.items
                    .into_iter()
                    .filter_map(|i| i.name.strip_prefix(&scope).map(str::to_string)),
            );
            match page.next_page_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }
}
