//! The official working-day calendar (工作日).
//!
//! Weekends are off and weekdays on, except the days each year's State Council holiday
//! notice lists: holiday ranges off, some weekend days on as make-up working days (调休
//! 上班). The notice for a year comes the November before, so loading a year is an
//! operator's task. A strict question about a year that is not loaded is an error
//! rather than a guess; a time limit that runs into such a year is counted
//! *provisionally* (暂定), on weekends only, and says so, so that no deadline is ever
//! missing (FACTS.md, "Working days"); it is counted again when the year is loaded.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;
use toml::Spanned;

use super::toml_date::TomlDate;

/// The years embedded as the default; see `data/calendar/` for the format.
pub(super) const OFFICIAL_YEARS: [&str; 2] = [
    include_str!("../../data/calendar/2025.toml"),
    include_str!("../../data/calendar/2026.toml"),
];

/// The years a calendar file may name.
const YEARS: std::ops::RangeInclusive<i32> = 1949..=2200;

/// A question the calendar cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error(
        "工作日历尚未载入{0}年（no data for {0}）：请先载入该年国务院节假日安排，才能按工作日计算"
    )]
    YearNotLoaded(i32),
}

/// Why a year's calendar file was refused, with the line of the file and the
/// field at fault. Nothing from a refused file is loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarDataError {
    #[error("第{line}行第{column}列：日历文件不是有效的TOML：{message}")]
    Toml {
        line: usize,
        column: usize,
        message: String,
    },

    #[error("第{line}行 year：{year} 不是可载入的年份（{}–{}）", YEARS.start(), YEARS.end())]
    YearOutOfRange { line: usize, year: i32 },

    #[error("第{line}行 {field}：{date} 不在 {year} 年内")]
    OutsideYear {
        line: usize,
        field: &'static str,
        year: i32,
        date: NaiveDate,
    },

    #[error("第{line}行 working_weekends：{date} 是{}，调休上班日只需列出周六、周日", weekday_name(*.weekday))]
    NotAWeekend {
        line: usize,
        date: NaiveDate,
        weekday: Weekday,
    },

    #[error("第{line}行 holiday.last：假日“{name}”的结束日 {last} 早于开始日 {first}")]
    HolidayReversed {
        line: usize,
        name: String,
        first: NaiveDate,
        last: NaiveDate,
    },

    #[error("第{line}行 working_weekends：{date} 既列为假日又列为调休上班日")]
    BothOffAndOn { line: usize, date: NaiveDate },
}

impl From<CalendarDataError> for crate::error::Why {
    /// The file's refusals are written in Chinese, for the operator who wrote it.
    fn from(error: CalendarDataError) -> Self {
        let text = error.to_string();
        crate::error::Why::new(text.clone(), text)
    }
}

impl CalendarDataError {
    /// What is wrong, without the line and field the message begins with
    /// (every message is `第N行 field：reason`), for a caller that names them
    /// itself (a reference folder's refusal, `file:line: field: reason`).
    pub fn reason(&self) -> String {
        let message = self.to_string();
        match message.split_once('：') {
            Some((_, reason)) => reason.to_owned(),
            None => message,
        }
    }

    /// The line of the file at fault, from 1.
    pub fn line(&self) -> usize {
        match self {
            CalendarDataError::Toml { line, .. }
            | CalendarDataError::YearOutOfRange { line, .. }
            | CalendarDataError::OutsideYear { line, .. }
            | CalendarDataError::NotAWeekend { line, .. }
            | CalendarDataError::HolidayReversed { line, .. }
            | CalendarDataError::BothOffAndOn { line, .. } => *line,
        }
    }

    /// The field of the file at fault (`working_weekends`, `holiday.first`, …);
    /// empty for a file that is not TOML at all.
    pub fn field(&self) -> &'static str {
        match self {
            CalendarDataError::Toml { .. } => "",
            CalendarDataError::YearOutOfRange { .. } => "year",
            CalendarDataError::OutsideYear { field, .. } => field,
            CalendarDataError::NotAWeekend { .. } | CalendarDataError::BothOffAndOn { .. } => {
                "working_weekends"
            }
            CalendarDataError::HolidayReversed { .. } => "holiday.last",
        }
    }
}

fn weekday_name(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "周一",
        Weekday::Tue => "周二",
        Weekday::Wed => "周三",
        Weekday::Thu => "周四",
        Weekday::Fri => "周五",
        Weekday::Sat => "周六",
        Weekday::Sun => "周日",
    }
}

/// The line (from 1) and column (from 1) of byte `offset` of `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(1, |last| last.chars().count() + 1);
    (line, column)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: Spanned<i32>,
    source: Option<String>,
    #[serde(default)]
    working_weekends: Vec<Spanned<TomlDate>>,
    #[serde(default)]
    holiday: Vec<HolidayEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayEntry {
    name: String,
    first: Spanned<TomlDate>,
    last: Spanned<TomlDate>,
}

/// One year's exceptions to "weekdays on, weekends off".
#[derive(Debug, Clone, PartialEq, Eq)]
struct Year {
    source: Option<String>,
    off: BTreeSet<NaiveDate>,
    working_weekends: BTreeSet<NaiveDate>,
}

impl Year {
    fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.off.contains(&date) {
            return false;
        }
        if self.working_weekends.contains(&date) {
            return true;
        }
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
    }
}

/// The working-day calendar for the years loaded into it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    years: BTreeMap<i32, Year>,
}

impl Calendar {
    /// A calendar with no years: every question is [`CalendarError::YearNotLoaded`]
    /// until a year is loaded.
    pub fn empty() -> Calendar {
        Calendar::default()
    }

    /// The State Council calendars embedded from `data/calendar/` (2025 and 2026).
    pub fn official() -> Calendar {
        let mut calendar = Calendar::empty();
        for text in OFFICIAL_YEARS {
            // The embedded files are checked by the tests below; failing here is a
            // build defect, not an operator's mistake.
            calendar
                .load_year_toml(text)
                .expect("embedded data/calendar/*.toml is valid");
        }
        calendar
    }

    /// Adds one year from a calendar file (the format of `data/calendar/2026.toml`)
    /// and returns the year. A year already loaded is replaced, so an operator can
    /// correct an embedded year as well as add the next one.
    pub fn load_year_toml(&mut self, text: &str) -> Result<i32, CalendarDataError> {
        let (year, parsed) = parse_year(text)?;
        self.years.insert(year, parsed);
        Ok(year)
    }

    /// Checks a calendar file as [`Calendar::load_year_toml`] would load it, and
    /// returns its year and its `source`.
    pub fn check_year_toml(text: &str) -> Result<(i32, Option<String>), CalendarDataError> {
        let (year, parsed) = parse_year(text)?;
        Ok((year, parsed.source))
    }

    /// This calendar with one more year from a calendar file (see
    /// [`Calendar::load_year_toml`]).
    pub fn with_year_toml(&self, text: &str) -> Result<Calendar, CalendarDataError> {
        let mut calendar = self.clone();
        calendar.load_year_toml(text)?;
        Ok(calendar)
    }

    /// The last day of the last loaded year: working days after it can only be
    /// counted provisionally.
    pub fn last_loaded_day(&self) -> Option<NaiveDate> {
        let year = *self.years.keys().next_back()?;
        NaiveDate::from_ymd_opt(year, 12, 31)
    }

    /// Days from `today` to the last loaded day (negative once it has passed;
    /// `None` with no year loaded).
    pub fn days_left(&self, today: NaiveDate) -> Option<i64> {
        self.last_loaded_day().map(|last| (last - today).num_days())
    }

    /// The loaded years, in order.
    pub fn loaded_years(&self) -> Vec<i32> {
        self.years.keys().copied().collect()
    }

    /// The notice a loaded year was taken from, as its file names it.
    pub fn source(&self, year: i32) -> Option<&str> {
        self.years.get(&year).and_then(|y| y.source.as_deref())
    }

    pub fn is_working_day(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        self.years
            .get(&date.year())
            .map(|year| year.is_working_day(date))
            .ok_or(CalendarError::YearNotLoaded(date.year()))
    }

    /// The `n`-th working day strictly after `start`; `start` itself when `n` is 0.
    /// Time limits count this way: "7 working days" from a filing on 2026-02-12 ends on
    /// 2026-02-28.
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        let mut date = start;
        let mut counted = 0;
        while counted < n {
            date = next_day(date)?;
            if self.is_working_day(date)? {
                counted += 1;
            }
        }
        Ok(date)
    }

    /// The number of working days in (`from`, `to`]: after `from`, up to and including
    /// `to`. Zero when `to` is not after `from`.
    pub fn working_days_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<u32, CalendarError> {
        let mut count = 0;
        let mut date = from;
        while date < to {
            date = next_day(date)?;
            if self.is_working_day(date)? {
                count += 1;
            }
        }
        Ok(count)
    }
}

/// Reads and checks one year's calendar file.
fn parse_year(text: &str) -> Result<(i32, Year), CalendarDataError> {
    let file: YearFile = toml::from_str(text).map_err(|error| {
        let (line, column) = error
            .span()
            .map_or((1, 1), |span| position(text, span.start));
        CalendarDataError::Toml {
            line,
            column,
            message: error.message().trim().to_owned(),
        }
    })?;
    let line_of = |span: std::ops::Range<usize>| position(text, span.start).0;
    let year = *file.year.get_ref();
    if !YEARS.contains(&year) {
        return Err(CalendarDataError::YearOutOfRange {
            line: line_of(file.year.span()),
            year,
        });
    }
    let in_year = |date: &Spanned<TomlDate>, field: &'static str| {
        let day = date.get_ref().0;
        if day.year() == year {
            Ok(day)
        } else {
            Err(CalendarDataError::OutsideYear {
                line: line_of(date.span()),
                field,
                year,
                date: day,
            })
        }
    };

    let mut off = BTreeSet::new();
    for holiday in &file.holiday {
        let first = in_year(&holiday.first, "holiday.first")?;
        let last = in_year(&holiday.last, "holiday.last")?;
        if last < first {
            return Err(CalendarDataError::HolidayReversed {
                line: line_of(holiday.last.span()),
                name: holiday.name.clone(),
                first,
                last,
            });
        }
        off.extend(first.iter_days().take_while(|date| *date <= last));
    }

    let mut working_weekends = BTreeSet::new();
    for spanned in &file.working_weekends {
        let date = in_year(spanned, "working_weekends")?;
        let line = line_of(spanned.span());
        let weekday = date.weekday();
        if !matches!(weekday, Weekday::Sat | Weekday::Sun) {
            return Err(CalendarDataError::NotAWeekend {
                line,
                date,
                weekday,
            });
        }
        if off.contains(&date) {
            return Err(CalendarDataError::BothOffAndOn { line, date });
        }
        working_weekends.insert(date);
    }
    Ok((
        year,
        Year {
            source: file.source,
            off,
            working_weekends,
        },
    ))
}

/// A count of working days and whether any day of it fell in a year not
/// loaded, where it counted weekends only (暂定, provisional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted<T> {
    pub value: T,
    pub provisional: bool,
}

impl Calendar {
    /// Whether `date` is a working day, and whether that is provisional: a
    /// day of a year not loaded counts as a working day when it is a weekday.
    pub fn is_working_day_or_weekday(&self, date: NaiveDate) -> Counted<bool> {
        match self.years.get(&date.year()) {
            Some(year) => Counted {
                value: year.is_working_day(date),
                provisional: false,
            },
            None => Counted {
                value: !matches!(date.weekday(), Weekday::Sat | Weekday::Sun),
                provisional: true,
            },
        }
    }

    /// [`Calendar::add_working_days`] that never fails: days in a year not
    /// loaded count on weekends only, and the result says it is provisional.
    pub fn add_working_days_provisional(&self, start: NaiveDate, n: u32) -> Counted<NaiveDate> {
        let mut date = start;
        let mut counted = 0;
        let mut provisional = false;
        while counted < n {
            let Some(next) = date.succ_opt() else {
                return Counted {
                    value: date,
                    provisional: true,
                };
            };
            date = next;
            let day = self.is_working_day_or_weekday(date);
            provisional |= day.provisional;
            if day.value {
                counted += 1;
            }
        }
        Counted {
            value: date,
            provisional,
        }
    }

    /// [`Calendar::working_days_between`] that never fails, as
    /// [`Calendar::add_working_days_provisional`] counts.
    pub fn working_days_between_provisional(&self, from: NaiveDate, to: NaiveDate) -> Counted<u32> {
        let mut count = 0;
        let mut provisional = false;
        let mut date = from;
        while date < to {
            let Some(next) = date.succ_opt() else { break };
            date = next;
            let day = self.is_working_day_or_weekday(date);
            provisional |= day.provisional;
            if day.value {
                count += 1;
            }
        }
        Counted {
            value: count,
            provisional,
        }
    }
}

/// The calendar a running part goes by, shared by its API, its followers and
/// its background tasks: a year loaded through one of them is seen by all at
/// once, without a restart. Readers take a snapshot, which a load never changes.
#[derive(Debug, Clone)]
pub struct SharedCalendar {
    current: Arc<RwLock<Arc<Calendar>>>,
    /// The days left when the last warning was logged, so it is logged once a day.
    warned: Arc<std::sync::atomic::AtomicI64>,
}

impl SharedCalendar {
    pub fn new(calendar: Calendar) -> SharedCalendar {
        SharedCalendar {
            current: Arc::new(RwLock::new(Arc::new(calendar))),
            warned: Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN)),
        }
    }

    /// The embedded years ([`Calendar::official`]).
    pub fn official() -> SharedCalendar {
        SharedCalendar::new(Calendar::official())
    }

    /// The calendar as it is now.
    pub fn current(&self) -> Arc<Calendar> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Adds (or replaces) one year from a calendar file; returns the year.
    pub fn load_year_toml(&self, text: &str) -> Result<i32, CalendarDataError> {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let mut next = Calendar::clone(&current);
        let year = next.load_year_toml(text)?;
        *current = Arc::new(next);
        Ok(year)
    }

    /// Sets the gauge `zhengqi_calendar_days_left` of `part` from the Beijing
    /// date of `now` (microseconds), and warns from [`WARN_DAYS_LEFT`] days
    /// before the last loaded day, once a day. Returns the days left.
    pub fn report_days_left(&self, part: &'static str, now: i64) -> Option<i64> {
        let calendar = self.current();
        let today = crate::clock::beijing_date(now);
        let left = calendar.days_left(today)?;
        crate::metrics::set_gauge(crate::metrics::Level::CalendarDaysLeft, part, left as f64);
        let warned = self.warned.swap(left, std::sync::atomic::Ordering::Relaxed);
        if left <= WARN_DAYS_LEFT && warned != left {
            let last = calendar.last_loaded_day().unwrap_or(today);
            tracing::warn!(
                part,
                days_left = left,
                "工作日历已载入至{last}，剩余{left}天；请载入{}年国务院节假日安排（zhengqi calendar load FILE）",
                last.year() + 1
            );
        }
        Some(left)
    }
}

impl SharedCalendar {
    /// Reports the days left (see [`SharedCalendar::report_days_left`]) every
    /// `every` by `clock`, until `shutdown`: the count falls day by day.
    pub async fn report_days_left_every(
        self,
        part: &'static str,
        clock: Arc<crate::clock::Clock>,
        every: std::time::Duration,
        shutdown: crate::shutdown::Shutdown,
    ) {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = interval.tick() => {}
            }
            self.report_days_left(part, clock.now());
        }
    }
}

/// From how many days before the last loaded day a part warns that the next
/// year's calendar is missing.
pub const WARN_DAYS_LEFT: i64 = 60;

/// The day after `date`. chrono's last representable day has no successor, and no
/// calendar year that far out is ever loaded, so that case reports the year after.
fn next_day(date: NaiveDate) -> Result<NaiveDate, CalendarError> {
    date.succ_opt()
        .ok_or(CalendarError::YearNotLoaded(date.year().saturating_add(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const YEAR_2027: &str = r#"
        year = 2027
        source = "test notice"
        working_weekends = [2027-01-02]

        [[holiday]]
        name = "元旦"
        first = 2027-01-01
        last = 2027-01-01
    "#;

    #[test]
    fn the_official_calendar_loads_2025_and_2026() {
        let calendar = Calendar::official();
        assert_eq!(calendar.loaded_years(), vec![2025, 2026]);
        assert_eq!(
            calendar.source(2026),
            Some("国务院办公厅关于2026年部分节假日安排的通知")
        );
    }

    #[test]
    fn seven_working_days_after_2026_02_12_is_2026_02_28() {
        // 02-13 Fri, 02-14 make-up Sat, 02-15..02-23 Spring Festival off,
        // 02-24..02-27 Tue–Fri, 02-28 make-up Sat.
        let calendar = Calendar::official();
        assert_eq!(
            calendar.add_working_days(date(2026, 2, 12), 7),
            Ok(date(2026, 2, 28))
        );
    }

    #[test]
    fn adding_zero_working_days_returns_the_start() {
        let calendar = Calendar::official();
        // Even on a holiday: nothing is counted.
        assert_eq!(
            calendar.add_working_days(date(2026, 2, 16), 0),
            Ok(date(2026, 2, 16))
        );
    }

    #[test]
    fn make_up_saturdays_in_february_2026_are_working_days() {
        let calendar = Calendar::official();
        assert_eq!(calendar.is_working_day(date(2026, 2, 14)), Ok(true));
        assert_eq!(calendar.is_working_day(date(2026, 2, 28)), Ok(true));
    }

    #[test]
    fn spring_festival_2026_is_off_every_day() {
        let calendar = Calendar::official();
        for day in 15..=23 {
            assert_eq!(
                calendar.is_working_day(date(2026, 2, day)),
                Ok(false),
                "2026-02-{day}"
            );
        }
    }

    #[test]
    fn national_day_2025_is_off_and_its_make_up_days_are_on() {
        let calendar = Calendar::official();
        for day in 1..=8 {
            assert_eq!(
                calendar.is_working_day(date(2025, 10, day)),
                Ok(false),
                "2025-10-0{day}"
            );
        }
        assert_eq!(calendar.is_working_day(date(2025, 9, 28)), Ok(true));
        assert_eq!(calendar.is_working_day(date(2025, 10, 11)), Ok(true));
    }

    #[test]
    fn ordinary_weekdays_are_on_and_weekends_off() {
        let calendar = Calendar::official();
        assert_eq!(calendar.is_working_day(date(2026, 3, 10)), Ok(true)); // Tue
        assert_eq!(calendar.is_working_day(date(2026, 3, 14)), Ok(false)); // Sat
        assert_eq!(calendar.is_working_day(date(2026, 3, 15)), Ok(false)); // Sun
    }

    #[test]
    fn every_listed_day_of_the_official_calendars_is_honoured() {
        // FACTS.md, "Working days", day by day.
        let calendar = Calendar::official();
        let off: [(i32, u32, u32, u32); 13] = [
            (2025, 1, 1, 1),
            (2025, 1, 28, 31),
            (2025, 2, 1, 4),
            (2025, 4, 4, 6),
            (2025, 5, 1, 5),
            (2025, 5, 31, 31),
            (2025, 6, 1, 2),
            (2026, 1, 1, 3),
            (2026, 4, 4, 6),
            (2026, 5, 1, 5),
            (2026, 6, 19, 21),
            (2026, 9, 25, 27),
            (2026, 10, 1, 7),
        ];
        for (y, m, first, last) in off {
            for d in first..=last {
                assert_eq!(
                    calendar.is_working_day(date(y, m, d)),
                    Ok(false),
                    "{y}-{m}-{d}"
                );
            }
        }
        let on = [
            date(2025, 1, 26),
            date(2025, 2, 8),
            date(2025, 4, 27),
            date(2025, 9, 28),
            date(2025, 10, 11),
            date(2026, 1, 4),
            date(2026, 2, 14),
            date(2026, 2, 28),
            date(2026, 5, 9),
            date(2026, 9, 20),
            date(2026, 10, 10),
        ];
        for day in on {
            assert_eq!(calendar.is_working_day(day), Ok(true), "{day}");
        }
    }

    #[test]
    fn a_date_in_an_unloaded_year_is_an_error_not_a_guess() {
        let calendar = Calendar::official();
        assert_eq!(
            calendar.is_working_day(date(2028, 3, 1)),
            Err(CalendarError::YearNotLoaded(2028))
        );
        assert_eq!(
            calendar.is_working_day(date(2024, 12, 31)),
            Err(CalendarError::YearNotLoaded(2024))
        );
        let message = CalendarError::YearNotLoaded(2028).to_string();
        assert!(message.contains("尚未载入2028年"), "{message}");
    }

    #[test]
    fn a_deadline_running_past_the_last_loaded_year_says_so() {
        let calendar = Calendar::official();
        assert_eq!(
            calendar.add_working_days(date(2026, 12, 28), 15),
            Err(CalendarError::YearNotLoaded(2027))
        );
        assert_eq!(
            calendar.working_days_between(date(2026, 12, 30), date(2027, 1, 5)),
            Err(CalendarError::YearNotLoaded(2027))
        );
    }

    #[test]
    fn loading_a_2027_file_makes_2027_work() {
        let mut calendar = Calendar::official();
        assert_eq!(calendar.load_year_toml(YEAR_2027), Ok(2027));
        assert_eq!(calendar.loaded_years(), vec![2025, 2026, 2027]);
        assert_eq!(calendar.is_working_day(date(2027, 1, 1)), Ok(false)); // Fri, holiday
        assert_eq!(calendar.is_working_day(date(2027, 1, 2)), Ok(true)); // Sat, make-up
        assert_eq!(calendar.is_working_day(date(2027, 1, 4)), Ok(true)); // Mon
        // Thu 2026-12-31, then Sat 2027-01-02 and Mon 2027-01-04.
        assert_eq!(
            calendar.add_working_days(date(2026, 12, 30), 3),
            Ok(date(2027, 1, 4))
        );
    }

    #[test]
    fn reloading_a_year_replaces_it() {
        let mut calendar = Calendar::official();
        calendar
            .load_year_toml("year = 2026\nsource = \"corrected\"\n")
            .unwrap();
        assert_eq!(calendar.source(2026), Some("corrected"));
        // The Spring Festival is gone from the replacement: Mon 2026-02-16 is a weekday.
        assert_eq!(calendar.is_working_day(date(2026, 2, 16)), Ok(true));
    }

    #[test]
    fn working_days_between_counts_after_from_through_to() {
        let calendar = Calendar::official();
        assert_eq!(
            calendar.working_days_between(date(2026, 2, 12), date(2026, 2, 28)),
            Ok(7)
        );
        assert_eq!(
            calendar.working_days_between(date(2026, 2, 12), date(2026, 2, 12)),
            Ok(0)
        );
        assert_eq!(
            calendar.working_days_between(date(2026, 2, 28), date(2026, 2, 12)),
            Ok(0)
        );
        // 2025-09-30 Tue → 2025-10-11 Sat: 10-01..10-08 off, 10-09 Thu, 10-10 Fri,
        // 10-11 make-up Sat.
        assert_eq!(
            calendar.working_days_between(date(2025, 9, 30), date(2025, 10, 11)),
            Ok(3)
        );
    }

    #[test]
    fn working_days_between_and_add_working_days_agree() {
        let calendar = Calendar::official();
        let start = date(2025, 1, 20);
        for n in [1, 3, 7, 15, 30, 100] {
            let end = calendar.add_working_days(start, n).unwrap();
            assert_eq!(calendar.working_days_between(start, end), Ok(n), "n = {n}");
        }
    }

    #[test]
    fn a_calendar_file_with_a_date_outside_its_year_is_refused() {
        let mut calendar = Calendar::empty();
        let error = calendar
            .load_year_toml("year = 2027\nworking_weekends = [2026-01-04]\n")
            .unwrap_err();
        assert_eq!(
            error,
            CalendarDataError::OutsideYear {
                line: 2,
                field: "working_weekends",
                year: 2027,
                date: date(2026, 1, 4)
            }
        );
        assert_eq!(
            error.to_string(),
            "第2行 working_weekends：2026-01-04 不在 2027 年内"
        );
        assert!(calendar.loaded_years().is_empty());
    }

    #[test]
    fn a_working_weekend_day_that_is_a_weekday_is_refused() {
        let error = Calendar::empty()
            .load_year_toml("year = 2027\nworking_weekends = [2027-01-04]\n")
            .unwrap_err();
        assert_eq!(
            error,
            CalendarDataError::NotAWeekend {
                line: 2,
                date: date(2027, 1, 4),
                weekday: Weekday::Mon
            }
        );
        assert!(error.to_string().contains("周一"), "{error}");
    }

    #[test]
    fn a_day_both_off_and_on_is_refused() {
        let error = Calendar::empty()
            .load_year_toml(
                r#"
                year = 2027
                working_weekends = [2027-01-02]
                [[holiday]]
                name = "元旦"
                first = 2027-01-01
                last = 2027-01-03
                "#,
            )
            .unwrap_err();
        assert_eq!(
            error,
            CalendarDataError::BothOffAndOn {
                line: 3,
                date: date(2027, 1, 2)
            }
        );
        assert_eq!(error.field(), "working_weekends");
    }

    #[test]
    fn a_reversed_holiday_or_an_impossible_date_is_refused() {
        let reversed = Calendar::empty()
            .load_year_toml(
                "year = 2027\n[[holiday]]\nname = \"春节\"\nfirst = 2027-02-10\nlast = 2027-02-05\n",
            )
            .unwrap_err();
        assert!(
            matches!(reversed, CalendarDataError::HolidayReversed { .. }),
            "{reversed}"
        );
        let impossible = Calendar::empty()
            .load_year_toml("year = 2027\nworking_weekends = [2027-02-30]\n")
            .unwrap_err();
        assert!(
            matches!(impossible, CalendarDataError::Toml { line: 2, .. }),
            "{impossible}"
        );
        assert!(impossible.to_string().starts_with("第2行"), "{impossible}");
    }

    #[test]
    fn an_unknown_field_or_a_year_out_of_range_is_refused_naming_its_line() {
        let unknown = Calendar::empty()
            .load_year_toml("year = 2027\nholidays = []\n")
            .unwrap_err();
        assert!(
            matches!(unknown, CalendarDataError::Toml { line: 2, .. }),
            "{unknown}"
        );
        assert!(unknown.to_string().contains("holidays"), "{unknown}");
        let year = Calendar::empty()
            .load_year_toml("source = \"x\"\nyear = 20270\n")
            .unwrap_err();
        assert_eq!(
            year,
            CalendarDataError::YearOutOfRange {
                line: 2,
                year: 20270
            }
        );
    }

    #[test]
    fn a_count_into_a_year_not_loaded_is_provisional_on_weekends_only() {
        let calendar = Calendar::official();
        // Mon 2026-12-28: 12-29..12-31 on the 2026 calendar, then 2027 on
        // weekends only: 01-01 (Fri), 01-04..01-08, 01-11..01-15, 01-18.
        assert_eq!(
            calendar.add_working_days_provisional(date(2026, 12, 28), 15),
            Counted {
                value: date(2027, 1, 18),
                provisional: true
            }
        );
        // Within the loaded years it is the exact count.
        assert_eq!(
            calendar.add_working_days_provisional(date(2026, 2, 12), 7),
            Counted {
                value: date(2026, 2, 28),
                provisional: false
            }
        );
        assert_eq!(
            calendar.working_days_between_provisional(date(2026, 12, 30), date(2027, 1, 5)),
            Counted {
                value: 4,
                provisional: true
            }
        );
        // Once 2027 is loaded, the count is exact: 01-01 is off, 01-02 a make-up Saturday.
        let loaded = calendar.with_year_toml(YEAR_2027).unwrap();
        assert_eq!(
            loaded.add_working_days_provisional(date(2026, 12, 28), 15),
            Counted {
                value: date(2027, 1, 18),
                provisional: false
            }
        );
        assert_eq!(calendar.loaded_years(), vec![2025, 2026], "unchanged");
    }

    #[test]
    fn days_left_count_to_the_last_day_of_the_last_loaded_year() {
        let calendar = Calendar::official();
        assert_eq!(calendar.last_loaded_day(), Some(date(2026, 12, 31)));
        assert_eq!(calendar.days_left(date(2026, 12, 4)), Some(27));
        assert_eq!(Calendar::empty().days_left(date(2026, 12, 4)), None);
    }

    #[test]
    fn the_days_left_are_a_gauge_per_part() {
        let shared = SharedCalendar::official();
        let noon = crate::clock::end_of_day(date(2026, 12, 4)) - 12 * 3_600_000_000;
        assert_eq!(shared.report_days_left("calendar-test", noon), Some(27));
        let text = crate::metrics::render();
        assert!(
            text.contains("zhengqi_calendar_days_left{part=\"calendar-test\"} 27"),
            "{text}"
        );
    }

    #[test]
    fn a_shared_calendar_shows_a_loaded_year_to_every_holder() {
        let shared = SharedCalendar::official();
        let other = shared.clone();
        let before = shared.current();
        assert_eq!(other.load_year_toml(YEAR_2027), Ok(2027));
        assert_eq!(shared.current().loaded_years(), vec![2025, 2026, 2027]);
        // A snapshot taken before stays as it was.
        assert_eq!(before.loaded_years(), vec![2025, 2026]);
        assert!(other.load_year_toml("year = 2028\nnope = 1\n").is_err());
        assert_eq!(shared.current().loaded_years(), vec![2025, 2026, 2027]);
    }
}
