//! Live progress of the long calls (create, restore, verify). The unary call
//! runs while the CLI polls `ListOperations` for the operation it started:
//! an indicatif bar (bytes, rate, elapsed, and a percentage when the size is
//! known) on stderr when stderr is a terminal; otherwise, with
//! `--output json`, one JSON line per poll on stderr; otherwise nothing, so
//! scripts and logs stay clean. A daemon without the RPC just shows none.

use std::future::Future;
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::remote::{Output, Session};
use crate::proto;

/// Which running operation is ours: the daemon lists every one we may see.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub kind: &'static str,
    pub tenant: Option<String>,
    pub database: Option<String>,
    pub backup_id: Option<String>,
}

impl Watch {
    fn matches(&self, o: &proto::Operation) -> bool {
        let eq = |want: &Option<String>, got: &str| want.as_deref().is_none_or(|w| w == got);
        o.kind == self.kind
            && eq(&self.tenant, &o.username)
            && eq(&self.database, &o.database)
            && eq(&self.backup_id, &o.backup_id)
    }
}

/// What the matching operations add up to at one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sample {
    phase: String,
    done: u64,
    /// 0 = unknown.
    total: u64,
}

fn sample(watch: &Watch, ops: &[proto::Operation]) -> Option<Sample> {
    let mine: Vec<_> = ops.iter().filter(|o| watch.matches(o)).collect();
    let first = mine.first()?;
    let n = |v: i64| v.max(0).unsigned_abs();
    let known = mine.iter().all(|o| o.bytes_total > 0);
    Some(Sample {
        phase: first.phase.clone(),
        done: mine.iter().map(|o| n(o.bytes_done)).sum(),
        total: if known {
            mine.iter().map(|o| n(o.bytes_total)).sum()
        } else {
            0
        },
    })
}

/// One `--output json` progress line.
fn json_line(kind: &str, s: &Sample, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    #[allow(clippy::cast_precision_loss)] // a rate needs no exact integer
    let rate = if secs > 0.0 {
        s.done as f64 / secs
    } else {
        0.0
    };
    let mut v = serde_json::json!({
        "progress": {
            "kind": kind,
            "phase": s.phase,
            "bytesDone": s.done,
            "elapsedSecs": (secs * 10.0).round() / 10.0,
            "bytesPerSec": rate.round(),
        }
    });
    if s.total > 0 {
        v["progress"]["bytesTotal"] = s.total.into();
        #[allow(clippy::cast_precision_loss)]
        let pct = (s.done as f64 * 1000.0 / s.total as f64).round() / 10.0;
        v["progress"]["percent"] = pct.into();
    }
    v.to_string()
}

enum Show {
    Bar(ProgressBar),
    Json,
    Nothing,
}

/// Awaits `work` (the unary call) while showing the progress of `watch`.
pub async fn with_progress<F: Future>(s: &Session, what: &str, watch: Watch, work: F) -> F::Output {
    let show = if std::io::stderr().is_terminal() {
        Show::Bar(bar(what))
    } else if s.output == Output::Json {
        Show::Json
    } else {
        Show::Nothing
    };
    if matches!(show, Show::Nothing) {
        return work.await;
    }
    let poll = async {
        let started = Instant::now();
        let every = match show {
            Show::Bar(_) => Duration::from_millis(500),
            _ => Duration::from_secs(1),
        };
        loop {
            tokio::time::sleep(every).await;
            let req = proto::ListOperationsRequest {
                username: watch.tenant.clone().unwrap_or_default(),
            };
            // An older daemon (or a token without read scope) has no list
            // for us: the call still runs, without progress.
            let Ok(resp) = s.api.list_operations(&s.creds, req).await else {
                return;
            };
            let Some(now) = sample(&watch, &resp.operations) else {
                continue;
            };
            match &show {
                Show::Bar(b) => update(b, what, &now),
                Show::Json => eprintln!("{}", json_line(watch.kind, &now, started.elapsed())),
                Show::Nothing => {}
            }
        }
    };
    tokio::pin!(work);
    let out = tokio::select! {
        out = &mut work => out,
        // Polling gave up (no such RPC): the call goes on, without progress.
        () = poll => work.await,
    };
    if let Show::Bar(b) = show {
        b.finish_and_clear();
    }
    out
}

fn bar(what: &str) -> ProgressBar {
    let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    style(&b, false);
    b.set_message(what.to_string());
    b.enable_steady_tick(Duration::from_millis(120));
    b
}

fn style(b: &ProgressBar, sized: bool) {
    let template = if sized {
        "{spinner} {msg} [{bar:30}] {percent}% {bytes}/{total_bytes} {binary_bytes_per_sec} ({elapsed})"
    } else {
        "{spinner} {msg} {bytes} {binary_bytes_per_sec} ({elapsed})"
    };
    if let Ok(st) = ProgressStyle::with_template(template) {
        b.set_style(st.progress_chars("=> "));
    }
}

fn update(b: &ProgressBar, what: &str, s: &Sample) {
    let sized = s.total > 0;
    if b.length() != (sized.then_some(s.total)) {
        style(b, sized);
        if sized {
            b.set_length(s.total);
        } else {
            b.unset_length();
        }
    }
    b.set_message(format!("{what}: {}", s.phase));
    b.set_position(s.done);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: &str, tenant: &str, id: &str, done: i64, total: i64) -> proto::Operation {
        proto::Operation {
            kind: kind.into(),
            username: tenant.into(),
            database: "app".into(),
            backup_id: id.into(),
            phase: "restoring".into(),
            bytes_done: done,
            bytes_total: total,
            ..Default::default()
        }
    }

    #[test]
    fn only_our_operation_counts() {
        let watch = Watch {
            kind: "restore",
            backup_id: Some("a-app-1".into()),
            ..Watch::default()
        };
        let ops = [
            op("restore", "a", "a-app-2", 7, 9),
            op("verify", "a", "a-app-1", 5, 9),
            op("restore", "a", "a-app-1", 25, 100),
        ];
        let s = sample(&watch, &ops).unwrap();
        assert_eq!((s.done, s.total, s.phase.as_str()), (25, 100, "restoring"));
        assert!(sample(&watch, &ops[..2]).is_none());
    }

    #[test]
    fn an_all_databases_create_adds_up_and_has_no_total() {
        let watch = Watch {
            kind: "create",
            tenant: Some("a".into()),
            ..Watch::default()
        };
        let ops = [op("create", "a", "x", 3, 0), op("create", "a", "y", 4, 0)];
        let s = sample(&watch, &ops).unwrap();
        assert_eq!((s.done, s.total), (7, 0));
    }

    #[test]
    fn json_lines_carry_rate_and_percent_when_sized() {
        let s = Sample {
            phase: "restoring".into(),
            done: 50,
            total: 200,
        };
        let v: serde_json::Value =
            serde_json::from_str(&json_line("restore", &s, Duration::from_secs(2))).unwrap();
        let p = &v["progress"];
        assert_eq!(p["bytesDone"], 50);
        assert_eq!(p["bytesTotal"], 200);
        assert_eq!(p["percent"], 25.0);
        assert_eq!(p["bytesPerSec"], 25.0);
        let unsized_line = json_line("create", &Sample { total: 0, ..s }, Duration::ZERO);
        assert!(!unsized_line.contains("percent"), "{unsized_line}");
    }
}
