//! Back-pressure, fairness and deadlines: a cap on simultaneous dumps and
//! restores, a smaller cap per tenant (so one tenant's calls never take
//! every slot), a deadline per operation (so a tenant that never finishes
//! frees its slot), and a per-id lock so a restore, verify and delete of the
//! same backup never overlap.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use crate::config::Config;
use crate::{Error, Result};

pub(super) struct Limits {
    slots: Arc<Semaphore>,
    /// Daemon slots: also how many tenants `--all-tenants` runs at once.
    pub max: usize,
    per_tenant: usize,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
    wait: Duration,
    pub deadlines: Deadlines,
}

/// How long each kind of operation may run.
#[derive(Debug, Clone, Copy)]
pub(super) struct Deadlines {
    /// One database's dump.
    pub create: Duration,
    pub restore: Duration,
    /// The restore and comparison of a verify (cleanup runs after).
    pub verify: Duration,
}

/// A held place in line: the tenant's and the daemon's.
pub(super) struct Slot {
    _tenant: OwnedSemaphorePermit,
    _daemon: OwnedSemaphorePermit,
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        let max = config.max_concurrent.max(1);
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
            per_tenant: config.max_concurrent_per_tenant.max(1),
            tenants: Mutex::default(),
            wait: Duration::from_secs(config.queue_timeout_secs),
            deadlines: Deadlines {
                create: Duration::from_secs(config.create_timeout_secs),
                restore: Duration::from_secs(config.restore_timeout_secs),
                verify: Duration::from_secs(config.verify_timeout_secs),
            },
        }
    }

    /// Waits for a place among `tenant`'s operations, then for a daemon slot
    /// (always in that order, so two waiters never hold each other's).
    ///
    /// # Errors
    /// Unavailable after the configured wait, naming which limit was full.
    pub async fn slot(&self, tenant: &str) -> Result<Slot> {
        let mine = {
            let mut map = self
                .tenants
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Held or awaited semaphores are shared with their permits.
            map.retain(|_, s| Arc::strong_count(s) > 1);
            map.entry(tenant.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_tenant)))
                .clone()
        };
        let started = tokio::time::Instant::now();
        let Ok(Ok(tenant_permit)) = tokio::time::timeout(self.wait, mine.acquire_owned()).await
        else {
            return Err(Error::unavailable(format!(
                "tenant {tenant} already has {} operation(s) running and none finished within {}s; \
                 try again later",
                self.per_tenant,
                self.wait.as_secs()
            )));
        };
        let left = self.wait.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, self.slots.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(Slot {
                _tenant: tenant_permit,
                _daemon: p,
            }),
            _ => Err(Error::unavailable(format!(
                "the daemon is busy: {} dumps/restores are running and none finished within {}s; \
                 try again later",
                self.max,
                self.wait.as_secs()
            ))),
        }
    }
}

/// Runs `work` for at most `limit`; when it is cut off, `work` is dropped
/// (its children are killed on drop) and Unavailable names `what`.
///
/// # Errors
/// `work`'s own error, or Unavailable "deadline exceeded".
pub(super) async fn within<T>(
    limit: Duration,
    what: impl std::fmt::Display,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        Err(Error::unavailable(format!(
            "{what} exceeded its deadline of {}s and was stopped",
            limit.as_secs()
        )))
    })
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

    fn limits(max: usize, per_tenant: usize) -> Limits {
        Limits::new(&Config {
            max_concurrent: max,
            max_concurrent_per_tenant: per_tenant,
            queue_timeout_secs: 0,
            ..Config::default()
        })
    }

    #[tokio::test]
    async fn a_full_daemon_answers_unavailable_after_the_wait() {
        let limits = limits(1, 1);
        let held = limits.slot("a").await.unwrap();
        let e = limits.slot("b").await.err().unwrap();
        assert_eq!(e.code, crate::Code::Unavailable);
        assert!(e.message.contains("busy"), "{}", e.message);
        drop(held);
        drop(limits.slot("b").await.unwrap());
    }

    #[tokio::test]
    async fn one_tenant_cannot_take_every_slot() {
        let limits = limits(4, 1);
        let held = limits.slot("stuck").await.unwrap();
        let e = limits.slot("stuck").await.err().unwrap();
        assert_eq!(e.code, crate::Code::Unavailable);
        assert!(e.message.contains("tenant stuck"), "{}", e.message);
        let others: Vec<_> = futures::future::join_all(["a", "b", "c"].map(|t| limits.slot(t)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        drop((held, others));
        drop(limits.slot("stuck").await.unwrap());
    }

    #[tokio::test]
    async fn work_past_its_deadline_is_stopped() {
        let e = within(
            Duration::from_millis(10),
            "the dump of a/b",
            std::future::pending::<Result<()>>(),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, crate::Code::Unavailable);
        assert!(
            e.message.contains("the dump of a/b exceeded its deadline"),
            "{}",
            e.message
        );
        assert_eq!(
            within(Duration::from_secs(1), "x", async { Ok(7) })
                .await
                .unwrap(),
            7
        );
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
