//! Unauthenticated requests cost the daemon nothing it keeps: every one is
//! counted (`containarium_unauthenticated_requests_total`), but only the
//! first from each source in a minute is audited, so a flood cannot fill
//! the disk that holds the backups and the audit log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One audit line per source per this long.
const WINDOW: Duration = Duration::from_mins(1);
/// Sources remembered at once; beyond it (a flood from many addresses),
/// nothing more is audited until the window frees room.
const MAX_SOURCES: usize = 4096;

#[derive(Debug, Default)]
pub(super) struct Refusals {
    last_audited: Mutex<HashMap<Option<IpAddr>, Instant>>,
}

impl Refusals {
    /// Whether a refusal from `source` is audited now.
    pub fn audit_now(&self, source: Option<IpAddr>) -> bool {
        let now = Instant::now();
        let mut seen = self
            .last_audited
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen
            .get(&source)
            .is_some_and(|t| now.duration_since(*t) < WINDOW)
        {
            return false;
        }
        if seen.len() >= MAX_SOURCES {
            seen.retain(|_, t| now.duration_since(*t) < WINDOW);
            if seen.len() >= MAX_SOURCES {
                return false;
            }
        }
        seen.insert(source, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_source_per_window() {
        let r = Refusals::default();
        let a = Some("10.0.0.1".parse().unwrap());
        let b = Some("10.0.0.2".parse().unwrap());
        assert!(r.audit_now(a));
        assert!(!r.audit_now(a));
        assert!(r.audit_now(b));
        assert!(r.audit_now(None) && !r.audit_now(None));
    }
}
