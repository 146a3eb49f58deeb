//! Prometheus metrics in the text exposition format. Counters and the
//! duration histogram are fed from every operation's final audit facts;
//! freshness gauges are computed from the catalog at scrape time, so they
//! survive restarts and agree with `list`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::audit::Event;
use crate::catalog::{Record, VerifyResult};

/// Histogram bucket bounds in seconds: backups take seconds to hours.
const BOUNDS: [f64; 10] = [
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BOUNDS.len()],
    sum: f64,
    total: u64,
}

#[derive(Default)]
struct State {
    operations: BTreeMap<(String, String), u64>,
    bytes_written: u64,
    unauthenticated: u64,
    durations: BTreeMap<String, Histogram>,
}

#[derive(Default)]
pub struct Metrics(Mutex<State>);

impl Metrics {
    /// Counts one finished operation.
    pub fn observe(&self, e: &Event) {
        let mut s = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *s.operations
            .entry((e.action.clone(), e.outcome.clone()))
            .or_default() += 1;
        if e.action == "create" && e.outcome == "ok" {
            s.bytes_written += e.size_bytes.unsigned_abs();
        }
        #[allow(clippy::cast_precision_loss)] // milliseconds fit f64 exactly
        let secs = e.duration_ms as f64 / 1000.0;
        let h = s.durations.entry(e.action.clone()).or_default();
        for (i, bound) in BOUNDS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.total += 1;
    }

    /// Counts one request refused for want of a valid token.
    pub fn unauthenticated(&self) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .unauthenticated += 1;
    }

    /// The exposition text: process counters plus the catalog's gauges.
    pub fn render(&self, catalog: &Groups) -> String {
        let mut o = String::new();
        let s = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        header(
            &mut o,
            "containarium_operations_total",
            "counter",
            "Operations by action and outcome.",
        );
        for ((action, outcome), n) in &s.operations {
            let _ = writeln!(
                o,
                "containarium_operations_total{{action=\"{}\",outcome=\"{}\"}} {n}",
                esc(action),
                esc(outcome)
            );
        }
        header(
            &mut o,
            "containarium_backup_bytes_written_total",
            "counter",
            "Dump bytes committed by creates.",
        );
        let _ = writeln!(
            o,
            "containarium_backup_bytes_written_total {}",
            s.bytes_written
        );
        header(
            &mut o,
            "containarium_unauthenticated_requests_total",
            "counter",
            "Requests refused for want of a valid token (all of them, audited or not).",
        );
        let _ = writeln!(
            o,
            "containarium_unauthenticated_requests_total {}",
            s.unauthenticated
        );
        header(
            &mut o,
            "containarium_operation_duration_seconds",
            "histogram",
            "Operation durations.",
        );
        for (action, h) in &s.durations {
            let a = esc(action);
            for (bound, n) in BOUNDS.iter().zip(h.counts) {
                let _ = writeln!(
                    o,
                    "containarium_operation_duration_seconds_bucket{{action=\"{a}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                o,
                "containarium_operation_duration_seconds_bucket{{action=\"{a}\",le=\"+Inf\"}} {}",
                h.total
            );
            let _ = writeln!(
                o,
                "containarium_operation_duration_seconds_sum{{action=\"{a}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                o,
                "containarium_operation_duration_seconds_count{{action=\"{a}\"}} {}",
                h.total
            );
        }
        drop(s);
        catalog_gauges(&mut o, catalog);
        o
    }
}

/// A per-group gauge: name, help, and its value (absent = not exported).
type Gauge = (&'static str, &'static str, fn(&Group) -> Option<String>);

/// The catalog's gauges, per (tenant, database), summed up one record at a
/// time ([`Groups::add`]), so a scrape never holds the catalog's records.
#[derive(Default)]
pub struct Groups(BTreeMap<(String, String), Group>);

impl Groups {
    pub fn add(&mut self, r: &Record) {
        let g = match self.0.get_mut(&(r.username.clone(), r.database.clone())) {
            Some(g) => g,
            None => self
                .0
                .entry((r.username.clone(), r.database.clone()))
                .or_default(),
        };
        g.count += 1;
        g.bytes += r.size_bytes;
        g.last_backup = g.last_backup.max(r.created_at.timestamp());
        if let Some(v) = &r.last_verification {
            let t = v.verified_at.timestamp();
            if g.last_verified.is_none_or(|(old, _)| t > old) {
                g.last_verified = Some((t, v.result == VerifyResult::Passed));
            }
        }
    }
}

#[derive(Default)]
struct Group {
    count: u64,
    bytes: i64,
    last_backup: i64,
    last_verified: Option<(i64, bool)>,
}

fn catalog_gauges(o: &mut String, groups: &Groups) {
    let gauges: [Gauge; 5] = [
        (
            "containarium_backups_stored",
            "Backups in the catalog.",
            |g| Some(g.count.to_string()),
        ),
        (
            "containarium_backups_stored_bytes",
            "Bytes of stored dumps.",
            |g| Some(g.bytes.to_string()),
        ),
        (
            "containarium_last_backup_timestamp_seconds",
            "Newest successful backup (Unix time).",
            |g| Some(g.last_backup.to_string()),
        ),
        (
            "containarium_last_verification_timestamp_seconds",
            "Newest restore test (Unix time).",
            |g| g.last_verified.map(|(t, _)| t.to_string()),
        ),
        (
            "containarium_last_verification_passed",
            "1 if the newest restore test passed.",
            |g| g.last_verified.map(|(_, p)| u8::from(p).to_string()),
        ),
    ];
    for (name, help, value) in gauges {
        header(o, name, "gauge", help);
        for ((tenant, database), g) in &groups.0 {
            if let Some(v) = value(g) {
                let _ = writeln!(
                    o,
                    "{name}{{tenant=\"{}\",database=\"{}\"}} {v}",
                    esc(tenant),
                    esc(database)
                );
            }
        }
    }
}

fn header(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
