//! `[audit] bucket-chain-head`: each finished day's audit chain head goes to
//! the default bucket as a write-once object, so a host compromise cannot
//! rewrite the history before it unnoticed. What fails is tried again on
//! the next round; a head already there is never replaced.

use std::time::Duration;

use super::BackupService;
use crate::Code;

/// How often finished days are looked for.
const EVERY: Duration = Duration::from_mins(1);

impl BackupService {
    /// Publishes now and then every minute, forever (the caller aborts it);
    /// returns at once unless `[audit] bucket-chain-head` is set.
    pub async fn publish_chain_heads(self) {
        if !self.inner.chain_head {
            return;
        }
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.publish_chain_heads_once().await;
        }
    }

    async fn publish_chain_heads_once(&self) {
        let heads = self.inner.audit.take_closed_days();
        if heads.is_empty() {
            return;
        }
        let store = match self.inner.stores.for_rebuild(None) {
            Ok(stores) if !stores.is_empty() => stores[0].1.clone(),
            Ok(_) | Err(_) => {
                tracing::warn!(
                    "[audit] bucket-chain-head is set but no [s3] or [gcs] default-bucket is configured"
                );
                self.inner.audit.requeue_days(heads);
                return;
            }
        };
        let mut failed = Vec::new();
        for head in heads {
            let key = head.key();
            let body = match serde_json::to_vec(&head) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "encoding an audit chain head");
                    continue;
                }
            };
            match store.put(&key, body.into()).await {
                Ok(()) => tracing::info!(
                    location = %store.location(&key),
                    seq = head.seq,
                    "audit chain head published"
                ),
                Err(e) if e.code == Code::FailedPrecondition => tracing::warn!(
                    location = %store.location(&key),
                    error = %e.message,
                    "an audit chain head for this day is already in the bucket; it stays"
                ),
                Err(e) => {
                    tracing::warn!(error = %e.message, "publishing an audit chain head failed; retrying later");
                    failed.push(head);
                }
            }
        }
        self.inner.audit.requeue_days(failed);
    }
}
