//! Government's record of enterprises: the penalty tier of a violation
//! (首违不罚, 再犯重罚), who approves a suspension, red and black lists.

use chrono::{DateTime, Months, Utc};

use super::{CreditList, CreditListing, PenaltyDecision, Severity};

/// The penalty tier of a violation of `severity`, given the enterprise's
/// earlier violations within the repeat window (`prior`).
///
/// 行政处罚法 (2021) art. 33: a first violation with slight harm, promptly
/// corrected, may go unpunished (首违不罚); any earlier violation within the
/// window makes this one a repeat, punished heavily (再犯重罚).
pub fn decide_penalty(
    severity: Severity,
    promptly_corrected: bool,
    prior: i64,
    window_years: u32,
) -> (PenaltyDecision, String) {
    if prior > 0 {
        return (
            PenaltyDecision::HeavyRepeat,
            format!(
                "再犯重罚: {prior} earlier violation(s) within {window_years} year(s) before this one"
            ),
        );
    }
    match (severity, promptly_corrected) {
        (Severity::Minor, true) => (
            PenaltyDecision::NoPenaltyFirstMinor,
            format!(
                "首违不罚: a first minor violation within {window_years} year(s), promptly corrected"
            ),
        ),
        (Severity::Minor, false) => (
            PenaltyDecision::Standard,
            "a first minor violation not promptly corrected is punished as the law provides"
                .to_owned(),
        ),
        (Severity::General | Severity::Serious, _) => (
            PenaltyDecision::Standard,
            format!(
                "a first {} violation is punished as the law provides",
                severity.as_str().to_lowercase()
            ),
        ),
    }
}

/// The start of the repeat window of a violation at `occur` (microseconds):
/// `years` calendar years earlier.
pub fn repeat_window_start(occur: i64, years: u32) -> i64 {
    DateTime::<Utc>::from_timestamp_micros(occur)
        .and_then(|t| t.checked_sub_months(Months::new(years.saturating_mul(12))))
        .map_or(i64::MIN, |t| t.timestamp_micros())
}

/// Whether a principal is a city leader: the role leader with the city's
/// jurisdiction (the root of the directory). A suspension (责令停产停业) needs
/// the city government's approval.
pub fn may_decide_suspension(is_leader: bool, jurisdiction: Option<&str>, city: &str) -> bool {
    is_leader && jurisdiction == Some(city)
}

/// The list an enterprise is on at `now`: BLACK over RED when both are in force.
pub fn current_list(listings: &[CreditListing], now: i64) -> Option<CreditList> {
    let on = |list: CreditList| {
        listings
            .iter()
            .any(|listing| listing.list == list && listing.in_force(now))
    };
    if on(CreditList::Black) {
        Some(CreditList::Black)
    } else if on(CreditList::Red) {
        Some(CreditList::Red)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_minor_corrected_violation_goes_unpunished_and_a_repeat_is_heavy() {
        assert_eq!(
            decide_penalty(Severity::Minor, true, 0, 2).0,
            PenaltyDecision::NoPenaltyFirstMinor
        );
        assert_eq!(
            decide_penalty(Severity::Minor, false, 0, 2).0,
            PenaltyDecision::Standard
        );
        assert_eq!(
            decide_penalty(Severity::Serious, true, 0, 2).0,
            PenaltyDecision::Standard
        );
        assert_eq!(
            decide_penalty(Severity::Minor, true, 1, 2).0,
            PenaltyDecision::HeavyRepeat
        );
    }

    #[test]
    fn the_window_reaches_back_whole_years() {
        let occur = DateTime::parse_from_rfc3339("2026-11-27T00:00:00Z")
            .unwrap()
            .timestamp_micros();
        let start = DateTime::parse_from_rfc3339("2024-11-27T00:00:00Z")
            .unwrap()
            .timestamp_micros();
        assert_eq!(repeat_window_start(occur, 2), start);
    }

    #[test]
    fn only_a_city_leader_decides_suspensions() {
        assert!(may_decide_suspension(true, Some("510800"), "510800"));
        assert!(!may_decide_suspension(true, Some("510821"), "510800"));
        assert!(!may_decide_suspension(false, Some("510800"), "510800"));
    }

    #[test]
    fn black_wins_over_red_and_expired_listings_lift() {
        let listing = |list, expire| CreditListing {
            id: "x".into(),
            uscc: "u".into(),
            enterprise_name: String::new(),
            list,
            reason: "r".into(),
            expire_time: expire,
            jurisdiction_code: "510800".into(),
            listed_by: "c".into(),
            create_time: 0,
            update_time: 0,
            version: 1,
        };
        let red = listing(CreditList::Red, None);
        let black = listing(CreditList::Black, Some(10));
        assert_eq!(
            current_list(&[red.clone(), black.clone()], 5),
            Some(CreditList::Black)
        );
        assert_eq!(
            current_list(&[red, black.clone()], 10),
            Some(CreditList::Red)
        );
        assert_eq!(current_list(&[black], 11), None);
    }
}
