//! The one duration syntax of every surface: restic's calendar units for
//! retention (`2y6m`, `30d`, `12h`; `m` = months) plus `min` and `s` for the
//! short spans of token lifetimes and freshness checks. Anything ambiguous
//! (`M`, `mo`, `mins`) or out of range (beyond 1000 years) is refused here,
//! so no caller can wrap an addition around or panic a date subtraction.
//! The accepted spellings are exactly those of [`pattern`] (each unit once,
//! largest first, bounded digits), so the OpenAPI document can state the
//! rule the server enforces.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use chrono::{DateTime, Months, Utc};

/// The longest span accepted anywhere, in years (calendar units converted
/// with 366-day years, so the bound is never underestimated).
pub const MAX_YEARS: u64 = 1000;

const UNITS: &str = "y years, m months, d days, h hours, min minutes, s seconds";

/// The units, largest first: the only order they may be written in.
const NAMES: [&str; 6] = ["y", "m", "d", "h", "min", "s"];
/// The most digits of each unit when several are combined: 99y 999m 99999d
/// 999999h 9999999min 999999999s together stay below 1000 years.
const DIGITS: [usize; 6] = [2, 3, 5, 6, 7, 9];
/// Years written alone may take up to three digits, or be exactly 1000.
const YEARS_ALONE: usize = 3;

/// The accepted spellings as a regular expression (ECMA and Rust alike):
/// what the OpenAPI document says, and exactly what the parser accepts
/// (but for the all-zero spans, which mean nothing and are refused).
pub fn pattern() -> String {
    let mut combined = String::new();
    for (u, n) in NAMES.iter().zip(DIGITS) {
        let _ = write!(combined, "(?:[0-9]{{1,{n}}}{u})?");
    }
    format!("^(?:(?:[0-9]{{1,{YEARS_ALONE}}}|{MAX_YEARS})y|{combined})$")
}

/// A pattern matching the spans that are zero in every unit.
pub fn zero_pattern() -> String {
    format!("^(?:0+(?:{}))+$", NAMES.join("|"))
}

/// The longest accepted spelling.
pub const MAX_LEN: usize = {
    let mut total = 0;
    let mut i = 0;
    while i < NAMES.len() {
        total += DIGITS[i] + NAMES[i].len();
        i += 1;
    }
    total
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CalendarDuration {
    pub years: u32,
    pub months: u32,
    pub days: u32,
    pub hours: u32,
    pub minutes: u32,
    pub seconds: u32,
}

impl CalendarDuration {
    /// `t` minus this duration, calendar-aware. Saturates at the earliest
    /// representable time (which keeps everything) instead of wrapping.
    pub fn before(&self, t: &DateTime<Utc>) -> DateTime<Utc> {
        let months = self.years.saturating_mul(12).saturating_add(self.months);
        let fixed =
            chrono::TimeDelta::try_seconds(self.fixed_seconds()).unwrap_or(chrono::TimeDelta::MAX);
        t.checked_sub_months(Months::new(months))
            .and_then(|s| s.checked_sub_signed(fixed))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The span in seconds counted from `now` (months and years as the
    /// calendar has them), for token lifetimes.
    pub fn seconds_from(&self, now: &DateTime<Utc>) -> i64 {
        (*now - self.before(now)).num_seconds()
    }

    /// Days, hours, minutes and seconds in seconds (cannot overflow: each
    /// field is at most u32::MAX, times at most 86 400).
    fn fixed_seconds(&self) -> i64 {
        i64::from(self.days) * 86_400
            + i64::from(self.hours) * 3_600
            + i64::from(self.minutes) * 60
            + i64::from(self.seconds)
    }

    /// An upper bound of the span in seconds.
    fn upper_bound_seconds(&self) -> u128 {
        let year = 366 * 86_400u128;
        u128::from(self.years) * year
            + u128::from(self.months) * 31 * 86_400
            + u128::try_from(self.fixed_seconds()).unwrap_or(u128::MAX)
    }
}

fn unit<'a>(d: &'a mut CalendarDuration, name: &str) -> Option<&'a mut u32> {
    Some(match name {
        "y" => &mut d.years,
        "m" => &mut d.months,
        "d" => &mut d.days,
        "h" => &mut d.hours,
        "min" => &mut d.minutes,
        "s" => &mut d.seconds,
        _ => return None,
    })
}

impl FromStr for CalendarDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a duration like 30d, 6m, 1y2m3d4h or 90min ({UNITS})");
        let range = || {
            format!(
                "{s:?} is out of range: at most {MAX_YEARS} years (up to {MAX_YEARS}y alone, or \
                 at most 99y 999m 99999d 999999h 9999999min 999999999s combined)"
            )
        };
        let mut d = Self::default();
        let mut rest = s;
        // (unit index, digits) of each unit written, in order.
        let mut written: Vec<(usize, &str)> = Vec::new();
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let (num, tail) = rest.split_at(digits);
            let letters = tail
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(tail.len());
            let (name, next) = tail.split_at(letters);
            if num.is_empty() || name.is_empty() {
                return Err(bad());
            }
            let n: u32 = num.parse().map_err(|_| range())?;
            if let Some(i) = NAMES.iter().position(|u| *u == name) {
                if written.last().is_some_and(|(last, _)| *last >= i) {
                    return Err(format!(
                        "{s:?}: write each unit once, largest first (y m d h min s), as in \
                         1y2m3d4h"
                    ));
                }
                written.push((i, num));
            }
            let Some(slot) = unit(&mut d, name) else {
                if matches!(
                    name,
                    "M" | "mo" | "mon" | "mins" | "minute" | "minutes" | "month" | "months"
                ) {
                    return Err(format!(
                        "{s:?}: unit {name:?} is ambiguous; write m for months (as restic does) \
                         or min for minutes"
                    ));
                }
                return Err(bad());
            };
            *slot = n;
            rest = next;
        }
        if d == Self::default() {
            return Err(bad());
        }
        let fits = match written.as_slice() {
            [(0, y)] => y.len() <= YEARS_ALONE || *y == MAX_YEARS.to_string(),
            units => units.iter().all(|(i, n)| n.len() <= DIGITS[*i]),
        };
        if !fits {
            return Err(range());
        }
        if d.upper_bound_seconds() > u128::from(MAX_YEARS) * 366 * 86_400 {
            return Err(range());
        }
        Ok(d)
    }
}

impl fmt::Display for CalendarDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, u) in [
            (self.years, "y"),
            (self.months, "m"),
            (self.days, "d"),
            (self.hours, "h"),
            (self.minutes, "min"),
            (self.seconds, "s"),
        ] {
            if n > 0 {
                write!(f, "{n}{u}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn restic_units_and_the_short_ones() {
        let d: CalendarDuration = "1y2m3d4h5min6s".parse().unwrap();
        assert_eq!(
            (d.years, d.months, d.days, d.hours, d.minutes, d.seconds),
            (1, 2, 3, 4, 5, 6)
        );
        assert_eq!(d.to_string(), "1y2m3d4h5min6s");
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            "90min"
                .parse::<CalendarDuration>()
                .unwrap()
                .seconds_from(&now),
            5400
        );
        assert_eq!("1000y".parse::<CalendarDuration>().unwrap().years, 1000);
    }

    #[test]
    fn out_of_range_is_refused_not_wrapped() {
        for s in [
            "4000000000d",
            "357913942y",
            "99999999999999999999s",
            "1001y",
            "12001m",
            "4294967295y",
        ] {
            let e = s.parse::<CalendarDuration>().unwrap_err();
            assert!(e.contains("out of range"), "{s}: {e}");
        }
        let max = CalendarDuration {
            years: u32::MAX,
            months: u32::MAX,
            days: u32::MAX,
            ..Default::default()
        };
        assert_eq!(max.before(&Utc::now()), DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn ambiguous_and_malformed_are_refused_clearly() {
        for s in ["15M", "3mo", "10mins"] {
            let e = s.parse::<CalendarDuration>().unwrap_err();
            assert!(
                e.contains("ambiguous") && e.contains("min for minutes"),
                "{s}: {e}"
            );
        }
        for s in ["", "5", "3w", "d", "1.5d", "-1d", "1d ", "h1"] {
            assert!(s.parse::<CalendarDuration>().is_err(), "{s}");
        }
        for s in ["1d1d", "3h2d", "1min1h", "1s1s"] {
            let e = s.parse::<CalendarDuration>().unwrap_err();
            assert!(e.contains("each unit once, largest first"), "{s}: {e}");
        }
    }

    #[test]
    fn digits_are_bounded_so_no_spelling_passes_1000_years() {
        for ok in [
            "999y",
            "1000y",
            "99y999m99999d999999h9999999min999999999s",
            "007d",
        ] {
            assert!(ok.parse::<CalendarDuration>().is_ok(), "{ok}");
        }
        for s in ["0999y", "100y1d", "1000m", "100000d", "1000y1s"] {
            let e = s.parse::<CalendarDuration>().unwrap_err();
            assert!(e.contains("out of range"), "{s}: {e}");
        }
        assert_eq!(
            "99y999m99999d999999h9999999min999999999s".len(),
            MAX_LEN,
            "MAX_LEN is the longest spelling"
        );
    }
}
