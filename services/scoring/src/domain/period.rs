//! Assessment periods (考核周期): a year `2026`, a quarter `2026-Q3` or a month
//! `2026-11`, on China Standard Time (UTC+8).

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use zhengqi_shared::clock::beijing;
use zhengqi_shared::error::Why;

/// The first and last years a period may name; outside them a period is refused
/// (and no time arithmetic can overflow).
pub const FIRST_YEAR: i32 = 2000;
pub const LAST_YEAR: i32 = 2100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    Year(i32),
    /// Year and quarter 1–4.
    Quarter(i32, u32),
    /// Year and month 1–12.
    Month(i32, u32),
}

impl Period {
    /// Parses `2026`, `2026-Q3` (or `2026-q3`) or `2026-11`; refused with why,
    /// in English and Chinese.
    pub fn parse(text: &str) -> Result<Period, Why> {
        let expected = || {
            Why::new(
                "must be a year (2026), a quarter (2026-Q3) or a month (2026-11)",
                "考核期应为年度（如2026）、季度（如2026-Q3）或月份（如2026-11）",
            )
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(Why::new(
                "is required: a year (2026), a quarter (2026-Q3) or a month (2026-11)",
                "请填写考核期：年度（如2026）、季度（如2026-Q3）或月份（如2026-11）",
            ));
        }
        let (year, rest) = match text.split_once('-') {
            Some((year, rest)) => (year, Some(rest)),
            None => (text, None),
        };
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return Err(expected());
        }
        let year: i32 = year.parse().map_err(|_| expected())?;
        if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
            return Err(Why::new(
                format!("year must be from {FIRST_YEAR} to {LAST_YEAR}"),
                format!("年份应在{FIRST_YEAR}至{LAST_YEAR}之间"),
            ));
        }
        let Some(rest) = rest else {
            return Ok(Period::Year(year));
        };
        if let Some(quarter) = rest.strip_prefix(['Q', 'q']) {
            return match quarter {
                "1" | "2" | "3" | "4" => Ok(Period::Quarter(year, quarter.parse().unwrap_or(1))),
                _ => Err(Why::new("quarter must be Q1 to Q4", "季度应为Q1至Q4")),
            };
        }
        if rest.len() == 2 && rest.bytes().all(|b| b.is_ascii_digit()) {
            let month: u32 = rest.parse().map_err(|_| expected())?;
            if (1..=12).contains(&month) {
                return Ok(Period::Month(year, month));
            }
            return Err(Why::new("month must be 01 to 12", "月份应为01至12"));
        }
        Err(expected())
    }

    pub fn year(self) -> i32 {
        match self {
            Period::Year(y) | Period::Quarter(y, _) | Period::Month(y, _) => y,
        }
    }

    /// The month, quarter and year that hold the instant `micros`, in China time;
    /// `None` outside the years a period may name.
    pub fn month_of(micros: i64) -> Option<Period> {
        let time = DateTime::<Utc>::from_timestamp_micros(micros)?.with_timezone(&beijing());
        (FIRST_YEAR..=LAST_YEAR)
            .contains(&time.year())
            .then(|| Period::Month(time.year(), time.month()))
    }

    /// The period that directly holds this one: a month's quarter, a quarter's year.
    pub fn parent(self) -> Option<Period> {
        match self {
            Period::Year(_) => None,
            Period::Quarter(y, _) => Some(Period::Year(y)),
            Period::Month(y, m) => Some(Period::Quarter(y, (m - 1) / 3 + 1)),
        }
    }

    /// This period and every period holding it, nearest first.
    pub fn with_enclosing(self) -> Vec<Period> {
        let mut chain = vec![self];
        let mut current = self;
        while let Some(parent) = current.parent() {
            chain.push(parent);
            current = parent;
        }
        chain
    }

    /// The periods directly or indirectly inside this one.
    pub fn contained(self) -> Vec<Period> {
        match self {
            Period::Year(y) => (1..=4)
                .map(|q| Period::Quarter(y, q))
                .chain((1..=12).map(|m| Period::Month(y, m)))
                .collect(),
            Period::Quarter(y, q) => (q * 3 - 2..=q * 3).map(|m| Period::Month(y, m)).collect(),
            Period::Month(..) => Vec::new(),
        }
    }

    /// The previous period of the same length (2026-01 → 2025-12); `None` before
    /// the first year.
    pub fn previous(self) -> Option<Period> {
        let previous = match self {
            Period::Year(y) => Period::Year(y - 1),
            Period::Quarter(y, 1) => Period::Quarter(y - 1, 4),
            Period::Quarter(y, q) => Period::Quarter(y, q - 1),
            Period::Month(y, 1) => Period::Month(y - 1, 12),
            Period::Month(y, m) => Period::Month(y, m - 1),
        };
        (previous.year() >= FIRST_YEAR).then_some(previous)
    }

    /// The next period of the same length (2026-12 → 2027-01); `None` after
    /// the last year.
    pub fn next(self) -> Option<Period> {
        let next = match self {
            Period::Year(y) => Period::Year(y + 1),
            Period::Quarter(y, 4) => Period::Quarter(y + 1, 1),
            Period::Quarter(y, q) => Period::Quarter(y, q + 1),
            Period::Month(y, 12) => Period::Month(y + 1, 1),
            Period::Month(y, m) => Period::Month(y, m + 1),
        };
        (next.year() <= LAST_YEAR).then_some(next)
    }

    fn first_month(self) -> (i32, u32) {
        match self {
            Period::Year(y) => (y, 1),
            Period::Quarter(y, q) => (y, q * 3 - 2),
            Period::Month(y, m) => (y, m),
        }
    }

    fn months(self) -> u32 {
        match self {
            Period::Year(_) => 12,
            Period::Quarter(..) => 3,
            Period::Month(..) => 1,
        }
    }

    /// The period's first microsecond (China time midnight of its first day).
    pub fn start_micros(self) -> i64 {
        let (y, m) = self.first_month();
        month_start(y, m)
    }

    /// The first microsecond after the period.
    pub fn end_micros(self) -> i64 {
        let (y, m) = self.first_month();
        let total = (m - 1) + self.months();
        month_start(y + (total / 12) as i32, total % 12 + 1)
    }
}

fn month_start(year: i32, month: u32) -> i64 {
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| beijing().from_local_datetime(&t).single())
        .map_or(0, |t| t.timestamp_micros())
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Period::Year(y) => write!(f, "{y}"),
            Period::Quarter(y, q) => write!(f, "{y}-Q{q}"),
            Period::Month(y, m) => write!(f, "{y}-{m:02}"),
        }
    }
}

/// The periods a fact counts in: its year, and its quarter and month when it
/// has them (a third-party assessment of a whole year counts in that year only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeriodSet {
    pub year: String,
    pub quarter: String,
    pub month: String,
}

impl PeriodSet {
    /// `period` and the periods enclosing it.
    pub fn of(period: Period) -> PeriodSet {
        let mut set = PeriodSet::default();
        for p in period.with_enclosing() {
            match p {
                Period::Year(_) => set.year = p.to_string(),
                Period::Quarter(..) => set.quarter = p.to_string(),
                Period::Month(..) => set.month = p.to_string(),
            }
        }
        set
    }

    /// The month, quarter and year of an instant; `None` outside the years a
    /// period may name.
    pub fn at(micros: i64) -> Option<PeriodSet> {
        Period::month_of(micros).map(PeriodSet::of)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        [&self.year, &self.quarter, &self.month]
            .into_iter()
            .map(String::as_str)
            .filter(|p| !p.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_print() {
        assert_eq!(Period::parse("2026"), Ok(Period::Year(2026)));
        assert_eq!(Period::parse("2026-Q3"), Ok(Period::Quarter(2026, 3)));
        assert_eq!(Period::parse("2026-11"), Ok(Period::Month(2026, 11)));
        assert_eq!(Period::parse("2026-11").unwrap().to_string(), "2026-11");
        assert_eq!(Period::parse("2026-q1").unwrap().to_string(), "2026-Q1");
        for bad in [
            "",
            "26",
            "2026-13",
            "2026-Q5",
            "2026-1",
            "abcd",
            "9999",
            "2026-11-01",
            "-2026",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_month_sits_in_its_quarter_and_year() {
        let month = Period::Month(2026, 11);
        assert_eq!(
            month.with_enclosing(),
            [month, Period::Quarter(2026, 4), Period::Year(2026)]
        );
        assert_eq!(
            Period::Month(2026, 1).previous(),
            Some(Period::Month(2025, 12))
        );
        assert_eq!(
            Period::Quarter(2026, 1).previous(),
            Some(Period::Quarter(2025, 4))
        );
        assert_eq!(Period::Year(2000).previous(), None);
        assert_eq!(Period::Month(2026, 12).next(), Some(Period::Month(2027, 1)));
        assert_eq!(
            Period::Quarter(2026, 2).next(),
            Some(Period::Quarter(2026, 3))
        );
        assert_eq!(Period::Year(2100).next(), None);
        assert_eq!(Period::Year(2026).contained().len(), 16);
        assert_eq!(
            Period::Quarter(2026, 3).contained(),
            [
                Period::Month(2026, 7),
                Period::Month(2026, 8),
                Period::Month(2026, 9)
            ]
        );
    }

    #[test]
    fn periods_follow_china_time() {
        // 2026-11-30T16:30Z is 2026-12-01 00:30 in Beijing.
        let micros = chrono::DateTime::parse_from_rfc3339("2026-11-30T16:30:00Z")
            .unwrap()
            .timestamp_micros();
        let set = PeriodSet::at(micros).unwrap();
        assert_eq!(set.month, "2026-12");
        assert_eq!(set.quarter, "2026-Q4");
        assert_eq!(set.year, "2026");
        let december = Period::Month(2026, 12);
        assert!(december.start_micros() <= micros && micros < december.end_micros());
        assert_eq!(
            Period::Year(2026).end_micros(),
            Period::Year(2027).start_micros()
        );
        assert_eq!(
            Period::Quarter(2026, 4).end_micros(),
            Period::Year(2027).start_micros()
        );
    }
}
