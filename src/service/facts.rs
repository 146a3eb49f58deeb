//! The facts an operation gathers for its audit line while it runs. Shared
//! between the operation and the task that writes the line, so the line is
//! complete even when the operation fails halfway.

use std::sync::{Arc, Mutex};

use crate::audit::{Event, Pending};
use crate::catalog::Record;
use crate::{Error, Result};

#[derive(Clone)]
pub(super) struct Facts(Arc<Mutex<State>>);

struct State {
    pending: Option<Pending>,
    early: Option<Error>,
    /// An outcome that overrides "ok" for a call that succeeded but whose
    /// result is a failure (a FAILED restore test).
    verdict: Option<(String, String)>,
}

impl Facts {
    pub fn new(action: &str, subject: &str) -> Self {
        Self(Arc::new(Mutex::new(State {
            pending: Some(Pending::new(action, subject)),
            early: None,
            verdict: None,
        })))
    }

    fn with(&self, f: impl FnOnce(&mut Event)) {
        if let Ok(mut s) = self.0.lock()
            && let Some(p) = s.pending.as_mut()
        {
            f(&mut p.event);
        }
    }

    pub fn target(&self, id: &str, tenant: &str, database: &str) {
        self.with(|e| {
            e.id = id.into();
            e.tenant = tenant.into();
            e.database = database.into();
        });
    }

    pub fn id(&self, id: &str) {
        self.with(|e| e.id = id.into());
    }

    pub fn destination(&self, d: &str) {
        self.with(|e| e.destination = d.into());
    }

    pub fn record(&self, r: &Record) {
        self.with(|e| {
            e.id.clone_from(&r.id);
            e.tenant.clone_from(&r.username);
            e.database.clone_from(&r.database);
            e.size_bytes = r.size_bytes;
            e.destination = r.destination.name().into();
        });
    }

    /// The line as known so far, for an intent line.
    pub fn snapshot(&self) -> Event {
        self.0
            .lock()
            .ok()
            .and_then(|s| s.pending.as_ref().map(|p| p.event.clone()))
            .unwrap_or_default()
    }

    pub fn size(&self, n: i64) {
        self.with(|e| e.size_bytes = n);
    }

    pub fn outcome(&self, outcome: &str, error: &str) {
        if let Ok(mut s) = self.0.lock() {
            s.verdict = Some((outcome.into(), error.into()));
        }
    }

    pub(super) fn fail_early(&self, e: Error) {
        if let Ok(mut s) = self.0.lock() {
            s.early = Some(e);
        }
    }

    pub(super) fn early_error(&self) -> Error {
        self.0
            .lock()
            .ok()
            .and_then(|mut s| s.early.take())
            .unwrap_or_else(|| Error::internal("no error recorded"))
    }

    pub(super) fn finish<T>(&self, result: &Result<T>) -> Event {
        let Ok(mut s) = self.0.lock() else {
            return Event::default();
        };
        let mut event = s
            .pending
            .take()
            .map(|p| p.finish(result))
            .unwrap_or_default();
        if let (Ok(_), Some((outcome, error))) = (result, s.verdict.take()) {
            event.outcome = outcome;
            event.error = error;
        }
        event
    }
}
