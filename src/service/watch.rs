//! The daemon's own freshness check: every `check-interval-secs`, every
//! (tenant, database) is judged against `[freshness] max-age`; a newly stale
//! one is announced to the webhooks, and so is its recovery.

use std::time::Duration;

use chrono::Utc;

use super::{BackupService, CheckRequest};

impl BackupService {
    /// Checks now and then every interval, forever (the caller aborts it).
    pub async fn watch_freshness(self) {
        let every = Duration::from_secs(self.inner.freshness.check_interval_secs.max(1));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.check_freshness_once();
        }
    }

    fn check_freshness_once(&self) {
        let Ok(max_age) = self.inner.freshness.max_age() else {
            return; // refused when the config was loaded
        };
        let req = CheckRequest {
            tenant: None,
            max_age,
            verified_within: None,
            now: Utc::now(),
        };
        let statuses = match self.freshness(None, &req) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "freshness check failed");
                return;
            }
        };
        let stale: Vec<_> = statuses
            .into_iter()
            .filter_map(|f| f.problem.map(|p| (f.tenant, f.database, p)))
            .collect();
        self.inner.notifier.freshness(&stale);
    }
}
