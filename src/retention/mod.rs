//! Retention: which backups a keep policy keeps, with restic's semantics so
//! operators can reason about it the way they already do. Pure: no I/O, no
//! clock (the newest backup of each group is the reference for `within`).

pub use crate::duration::CalendarDuration;

use chrono::{DateTime, Datelike, Timelike, Utc};

/// restic-style keep rules; the union of everything they keep survives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub last: u32,
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
    /// Keep everything younger than this, measured from the group's newest.
    pub within: Option<CalendarDuration>,
    pub within_hourly: Option<CalendarDuration>,
    pub within_daily: Option<CalendarDuration>,
    pub within_weekly: Option<CalendarDuration>,
    pub within_monthly: Option<CalendarDuration>,
    pub within_yearly: Option<CalendarDuration>,
}

impl Policy {
    /// A policy with no rule would delete everything: callers refuse it.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One backup's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub keep: bool,
    /// Why it is kept (e.g. "daily snapshot", "within 30d"); empty when removed.
    pub reasons: Vec<String>,
}

type Bucker = fn(&DateTime<Utc>, usize) -> i64;

fn nth(_: &DateTime<Utc>, nr: usize) -> i64 {
    i64::try_from(nr).unwrap_or(i64::MAX)
}
fn hour(t: &DateTime<Utc>, _: usize) -> i64 {
    i64::from(t.year()) * 1_000_000
        + i64::from(t.month()) * 10_000
        + i64::from(t.day()) * 100
        + i64::from(t.hour())
}
fn day(t: &DateTime<Utc>, _: usize) -> i64 {
    i64::from(t.year()) * 10_000 + i64::from(t.month()) * 100 + i64::from(t.day())
}
fn week(t: &DateTime<Utc>, _: usize) -> i64 {
    let w = t.iso_week();
    i64::from(w.year()) * 100 + i64::from(w.week())
}
fn month(t: &DateTime<Utc>, _: usize) -> i64 {
    i64::from(t.year()) * 100 + i64::from(t.month())
}
fn year(t: &DateTime<Utc>, _: usize) -> i64 {
    i64::from(t.year())
}

/// Applies `policy` to one group's creation times, given newest first.
/// Returns one verdict per time, in the same order.
pub fn apply(policy: &Policy, times: &[DateTime<Utc>]) -> Vec<Verdict> {
    let Some(latest) = times.iter().max() else {
        return vec![];
    };
    let mut counted: Vec<(u32, Bucker, Option<i64>, &str)> = vec![
        (policy.last, nth, None, "last snapshot"),
        (policy.hourly, hour, None, "hourly snapshot"),
        (policy.daily, day, None, "daily snapshot"),
        (policy.weekly, week, None, "weekly snapshot"),
        (policy.monthly, month, None, "monthly snapshot"),
        (policy.yearly, year, None, "yearly snapshot"),
    ];
    let mut within: Vec<(Option<&CalendarDuration>, Bucker, Option<i64>, &str)> = vec![
        (policy.within_hourly.as_ref(), hour, None, "hourly within"),
        (policy.within_daily.as_ref(), day, None, "daily within"),
        (policy.within_weekly.as_ref(), week, None, "weekly within"),
        (
            policy.within_monthly.as_ref(),
            month,
            None,
            "monthly within",
        ),
        (policy.within_yearly.as_ref(), year, None, "yearly within"),
    ];
    let oldest = times.len() - 1;
    times
        .iter()
        .enumerate()
        .map(|(nr, t)| {
            let mut reasons = Vec::new();
            if let Some(d) = &policy.within
                && *t > d.before(latest)
            {
                reasons.push(format!("within {d}"));
            }
            for (count, bucker, last, reason) in &mut counted {
                if *count == 0 {
                    continue;
                }
                let val = bucker(t, nr);
                // The oldest is kept while counts remain: longest history.
                if Some(val) != *last || nr == oldest {
                    *last = Some(val);
                    *count -= 1;
                    reasons.push((*reason).to_string());
                }
            }
            for (dur, bucker, last, reason) in &mut within {
                if let Some(d) = dur
                    && *t > d.before(latest)
                {
                    let val = bucker(t, nr);
                    if Some(val) != *last {
                        *last = Some(val);
                        reasons.push(format!("{reason} {d}"));
                    }
                }
            }
            Verdict {
                keep: !reasons.is_empty(),
                reasons,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
