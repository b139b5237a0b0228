//! Deadlines in working days on the official calendar (工作日): a time limit
//! counts from the Beijing date the clock started, ends at the close of its last
//! working day, stops while the enterprise is asked for information, and moves
//! with approved extensions.

use zhengqi_shared::reference::{Calendar, CalendarError};

use super::{AppealKind, Supervision};

pub use zhengqi_shared::clock::{beijing_date, end_of_day};

/// Sichuan's 12345 rules (December 2025): enquiries 3 working days, help
/// requests and suggestions 7, complaints and reports 15.
pub fn default_time_limit(kind: AppealKind) -> u32 {
    match kind {
        AppealKind::Enquiry => 3,
        AppealKind::HelpRequest | AppealKind::Suggestion => 7,
        AppealKind::Complaint | AppealKind::Report => 15,
    }
}

/// The deadline of a time limit of `days` working days whose clock started at `start`.
pub fn deadline_from(calendar: &Calendar, start: i64, days: u32) -> Result<i64, CalendarError> {
    let due = calendar.add_working_days(beijing_date(start), days)?;
    Ok(end_of_day(due))
}

/// A deadline counted on the calendar, provisional when some day of it fell
/// in a year not loaded (counted on weekends only, 暂定).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reckoned {
    pub deadline: i64,
    pub provisional: bool,
}

/// The deadline `days` working days after the Beijing date of `base`, at the
/// close of that day; `base` itself when `days` is 0. Never fails: a year not
/// loaded is counted on weekends only and the result says so.
pub fn reckon(calendar: &Calendar, base: i64, days: u32) -> Reckoned {
    if days == 0 {
        return Reckoned {
            deadline: base,
            provisional: false,
        };
    }
    let due = calendar.add_working_days_provisional(beijing_date(base), days);
    Reckoned {
        deadline: end_of_day(due.value),
        provisional: due.provisional,
    }
}

/// `deadline` moved by `days` working days (an approved extension, a pause).
pub fn extend(calendar: &Calendar, deadline: i64, days: u32) -> Result<i64, CalendarError> {
    deadline_from(calendar, deadline, days)
}

/// The working days a clock paused at `paused` and resumed at `resumed` did not
/// run: those after the pause's date up to and including the resumption's;
/// provisional when some of them fell in a year not loaded.
pub fn paused_working_days(calendar: &Calendar, paused: i64, resumed: i64) -> (u32, bool) {
    let counted =
        calendar.working_days_between_provisional(beijing_date(paused), beijing_date(resumed));
    (counted.value, counted.provisional)
}

/// 督办: RED once the deadline has passed, YELLOW once `yellow_ratio` of the
/// working days between the start and the deadline are used, else NONE.
pub fn supervision(
    calendar: &Calendar,
    start: i64,
    deadline: i64,
    now: i64,
    yellow_ratio: f64,
) -> Result<Supervision, CalendarError> {
    if now > deadline {
        return Ok(Supervision::Red);
    }
    // A provisional deadline is supervised on its provisional count.
    let total = calendar
        .working_days_between_provisional(beijing_date(start), beijing_date(deadline))
        .value;
    let used = calendar
        .working_days_between_provisional(beijing_date(start), beijing_date(now))
        .value;
    if total == 0 || f64::from(used) >= yellow_ratio * f64::from(total) {
        Ok(Supervision::Yellow)
    } else {
        Ok(Supervision::None)
    }
}

/// How many working days past its deadline a case is at `now` (0 when in time).
pub fn working_days_overdue(
    calendar: &Calendar,
    deadline: i64,
    now: i64,
) -> Result<u32, CalendarError> {
    if now <= deadline {
        return Ok(0);
    }
    Ok(calendar
        .working_days_between_provisional(beijing_date(deadline), beijing_date(now))
        .value)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate};

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Noon in Beijing on `date`.
    fn noon(date: NaiveDate) -> i64 {
        end_of_day(date) - 12 * 3_600_000_000
    }

    #[test]
    fn seven_working_days_from_2026_02_12_end_on_2026_02_28_across_the_spring_festival() {
        // 02-14 and 02-28 are make-up Saturdays (调休上班); 02-15…02-23 are off.
        let calendar = Calendar::official();
        let deadline = deadline_from(&calendar, noon(date(2026, 2, 12)), 7).unwrap();
        assert_eq!(beijing_date(deadline), date(2026, 2, 28));
        assert_eq!(deadline, end_of_day(date(2026, 2, 28)));
    }

    #[test]
    fn the_clock_starts_on_the_beijing_date() {
        // 2026-02-11 20:00 UTC is already 02-12 in Beijing.
        let calendar = Calendar::official();
        let start = DateTime::parse_from_rfc3339("2026-02-11T20:00:00Z")
            .unwrap()
            .timestamp_micros();
        let deadline = deadline_from(&calendar, start, 7).unwrap();
        assert_eq!(beijing_date(deadline), date(2026, 2, 28));
    }

    #[test]
    fn time_limits_follow_the_appeal_kind() {
        assert_eq!(default_time_limit(AppealKind::Enquiry), 3);
        assert_eq!(default_time_limit(AppealKind::HelpRequest), 7);
        assert_eq!(default_time_limit(AppealKind::Suggestion), 7);
        assert_eq!(default_time_limit(AppealKind::Complaint), 15);
        assert_eq!(default_time_limit(AppealKind::Report), 15);
    }

    #[test]
    fn a_paused_clock_does_not_run() {
        let calendar = Calendar::official();
        let deadline = deadline_from(&calendar, noon(date(2026, 2, 12)), 7).unwrap();
        // Paused on 02-13, answered on 02-25: 02-14 (make-up), 02-24 and 02-25 did not count.
        let (paused, provisional) =
            paused_working_days(&calendar, noon(date(2026, 2, 13)), noon(date(2026, 2, 25)));
        assert_eq!((paused, provisional), (3, false));
        let moved = extend(&calendar, deadline, paused).unwrap();
        assert_eq!(beijing_date(moved), date(2026, 3, 4));
        // Paused and answered the same day: nothing moves.
        assert_eq!(
            paused_working_days(
                &calendar,
                noon(date(2026, 3, 2)),
                noon(date(2026, 3, 2)) + 1
            ),
            (0, false)
        );
    }

    #[test]
    fn a_deadline_past_the_loaded_years_says_so() {
        let calendar = Calendar::official();
        let error = deadline_from(&calendar, noon(date(2026, 12, 28)), 15).unwrap_err();
        assert_eq!(error, CalendarError::YearNotLoaded(2027));
    }

    #[test]
    fn a_deadline_past_the_loaded_years_is_provisional_on_weekends_only() {
        let calendar = Calendar::official();
        // Mon 2026-12-28 + 15 working days: 12-29..12-31, then 2027 on
        // weekends only up to Mon 2027-01-18.
        let reckoned = reckon(&calendar, noon(date(2026, 12, 28)), 15);
        assert!(reckoned.provisional);
        assert_eq!(reckoned.deadline, end_of_day(date(2027, 1, 18)));
        // Inside the loaded years: exact, and the same as deadline_from.
        let exact = reckon(&calendar, noon(date(2026, 2, 12)), 7);
        assert_eq!(
            exact,
            Reckoned {
                deadline: deadline_from(&calendar, noon(date(2026, 2, 12)), 7).unwrap(),
                provisional: false
            }
        );
        // Zero days: the base itself (a meeting's decided deadline).
        assert_eq!(reckon(&calendar, 42, 0).deadline, 42);
        // Supervision of a provisional deadline does not fail.
        assert_eq!(
            supervision(
                &calendar,
                noon(date(2026, 12, 28)),
                reckoned.deadline,
                noon(date(2027, 1, 15)),
                0.8
            ),
            Ok(Supervision::Yellow)
        );
    }

    #[test]
    fn supervision_turns_yellow_then_red() {
        let calendar = Calendar::official();
        // Monday 2026-03-02, 10 working days: due Monday 03-16.
        let start = noon(date(2026, 3, 2));
        let deadline = deadline_from(&calendar, start, 10).unwrap();
        assert_eq!(beijing_date(deadline), date(2026, 3, 16));
        let at = |d| supervision(&calendar, start, deadline, noon(d), 0.8).unwrap();
        assert_eq!(at(date(2026, 3, 10)), Supervision::None);
        assert_eq!(at(date(2026, 3, 12)), Supervision::Yellow);
        assert_eq!(at(date(2026, 3, 17)), Supervision::Red);
        assert_eq!(
            working_days_overdue(&calendar, deadline, noon(date(2026, 3, 18))).unwrap(),
            2
        );
        assert_eq!(
            working_days_overdue(&calendar, deadline, noon(date(2026, 3, 16))).unwrap(),
            0
        );
    }
}
