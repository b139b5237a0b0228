//! Who may give which review (好差评) and what a bad one opens.

use zhengqi_shared::error::Why;
use zhengqi_shared::reference::{Calendar, CalendarError};

use super::{Direction, Rating, TargetKind, beijing_date, end_of_day};

/// What the caller is, as far as reviewing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reviewer {
    pub is_enterprise: bool,
    pub is_evaluator: bool,
    /// Department staff or a business-environment office.
    pub is_official: bool,
}

/// The direction of a review of `target`, derived from the reviewer's roles;
/// an error says why the caller may not rate that kind of target.
pub fn direction(reviewer: Reviewer, target: TargetKind) -> Result<Direction, Why> {
    match target {
        TargetKind::Department if reviewer.is_enterprise => Ok(Direction::EnterpriseToDepartment),
        TargetKind::ServiceWindow if reviewer.is_enterprise => Ok(Direction::EnterpriseToWindow),
        TargetKind::Jurisdiction if reviewer.is_evaluator => {
            Ok(Direction::ThirdPartyToCommunication)
        }
        TargetKind::Enterprise if reviewer.is_official => Ok(Direction::GovernmentToEnterprise),
        TargetKind::Department | TargetKind::ServiceWindow => Err(Why::new(
            "only an enterprise rates departments and service windows",
            "只有企业可以评价部门和服务窗口",
        )),
        TargetKind::Jurisdiction => Err(Why::new(
            "only a third-party evaluator rates a jurisdiction's communication",
            "只有第三方评估机构可以评价县区的政企沟通",
        )),
        TargetKind::Enterprise => Err(Why::new(
            "only department staff or a coordinator rate an enterprise",
            "只有部门工作人员或营商办协调员可以评价企业",
        )),
    }
}

/// Whether the direction rates a case's department: the one kind of review
/// that needs a resolved case, once per case.
pub fn needs_case(direction: Direction) -> bool {
    direction == Direction::EnterpriseToDepartment
}

/// Whether a review of `rating` in `direction` opens a rectification: a bad
/// review (差评) of government by an enterprise (国办发〔2019〕51号).
pub fn opens_rectification(direction: Direction, rating: Rating) -> bool {
    rating.is_bad()
        && matches!(
            direction,
            Direction::EnterpriseToDepartment | Direction::EnterpriseToWindow
        )
}

/// 好差评: a bad review must be rectified within `working_days` working days
/// (15 in Sichuan practice), counted from the Beijing date of the review and
/// ending at the close of the last one.
pub fn rectification_due(
    calendar: &Calendar,
    reviewed: i64,
    working_days: u32,
) -> Result<i64, CalendarError> {
    let due = calendar.add_working_days(beijing_date(reviewed), working_days)?;
    Ok(end_of_day(due))
}

/// [`rectification_due`] that never fails: a year whose calendar is not
/// loaded counts on weekends only, and the second value says so (暂定).
pub fn rectification_due_provisional(
    calendar: &Calendar,
    reviewed: i64,
    working_days: u32,
) -> (i64, bool) {
    let due = calendar.add_working_days_provisional(beijing_date(reviewed), working_days);
    (end_of_day(due.value), due.provisional)
}

/// Counts a provisional due time of an open rectification again on
/// `calendar`; the due time before when it changed.
pub fn recount_due(
    rectification: &mut super::Rectification,
    calendar: &Calendar,
) -> Option<Option<i64>> {
    if !rectification.state.is_open() || !rectification.due_provisional {
        return None;
    }
    let (due, provisional) = rectification_due_provisional(
        calendar,
        rectification.create_time,
        rectification.due_working_days,
    );
    if rectification.due_time == Some(due) && !provisional {
        rectification.due_provisional = false;
        return Some(rectification.due_time);
    }
    if rectification.due_time == Some(due) {
        return None;
    }
    let before = rectification.due_time;
    rectification.due_time = Some(due);
    rectification.due_provisional = provisional;
    Some(before)
}

/// The department a service window belongs to: a window id is
/// `<department id>-<window>`, e.g. `510821-xzsp-03`.
pub fn window_department(window_id: &str) -> Option<String> {
    let mut parts = window_id.splitn(3, '-');
    let jurisdiction = parts.next()?;
    let department = parts.next()?;
    let window = parts.next()?;
    (!department.is_empty() && !window.is_empty()).then(|| format!("{jurisdiction}-{department}"))
}

/// Whether `id` reads as a department id, `<jurisdiction>-<key>`: the
/// jurisdiction's six digits and a key of lowercase letters, digits or `_`.
pub fn department_jurisdiction(id: &str) -> Option<&str> {
    let (jurisdiction, key) = id.split_once('-')?;
    let ok = jurisdiction.len() == 6
        && jurisdiction.bytes().all(|b| b.is_ascii_digit())
        && !key.is_empty()
        && key.len() <= 32
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    ok.then_some(jurisdiction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    const ENTERPRISE: Reviewer = Reviewer {
        is_enterprise: true,
        is_evaluator: false,
        is_official: false,
    };

    #[test]
    fn the_direction_follows_the_reviewer_and_the_target() {
        assert_eq!(
            direction(ENTERPRISE, TargetKind::Department),
            Ok(Direction::EnterpriseToDepartment)
        );
        assert_eq!(
            direction(ENTERPRISE, TargetKind::ServiceWindow),
            Ok(Direction::EnterpriseToWindow)
        );
        assert!(direction(ENTERPRISE, TargetKind::Enterprise).is_err());
        let official = Reviewer {
            is_enterprise: false,
            is_evaluator: false,
            is_official: true,
        };
        assert_eq!(
            direction(official, TargetKind::Enterprise),
            Ok(Direction::GovernmentToEnterprise)
        );
        assert!(direction(official, TargetKind::Department).is_err());
    }

    #[test]
    fn only_bad_reviews_of_government_open_a_rectification() {
        assert!(opens_rectification(
            Direction::EnterpriseToDepartment,
            Rating::Dissatisfied
        ));
        assert!(opens_rectification(
            Direction::EnterpriseToWindow,
            Rating::VeryDissatisfied
        ));
        assert!(!opens_rectification(
            Direction::EnterpriseToDepartment,
            Rating::BasicSatisfied
        ));
        assert!(!opens_rectification(
            Direction::GovernmentToEnterprise,
            Rating::VeryDissatisfied
        ));
    }

    #[test]
    fn a_rectification_is_due_fifteen_working_days_later() {
        // Friday 2026-09-18: the National Day holidays and the working
        // Saturday 2026-10-10 lie within the fifteen working days.
        let reviewed = end_of_day(NaiveDate::from_ymd_opt(2026, 9, 18).unwrap()) - 3_600_000_000;
        let due = rectification_due(&Calendar::official(), reviewed, 15).unwrap();
        assert_eq!(
            beijing_date(due),
            Calendar::official()
                .add_working_days(NaiveDate::from_ymd_opt(2026, 9, 18).unwrap(), 15)
                .unwrap()
        );
        assert!(beijing_date(due) > NaiveDate::from_ymd_opt(2026, 10, 10).unwrap());
    }

    #[test]
    fn a_rectification_due_in_a_year_not_loaded_is_provisional_and_recounted() {
        let official = Calendar::official();
        let reviewed = end_of_day(NaiveDate::from_ymd_opt(2026, 12, 28).unwrap()) - 3_600_000_000;
        let (due, provisional) = rectification_due_provisional(&official, reviewed, 15);
        assert!(provisional);
        assert_eq!(
            beijing_date(due),
            NaiveDate::from_ymd_opt(2027, 1, 18).unwrap()
        );
        let mut r = crate::domain::Rectification {
            due_time: Some(due),
            due_provisional: true,
            due_working_days: 15,
            create_time: reviewed,
            ..crate::domain::rectification::tests::opened()
        };
        // A made-up 2027 for the test: 01-01 off.
        let loaded = official
            .with_year_toml("year = 2027\n[[holiday]]\nname = \"元旦\"\nfirst = 2027-01-01\nlast = 2027-01-01\n")
            .unwrap();
        assert_eq!(recount_due(&mut r, &loaded), Some(Some(due)));
        assert_eq!(
            beijing_date(r.due_time.unwrap()),
            NaiveDate::from_ymd_opt(2027, 1, 19).unwrap()
        );
        assert!(!r.due_provisional);
        assert_eq!(recount_due(&mut r, &loaded), None, "exact now");
    }

    #[test]
    fn windows_belong_to_departments() {
        assert_eq!(
            window_department("510821-xzsp-03").as_deref(),
            Some("510821-xzsp")
        );
        assert_eq!(window_department("510821-xzsp"), None);
        assert_eq!(department_jurisdiction("510821-jrj"), Some("510821"));
        assert_eq!(department_jurisdiction("510821"), None);
        assert_eq!(department_jurisdiction("51082-jrj"), None);
    }
}
