//! restic's calendar durations: `2y6m`, `30d`, `12h`, `1y2m3d4h` (m = months).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Months, Utc};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CalendarDuration {
    pub years: u32,
    pub months: u32,
    pub days: u32,
    pub hours: u32,
}

impl CalendarDuration {
    /// `t` minus this duration, calendar-aware.
    pub fn before(&self, t: &DateTime<Utc>) -> DateTime<Utc> {
        let months = self.years * 12 + self.months;
        let shifted = t
            .checked_sub_months(Months::new(months))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        shifted
            - chrono::Duration::days(i64::from(self.days))
            - chrono::Duration::hours(i64::from(self.hours))
    }
}

impl FromStr for CalendarDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not a duration like 30d, 6m, 1y or 1y2m3d4h (y years, m months, d days, h hours)"
            )
        };
        let mut d = Self::default();
        let mut num = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let n: u32 = num.parse().map_err(|_| bad())?;
            num.clear();
            match c {
                'y' => d.years += n,
                'm' => d.months += n,
                'd' => d.days += n,
                'h' => d.hours += n,
                _ => return Err(bad()),
            }
        }
        if !num.is_empty() || d == Self::default() {
            return Err(bad());
        }
        Ok(d)
    }
}

impl fmt::Display for CalendarDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, u) in [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ] {
            if n > 0 {
                write!(f, "{n}{u}")?;
            }
        }
        Ok(())
    }
}
