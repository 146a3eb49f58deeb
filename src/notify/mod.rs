//! Alerts that reach people: webhooks (`[[notify]]`) told about a failed
//! create, a failed restore test, a tenant past its freshness threshold, and
//! the recovery of each. Sending never blocks an operation: each webhook has
//! its own bounded queue and worker that retries with backoff; a full queue
//! drops the alert with a warning. Webhook URLs are secrets (Slack puts the
//! key in the path): only their redacted form is ever printed or logged.

mod url;

pub use url::SecretUrl;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    CreateFailed,
    VerifyFailed,
    Stale,
    Recovered,
}

impl Event {
    pub const ALL: [Event; 4] = [
        Event::CreateFailed,
        Event::VerifyFailed,
        Event::Stale,
        Event::Recovered,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Event::CreateFailed => "create-failed",
            Event::VerifyFailed => "verify-failed",
            Event::Stale => "stale",
            Event::Recovered => "recovered",
        }
    }
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `{"event", "tenant", "database", "message", "at"}`.
    #[default]
    Json,
    /// `{"text": "…"}`: Slack and Mattermost incoming webhooks.
    Slack,
}

/// One `[[notify]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NotifyConfig {
    pub url: SecretUrl,
    #[serde(default)]
    pub format: Format,
    /// The events sent to this webhook; absent = all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<Event>>,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub event: Event,
    pub tenant: String,
    /// Empty for a tenant-wide alert (a tenant never backed up).
    pub database: String,
    pub message: String,
    /// RFC 3339, UTC.
    pub at: String,
}

impl Alert {
    fn body(&self, format: Format) -> serde_json::Value {
        match format {
            Format::Json => serde_json::to_value(self).unwrap_or_default(),
            Format::Slack => serde_json::json!({ "text": format!(
                "containarium {}: {}{}{} — {}",
                self.event.name(),
                self.tenant,
                if self.database.is_empty() { "" } else { "/" },
                self.database,
                self.message
            ) }),
        }
    }
}

/// Alerts queued per webhook before new ones are dropped.
const QUEUE: usize = 64;
/// Delivery attempts per alert; the waits between them double from 1 s.
const ATTEMPTS: u32 = 6;
const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends alerts to every configured webhook, and remembers what is failing
/// so that its recovery is announced once.
#[derive(Clone, Default)]
pub struct Notifier(Arc<Inner>);

#[derive(Default)]
struct Inner {
    targets: Vec<NotifyConfig>,
    /// One queue per target, started by the first alert (inside the runtime).
    queues: OnceLock<Vec<mpsc::Sender<Alert>>>,
    /// (event, tenant, database) currently failing.
    failing: Mutex<HashSet<(Event, String, String)>>,
}

impl Notifier {
    pub fn new(targets: Vec<NotifyConfig>) -> Self {
        Self(Arc::new(Inner {
            targets,
            ..Inner::default()
        }))
    }

    /// Announces a failure; a condition that persists (staleness checked
    /// again) is announced only once, until it recovers.
    pub fn failed(&self, event: Event, tenant: &str, database: &str, message: &str) {
        let key = (event, tenant.to_string(), database.to_string());
        let new = self.failing().insert(key);
        if new || event != Event::Stale {
            self.send(event, tenant, database, message.to_string());
        }
    }

    /// The outcome of one freshness check: `stale` lists (tenant, database,
    /// problem). Newly stale ones are announced; a formerly stale one that
    /// is no longer listed (fresh, or a tenant whose first backup replaced
    /// its "never backed up" row) recovers.
    pub fn freshness(&self, stale: &[(String, String, String)]) {
        for (tenant, database, problem) in stale {
            self.failed(Event::Stale, tenant, database, problem);
        }
        let gone: Vec<_> = self
            .failing()
            .iter()
            .filter(|(e, t, d)| {
                *e == Event::Stale && !stale.iter().any(|(st, sd, _)| st == t && sd == d)
            })
            .cloned()
            .collect();
        for (_, tenant, database) in gone {
            self.ok(Event::Stale, &tenant, &database);
        }
    }

    /// Clears a failure; announces `recovered` if there was one.
    pub fn ok(&self, event: Event, tenant: &str, database: &str) {
        let key = (event, tenant.to_string(), database.to_string());
        if self.failing().remove(&key) {
            let what = match event {
                Event::CreateFailed => "backups succeed again",
                Event::VerifyFailed => "restore tests pass again",
                _ => "backups are fresh again",
            };
            self.send(Event::Recovered, tenant, database, what.to_string());
        }
    }

    fn failing(&self) -> std::sync::MutexGuard<'_, HashSet<(Event, String, String)>> {
        self.0
            .failing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, event: Event, tenant: &str, database: &str, message: String) {
        if self.0.targets.is_empty() {
            return;
        }
        let alert = Alert {
            event,
            tenant: tenant.into(),
            database: database.into(),
            message,
            at: crate::catalog::rfc3339(&Utc::now()),
        };
        let queues = self.0.queues.get_or_init(|| self.start());
        for (target, queue) in self.0.targets.iter().zip(queues) {
            let wanted = target.events.as_ref().is_none_or(|e| e.contains(&event));
            if wanted && queue.try_send(alert.clone()).is_err() {
                tracing::warn!(url = %target.url, event = event.name(), "alert queue full or closed; alert dropped");
            }
        }
    }

    fn start(&self) -> Vec<mpsc::Sender<Alert>> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("containarium/", env!("CARGO_PKG_VERSION")))
            .timeout(TIMEOUT)
            .build()
            .unwrap_or_default();
        self.0
            .targets
            .iter()
            .map(|t| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(deliver(http.clone(), t.clone(), rx));
                tx
            })
            .collect()
    }
}

/// One webhook's worker: each alert in order, retried with backoff.
async fn deliver(http: reqwest::Client, target: NotifyConfig, mut rx: mpsc::Receiver<Alert>) {
    while let Some(alert) = rx.recv().await {
        let body = alert.body(target.format);
        let mut wait = Duration::from_secs(1);
        for attempt in 1..=ATTEMPTS {
            let outcome = http
                .post(target.url.expose().clone())
                .json(&body)
                .send()
                .await
                .map_err(url::without_url)
                .and_then(|r| {
                    if r.status().is_success() {
                        Ok(())
                    } else {
                        Err(format!("HTTP {}", r.status()))
                    }
                });
            match outcome {
                Ok(()) => {
                    tracing::info!(url = %target.url, event = alert.event.name(), tenant = alert.tenant, "alert delivered");
                    break;
                }
                Err(e) if attempt < ATTEMPTS => {
                    tracing::warn!(url = %target.url, attempt, error = e, "alert not delivered; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) => {
                    tracing::error!(url = %target.url, event = alert.event.name(), error = e, "alert given up after {ATTEMPTS} attempts");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_is_announced_once_and_recovers_when_no_longer_listed() {
        let n = Notifier::default();
        let row = |t: &str, d: &str| (t.to_string(), d.to_string(), "old".to_string());
        n.freshness(&[row("a", ""), row("b", "app")]);
        n.freshness(&[row("a", ""), row("b", "app")]);
        assert_eq!(n.failing().len(), 2);
        n.freshness(&[row("b", "app")]);
        assert_eq!(n.failing().len(), 1);
        n.freshness(&[]);
        assert!(n.failing().is_empty());
    }

    #[test]
    fn bodies_in_both_formats() {
        let a = Alert {
            event: Event::CreateFailed,
            tenant: "alice".into(),
            database: "app".into(),
            message: "pg_dump failed".into(),
            at: "2026-01-01T00:00:00Z".into(),
        };
        let j = a.body(Format::Json);
        assert_eq!(j["event"], "create-failed");
        assert_eq!(j["database"], "app");
        let s = a.body(Format::Slack);
        assert_eq!(
            s["text"],
            "containarium create-failed: alice/app — pg_dump failed"
        );
    }

    #[test]
    fn config_entries_parse_and_refuse_unknown_events() {
        let c: NotifyConfig = toml::from_str(
            "url = \"https://hooks.example/services/T/B/sekrit\"\nformat = \"slack\"\nevents = [\"stale\", \"recovered\"]",
        )
        .unwrap();
        assert_eq!(c.format, Format::Slack);
        assert_eq!(c.events.unwrap(), [Event::Stale, Event::Recovered]);
        let e = toml::from_str::<NotifyConfig>("url = \"https://h/x\"\nevents = [\"boom\"]")
            .unwrap_err();
        assert!(e.to_string().contains("boom"), "{e}");
    }
}
