//! The staged write of one S3 object: one conditional PUT when it is small,
//! else a multipart upload of [`PART`]-sized parts (at most [`IN_FLIGHT`]
//! uploading) completed with `If-None-Match: *`. A write that fails or loses
//! the race aborts its upload, so no part of it stays billed in the bucket.

use async_trait::async_trait;
use bytes::Bytes;
use object_store::MultipartId;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions};
use tokio::task::JoinSet;

use super::{Clients, map, uploads};
use crate::store::parts::Parts;
use crate::store::{BucketUri, ObjectWriter, STALE_UPLOAD};
use crate::{Code, Error, Result};

/// Parts uploading at once; memory per upload is (this + 1) parts.
const IN_FLIGHT: usize = 2;

pub(super) struct S3Writer {
    pub(super) clients: Clients,
    pub(super) path: Path,
    pub(super) location: String,
    /// The store's bucket and prefix: after a failure, its stale uploads go too.
    pub(super) scope: BucketUri,
    /// Bytes not yet handed to an upload: at most one part after `write`.
    pub(super) buf: Parts,
    /// Started with the first full part; small objects never start one.
    pub(super) upload: Option<Upload>,
}

/// A multipart upload under way.
pub(super) struct Upload {
    id: MultipartId,
    /// Parts uploading: each answers its index, S3's id for it and its bytes
    /// (for [`Parts::recycle`]).
    running: JoinSet<object_store::Result<(usize, PartId, Bytes)>>,
    /// Parts uploaded, by index.
    done: Vec<(usize, PartId)>,
    next: usize,
}

impl Upload {
    /// Waits for one running part and hands its buffer back to `buf`; its
    /// failure fails the upload.
    async fn reap(&mut self, buf: &mut Parts) -> object_store::Result<()> {
        match self.running.join_next().await {
            Some(Ok(part)) => {
                let (idx, id, bytes) = part?;
                self.done.push((idx, id));
                buf.recycle(bytes);
            }
            Some(Err(e)) => {
                return Err(object_store::Error::Generic {
                    store: "S3",
                    source: Box::new(e),
                });
            }
            None => {}
        }
        Ok(())
    }
}

impl S3Writer {
    /// Hands one whole part to the multipart upload (starting it), after
    /// waiting until fewer than [`IN_FLIGHT`] parts are uploading.
    async fn send(&mut self, part: Bytes) -> Result<()> {
        let what = format!("uploading {}", self.location);
        if self.upload.is_none() {
            let id = self
                .clients
                .plain
                .create_multipart(&self.path)
                .await
                .map_err(|e| map(&e, &what))?;
            self.upload = Some(Upload {
                id,
                running: JoinSet::new(),
                done: Vec::new(),
                next: 0,
            });
        }
        let Some(up) = self.upload.as_mut() else {
            return Err(Error::internal("the multipart upload vanished"));
        };
        while up.running.len() >= IN_FLIGHT {
            up.reap(&mut self.buf).await.map_err(|e| map(&e, &what))?;
        }
        let (s3, path, id, idx) = (
            self.clients.plain.clone(),
            self.path.clone(),
            up.id.clone(),
            up.next,
        );
        up.next += 1;
        up.running.spawn(async move {
            let id = s3.put_part(&path, &id, idx, part.clone().into()).await?;
            Ok((idx, id, part))
        });
        Ok(())
    }

    /// Sends the last part, waits for every part and completes the upload
    /// with `If-None-Match: *`.
    async fn complete(&mut self, rest: Bytes) -> Result<()> {
        let what = format!("completing {}", self.location);
        self.send(rest).await?;
        let Some(up) = self.upload.as_mut() else {
            return Err(Error::internal("the multipart upload vanished"));
        };
        while !up.running.is_empty() {
            up.reap(&mut self.buf).await.map_err(|e| map(&e, &what))?;
        }
        up.done.sort_by_key(|(i, _)| *i);
        let parts = up.done.drain(..).map(|(_, p)| p).collect();
        match self
            .clients
            .create_only
            .complete_multipart(&self.path, &up.id, parts)
            .await
        {
            Ok(_) => {
                self.upload = None;
                Ok(())
            }
            Err(e) => Err(completion_error(&e, &what)),
        }
    }

    /// Stops the upload's parts and aborts it; then, best effort, the
    /// scope's uploads abandoned longer than [`STALE_UPLOAD`] (a daemon that
    /// died mid-upload left them). Failures are logged: S3 keeps an
    /// unaborted upload invisible, and the next start-up tries again.
    async fn discard(&mut self) {
        self.buf.clear();
        let Some(mut up) = self.upload.take() else {
            return;
        };
        up.running.abort_all();
        while up.running.join_next().await.is_some() {}
        if let Err(e) = self.clients.plain.abort_multipart(&self.path, &up.id).await {
            tracing::warn!(object = %self.location, error = %e, "could not abort the multipart upload; the next start-up aborts it once it is stale");
        }
        match uploads::abort_stale(&self.clients.plain, &self.scope, "", STALE_UPLOAD).await {
            Ok(keys) if !keys.is_empty() => {
                tracing::warn!(aborted = ?keys, "aborted stale multipart uploads after a failed upload");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(scope = %self.scope.location(""), error = %e, "could not look for stale multipart uploads after a failed upload");
            }
        }
    }
}

/// A refused completion in the daemon's taxonomy. S3 answers a conditional
/// completion that met a concurrent write on the key with 409
/// ConditionalRequestConflict, after which the upload must start over: that
/// is not "already exists" (412) but a write to try again.
fn completion_error(e: &object_store::Error, what: &str) -> Error {
    match e {
        object_store::Error::AlreadyExists { .. } => Error::unavailable(format!(
            "{what}: S3 reported a concurrent write to the same key (409 \
             ConditionalRequestConflict); this upload was discarded, try again: {e}"
        )),
        _ => map(e, what),
    }
}

#[async_trait]
impl ObjectWriter for S3Writer {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        let mut rest = &chunk[..];
        while let Some(part) = self.buf.fill(&mut rest) {
            self.send(part).await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let rest = self.buf.finish();
        if self.upload.is_none() {
            // One conditional PUT: S3 itself refuses to replace an object.
            let what = format!("completing {}", self.location);
            let opts = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            return self
                .clients
                .plain
                .put_opts(&self.path, rest.into(), opts)
                .await
                .map(drop)
                .map_err(|e| map(&e, &what));
        }
        let result = self.complete(rest).await;
        if let Err(e) = &result {
            if e.code == Code::FailedPrecondition {
                tracing::warn!(object = %self.location, "another writer completed this key first; aborting this upload");
            }
            self.discard().await;
        }
        result
    }

    async fn abort(mut self: Box<Self>) {
        self.discard().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: &str) -> object_store::Error {
        let source = Box::new(std::io::Error::other(status.to_string()));
        let path = "p/x.dump".to_string();
        match status {
            "412" => object_store::Error::Precondition { path, source },
            _ => object_store::Error::AlreadyExists { path, source },
        }
    }

    #[test]
    fn a_lost_race_is_already_exists_and_a_conflict_is_try_again() {
        let lost = completion_error(&refused("412"), "completing s3://b/p/x.dump");
        assert_eq!(lost.code, Code::FailedPrecondition);
        assert!(
            lost.message
                .contains("already exists; objects are written once and never replaced"),
            "{}",
            lost.message
        );
        let conflict = completion_error(&refused("409"), "completing s3://b/p/x.dump");
        assert_eq!(conflict.code, Code::Unavailable);
        assert!(
            conflict.message.contains("ConditionalRequestConflict"),
            "{}",
            conflict.message
        );
    }
}
