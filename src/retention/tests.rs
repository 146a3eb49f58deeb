//! The policy against an independent, declarative statement of restic's
//! rules, on 400 backups spread over two years with a fixed clock.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;

/// 400 creation times over ~2 years ending at a fixed instant, newest first,
/// irregular (a fixed LCG), several per day at times.
fn catalog() -> Vec<DateTime<Utc>> {
    let end = Utc.with_ymd_and_hms(2026, 6, 5, 13, 4, 5).unwrap();
    let mut seed: u64 = 42;
    let mut t = end;
    let mut out = Vec::new();
    for _ in 0..400 {
        out.push(t);
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let gap_minutes = 60 + (seed >> 33) % (3 * 24 * 60); // 1 h .. 3 days
        t -= Duration::minutes(i64::try_from(gap_minutes).unwrap());
    }
    out
}

/// "Keep the newest backup of each of the `n` newest periods; also the
/// oldest backup when fewer than `n` periods exist among the others."
fn newest_per_period(
    times: &[DateTime<Utc>],
    n: u32,
    period: fn(&DateTime<Utc>, usize) -> i64,
) -> BTreeSet<usize> {
    let mut seen = Vec::new();
    let mut kept = BTreeSet::new();
    for (i, t) in times.iter().enumerate() {
        let p = period(t, i);
        if !seen.contains(&p) && seen.len() < n as usize {
            seen.push(p);
            kept.insert(i);
        }
    }
    let oldest = times.len() - 1;
    let others: BTreeSet<i64> = times[..oldest]
        .iter()
        .enumerate()
        .map(|(i, t)| period(t, i))
        .collect();
    if n > 0 && others.len() < n as usize {
        kept.insert(oldest);
    }
    kept
}

fn kept(verdicts: &[Verdict]) -> BTreeSet<usize> {
    verdicts
        .iter()
        .enumerate()
        .filter(|(_, v)| v.keep)
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn a_rule_combination_keeps_exactly_the_union_restic_keeps() {
    let times = catalog();
    assert!(
        times[0] - times[399] > Duration::days(600),
        "spans about two years"
    );
    let within: CalendarDuration = "10d".parse().unwrap();
    let policy = Policy {
        last: 3,
        daily: 7,
        weekly: 5,
        monthly: 12,
        yearly: 3,
        within: Some(within),
        ..Policy::default()
    };
    let got = kept(&apply(&policy, &times));

    let mut want = BTreeSet::new();
    want.extend(0..3);
    want.extend(newest_per_period(&times, 7, day));
    want.extend(newest_per_period(&times, 5, week));
    want.extend(newest_per_period(&times, 12, month));
    want.extend(newest_per_period(&times, 3, year));
    let cutoff = times[0] - Duration::days(10);
    want.extend(
        times
            .iter()
            .enumerate()
            .filter(|(_, t)| **t > cutoff)
            .map(|(i, _)| i),
    );
    assert_eq!(got, want);
    assert!(got.len() < 60 && got.len() > 20, "kept {}", got.len());

    // yearly 3 over 2+ calendar years: 2026, 2025, 2024 newest each.
    let yearly = kept(&apply(
        &Policy {
            yearly: 3,
            ..Policy::default()
        },
        &times,
    ));
    let years: Vec<i32> = yearly.iter().map(|i| times[*i].year()).collect();
    assert_eq!(years, [2026, 2025, 2024]);
}

#[test]
fn reasons_name_every_rule_that_kept_a_backup() {
    let times = catalog();
    let v = apply(
        &Policy {
            last: 1,
            daily: 1,
            monthly: 1,
            ..Policy::default()
        },
        &times,
    );
    assert_eq!(
        v[0].reasons,
        ["last snapshot", "daily snapshot", "monthly snapshot"]
    );
    assert!(v[1..].iter().all(|x| !x.keep));
}

#[test]
fn the_oldest_is_kept_while_counts_remain() {
    let t = |d: u32| Utc.with_ymd_and_hms(2026, 1, d, 12, 0, 0).unwrap();
    // Two days of backups, keep-daily 5: both newest-of-day, and the oldest.
    let times = [
        t(2),
        t(2) - Duration::hours(1),
        t(1),
        t(1) - Duration::hours(1),
    ];
    let got = kept(&apply(
        &Policy {
            daily: 5,
            ..Policy::default()
        },
        &times,
    ));
    assert_eq!(got, BTreeSet::from([0, 2, 3]));
}

#[test]
fn within_durations_are_calendar_aware() {
    let d: CalendarDuration = "1y2m3d4h".parse().unwrap();
    assert_eq!((d.years, d.months, d.days, d.hours), (1, 2, 3, 4));
    assert_eq!(d.to_string(), "1y2m3d4h");
    let t = Utc.with_ymd_and_hms(2026, 3, 31, 0, 0, 0).unwrap();
    let m: CalendarDuration = "1m".parse().unwrap();
    assert_eq!(
        m.before(&t),
        Utc.with_ymd_and_hms(2026, 2, 28, 0, 0, 0).unwrap()
    );
    for bad in ["", "5", "3w", "d", "1.5d"] {
        assert!(bad.parse::<CalendarDuration>().is_err(), "{bad}");
    }
    assert!(Policy::default().is_empty());
}
