//! Access tokens for GCS: a configured service-account key, Application
//! Default Credentials, or none (emulators). ADC is discovered on first use,
//! so a daemon whose GCS credentials are broken still serves local backups.

use std::path::PathBuf;
use std::sync::Arc;

use gcp_auth::{CustomServiceAccount, TokenProvider};
use tokio::sync::OnceCell;

use crate::{Error, Result};

const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";

pub(super) struct Auth {
    anonymous: bool,
    key_file: Option<PathBuf>,
    provider: OnceCell<Arc<dyn TokenProvider>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("anonymous", &self.anonymous)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub fn new(anonymous: bool, key_file: Option<PathBuf>) -> Self {
        Self {
            anonymous,
            key_file,
            provider: OnceCell::new(),
        }
    }

    /// The bearer token to send, or `None` when anonymous.
    ///
    /// # Errors
    /// FailedPrecondition when no credentials can be found or used.
    pub async fn token(&self) -> Result<Option<String>> {
        if self.anonymous {
            return Ok(None);
        }
        let provider = self
            .provider
            .get_or_try_init(|| async {
                match &self.key_file {
                    Some(p) => CustomServiceAccount::from_file(p)
                        .map(|a| Arc::new(a) as Arc<dyn TokenProvider>)
                        .map_err(|e| {
                            Error::precondition(format!(
                                "the GCS credentials file {} cannot be used: {e}",
                                p.display()
                            ))
                        }),
                    None => gcp_auth::provider().await.map_err(|e| {
                        Error::precondition(format!(
                            "no Google credentials found (set [gcs] credentials-file or \
                             GOOGLE_APPLICATION_CREDENTIALS, or run on GCP): {e}"
                        ))
                    }),
                }
            })
            .await?;
        let token = provider
            .token(&[SCOPE])
            .await
            .map_err(|e| Error::unavailable(format!("getting a GCS access token: {e}")))?;
        Ok(Some(token.as_str().to_string()))
    }
}
