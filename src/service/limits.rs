//! Back-pressure and mutual exclusion: a cap on simultaneous dumps and
//! restores (the rest wait, then get Unavailable), and a per-id lock so a
//! restore, verify and delete of the same backup never overlap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use crate::{Error, Result};

pub(super) struct Limits {
    slots: Arc<Semaphore>,
    max: usize,
    wait: Duration,
}

impl Limits {
    pub fn new(max: usize, wait_secs: u64) -> Self {
        let max = max.max(1);
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
            wait: Duration::from_secs(wait_secs),
        }
    }

    /// Waits for a slot.
    ///
    /// # Errors
    /// Unavailable after the configured wait.
    pub async fn slot(&self) -> Result<OwnedSemaphorePermit> {
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(Error::unavailable(format!(
                "the daemon is busy: {} dumps/restores are running and none finished within {}s; \
                 try again later",
                self.max,
                self.wait.as_secs()
            ))),
        }
    }
}

#[derive(Default)]
pub(super) struct IdLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl IdLocks {
    pub async fn lock(&self, id: &str) -> OwnedMutexGuard<()> {
        let m = {
            let mut map = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.retain(|_, m| Arc::strong_count(m) > 1);
            map.entry(id.to_string()).or_default().clone()
        };
        m.lock_owned().await
    }

    /// The lock of `id` if nobody holds it (prune never waits for, and never
    /// removes, a backup that a restore or verify is using).
    pub fn try_lock(&self, id: &str) -> Option<OwnedMutexGuard<()>> {
        let m = {
            let mut map = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(id.to_string()).or_default().clone()
        };
        m.try_lock_owned().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_daemon_answers_unavailable_after_the_wait() {
        let limits = Limits::new(1, 0);
        let held = limits.slot().await.unwrap();
        let e = limits.slot().await.unwrap_err();
        assert_eq!(e.code, crate::Code::Unavailable);
        assert!(e.message.contains("busy"), "{}", e.message);
        drop(held);
        drop(limits.slot().await.unwrap());
    }

    #[tokio::test]
    async fn one_id_at_a_time() {
        let locks = IdLocks::default();
        let a = locks.lock("x").await;
        assert!(locks.try_lock("x").is_none(), "held");
        assert!(locks.try_lock("y").is_some(), "other ids are free");
        drop(a);
        assert!(locks.try_lock("x").is_some());
    }
}
