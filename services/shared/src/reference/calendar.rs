//! The official working-day calendar (工作日).
//!
//! Weekends are off and weekdays on, except the days each year's State Council holiday
//! notice lists: holiday ranges off, some weekend days on as make-up working days (调休
//! 上班). The notice for a year comes the November before, so loading a year is an
//! operator's task, and a date in a year that is not loaded is an error rather than a
//! guess (FACTS.md, "Working days").

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;

use super::toml_date::TomlDate;

/// The years embedded as the default; see `data/calendar/` for the format.
pub(super) const OFFICIAL_YEARS: [&str; 2] = [
    include_str!("../../data/calendar/2025.toml"),
    include_str!("../../data/calendar/2026.toml"),
];

/// A question the calendar cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error(
        "the working-day calendar has no data for {0}; an operator must load that year's \
         State Council holiday notice before working days in it can be counted"
    )]
    YearNotLoaded(i32),
}

/// Why a year's calendar file was refused. Nothing from a refused file is loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarDataError {
    #[error("the calendar file is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),

    #[error("the calendar file for {year} lists {date}, which is not in {year}")]
    OutsideYear { year: i32, date: NaiveDate },

    #[error(
        "the calendar file lists {date} as a working weekend day, but it is a {weekday}; \
         only Saturdays and Sundays need listing"
    )]
    NotAWeekend { date: NaiveDate, weekday: Weekday },

    #[error("the holiday \"{name}\" ends ({last}) before it starts ({first})")]
    HolidayReversed {
        name: String,
        first: NaiveDate,
        last: NaiveDate,
    },

    #[error("the calendar file lists {0} both as a holiday and as a working weekend day")]
    BothOffAndOn(NaiveDate),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i32,
    source: Option<String>,
    #[serde(default)]
    working_weekends: Vec<TomlDate>,
    #[serde(default)]
    holiday: Vec<HolidayEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayEntry {
    name: String,
    first: TomlDate,
    last: TomlDate,
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
        let file: YearFile = toml::from_str(text)?;
        let year = file.year;
        let in_year = |date: NaiveDate| {
            if date.year() == year {
                Ok(date)
            } else {
                Err(CalendarDataError::OutsideYear { year, date })
            }
        };

        let mut off = BTreeSet::new();
        for holiday in file.holiday {
            let (first, last) = (in_year(holiday.first.0)?, in_year(holiday.last.0)?);
            if last < first {
                return Err(CalendarDataError::HolidayReversed {
                    name: holiday.name,
                    first,
                    last,
                });
            }
            off.extend(first.iter_days().take_while(|date| *date <= last));
        }

        let mut working_weekends = BTreeSet::new();
        for date in file.working_weekends {
            let date = in_year(date.0)?;
            let weekday = date.weekday();
            if !matches!(weekday, Weekday::Sat | Weekday::Sun) {
                return Err(CalendarDataError::NotAWeekend { date, weekday });
            }
            if off.contains(&date) {
                return Err(CalendarDataError::BothOffAndOn(date));
            }
            working_weekends.insert(date);
        }

        self.years.insert(
            year,
            Year {
                source: file.source,
                off,
                working_weekends,
            },
        );
        Ok(year)
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
        assert!(message.contains("no data for 2028"), "{message}");
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
                year: 2027,
                date: date(2026, 1, 4)
            }
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
                date: date(2027, 1, 4),
                weekday: Weekday::Mon
            }
        );
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
        assert_eq!(error, CalendarDataError::BothOffAndOn(date(2027, 1, 2)));
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
            matches!(impossible, CalendarDataError::Toml(_)),
            "{impossible}"
        );
    }
}
