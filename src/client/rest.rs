//! [`Api`] over the grpc-gateway REST routes. Bodies are the proto messages'
//! own proto3-JSON (pbjson) encoding, so the REST client cannot drift from the
//! gRPC one; errors come back through the same gRPC-code mapping.

use std::fmt::Write as _;

use async_trait::async_trait;
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::status::error_from_rest;
use crate::api::Api;
use crate::auth::Credentials;
use crate::proto;
use crate::{Error, Result};

/// A remote daemon reached over REST.
#[derive(Debug, Clone)]
pub struct RestClient {
    http: reqwest::Client,
    base: Url,
}

impl RestClient {
    /// A client for `server` (`http://` or `https://`, no trailing slash).
    /// `ca_pem` replaces the system roots when given.
    ///
    /// # Errors
    /// InvalidArgument for a malformed URL or CA certificate.
    pub fn new(server: &str, ca_pem: Option<&[u8]>) -> Result<Self> {
        let base =
            Url::parse(server).map_err(|e| Error::invalid(format!("server {server:?}: {e}")))?;
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("containarium/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10));
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::invalid(format!("CA certificate: {e}")))?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .build()
            .map_err(|e| Error::invalid(format!("HTTP client: {e}")))?;
        Ok(Self { http, base })
    }

    /// `/v1/backups` followed by `segments`, each percent-encoded as one path
    /// segment (an id can never reach another route).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["v1", "backups"])
                .extend(segments);
        }
        url
    }

    /// A collection-level custom method: `/v1/backups:<verb>`.
    fn verb_url(&self, verb: &str) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["v1", &format!("backups:{verb}")]);
        }
        url
    }

    async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        creds: &Credentials,
        body: Option<&B>,
    ) -> Result<R> {
        let mut req = self.http.request(method, url.clone());
        if let Credentials::Bearer(token) = creds {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(body)?);
        }
        let resp = req.send().await.map_err(|e| unreachable(&url, &e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| unreachable(&url, &e))?;
        if !status.is_success() {
            return Err(error_from_rest(status.as_u16(), &bytes));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::internal(format!("unexpected answer from {url}: {e}")))
    }
}

/// A transport failure, with reqwest's whole cause chain (which says whether
/// it was DNS, a refused connection or TLS).
fn unreachable(url: &Url, e: &reqwest::Error) -> Error {
    let mut message = format!("cannot reach {url}: {e}");
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        let _ = write!(message, ": {cause}");
        next = cause.source();
    }
    Error::unavailable(message)
}

const NO_BODY: Option<&()> = None;

#[async_trait]
impl Api for RestClient {
    async fn create_backup(
        &self,
        creds: &Credentials,
        req: proto::CreateBackupRequest,
    ) -> Result<proto::CreateBackupResponse> {
        self.call(Method::POST, self.url(&[]), creds, Some(&req))
            .await
    }

    async fn list_backups(
        &self,
        creds: &Credentials,
        req: proto::ListBackupsRequest,
    ) -> Result<proto::ListBackupsResponse> {
        let mut url = self.url(&[]);
        if !req.username.is_empty() {
            url.query_pairs_mut().append_pair("username", &req.username);
        }
        if req.page_size != 0 {
            url.query_pairs_mut()
                .append_pair("pageSize", &req.page_size.to_string());
        }
        if !req.page_token.is_empty() {
            url.query_pairs_mut()
                .append_pair("pageToken", &req.page_token);
        }
        self.call(Method::GET, url, creds, NO_BODY).await
    }

    async fn get_backup(
        &self,
        creds: &Credentials,
        req: proto::GetBackupRequest,
    ) -> Result<proto::GetBackupResponse> {
        self.call(Method::GET, self.url(&[&req.id]), creds, NO_BODY)
            .await
    }

    async fn restore_backup(
        &self,
        creds: &Credentials,
        req: proto::RestoreBackupRequest,
    ) -> Result<proto::RestoreBackupResponse> {
        let url = self.url(&[&req.id, "restore"]);
        self.call(Method::POST, url, creds, Some(&req)).await
    }

    async fn verify_backup(
        &self,
        creds: &Credentials,
        req: proto::VerifyBackupRequest,
    ) -> Result<proto::VerifyBackupResponse> {
        let url = self.url(&[&req.id, "verify"]);
        self.call(Method::POST, url, creds, Some(&req)).await
    }

    async fn delete_backup(
        &self,
        creds: &Credentials,
        req: proto::DeleteBackupRequest,
    ) -> Result<proto::DeleteBackupResponse> {
        self.call(Method::DELETE, self.url(&[&req.id]), creds, NO_BODY)
            .await
    }

    async fn prune_backups(
        &self,
        creds: &Credentials,
        req: proto::PruneBackupsRequest,
    ) -> Result<proto::PruneBackupsResponse> {
        self.call(Method::POST, self.verb_url("prune"), creds, Some(&req))
            .await
    }

    async fn check_backups(
        &self,
        creds: &Credentials,
        req: proto::CheckBackupsRequest,
    ) -> Result<proto::CheckBackupsResponse> {
        let mut url = self.verb_url("check");
        url.query_pairs_mut()
            .append_pair("username", &req.username)
            .append_pair("maxAge", &req.max_age)
            .append_pair("requireVerifiedWithin", &req.require_verified_within);
        self.call(Method::GET, url, creds, NO_BODY).await
    }

    async fn rebuild_index(
        &self,
        creds: &Credentials,
        req: proto::RebuildIndexRequest,
    ) -> Result<proto::RebuildIndexResponse> {
        self.call(
            Method::POST,
            self.verb_url("rebuildIndex"),
            creds,
            Some(&req),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_gateway_and_escape_ids() {
        let c = RestClient::new("http://h:8080", None).unwrap();
        assert_eq!(c.url(&[]).as_str(), "http://h:8080/v1/backups");
        assert_eq!(
            c.url(&["a-b-1", "restore"]).as_str(),
            "http://h:8080/v1/backups/a-b-1/restore"
        );
        assert_eq!(c.url(&["../x"]).as_str(), "http://h:8080/v1/backups/..%2Fx");
        // A server under a path prefix keeps it.
        let c = RestClient::new("https://h/api", None).unwrap();
        assert_eq!(c.url(&["i"]).as_str(), "https://h/api/v1/backups/i");
    }

    #[tokio::test]
    async fn an_absent_daemon_is_unavailable() {
        let c = RestClient::new("http://127.0.0.1:1", None).unwrap();
        let e = c
            .list_backups(&Credentials::None, proto::ListBackupsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(e.code, crate::Code::Unavailable);
        assert!(
            e.message
                .contains("cannot reach http://127.0.0.1:1/v1/backups"),
            "{e}"
        );
    }
}
