//! The handling of a bad review (差评整改): 核实 (verify) → 整改 (rectify) →
//! 回访 (visit again), every bad review visited again (100% 回访).

use zhengqi_shared::error::Why;

use super::{CaseReopen, Rectification, RectificationState};

/// What an actor does to a rectification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// 核实: the complaint holds or not.
    Verify { valid: bool, note: String },
    /// 整改: what the department did.
    Rectify { text: String },
    /// 回访: whether the enterprise is now satisfied.
    ReturnVisit { satisfied: bool, note: String },
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Verify { .. } => "verifying",
            Step::Rectify { .. } => "submitting a rectification",
            Step::ReturnVisit { .. } => "recording a return visit",
        }
    }

    /// What the step is called in Chinese.
    fn zh(&self) -> &'static str {
        match self {
            Step::Verify { .. } => "核实",
            Step::Rectify { .. } => "提交整改情况",
            Step::ReturnVisit { .. } => "回访",
        }
    }

    fn needs_state(&self) -> RectificationState {
        match self {
            Step::Verify { .. } => RectificationState::Verifying,
            Step::Rectify { .. } => RectificationState::Rectifying,
            Step::ReturnVisit { .. } => RectificationState::AwaitingReturnVisit,
        }
    }
}

/// Applies `step` by `actor` at `now`; an error (a wrong state) says why not.
pub fn apply(
    rectification: &mut Rectification,
    step: Step,
    actor: &str,
    now: i64,
) -> Result<(), Why> {
    if rectification.state != step.needs_state() {
        return Err(Why::new(
            format!(
                "{} needs a rectification in {}; {} is {}",
                step.name(),
                step.needs_state(),
                rectification.id,
                rectification.state
            ),
            format!(
                "该差评整改当前为“{}”，不能{}（须为“{}”）",
                rectification.state.zh(),
                step.zh(),
                step.needs_state().zh()
            ),
        ));
    }
    match step {
        Step::Verify { valid, note } => {
            rectification.valid = valid;
            rectification.verification_note = note;
            rectification.verified_by = actor.to_owned();
            rectification.verify_time = Some(now);
            rectification.state = if valid {
                RectificationState::Rectifying
            } else {
                RectificationState::Unfounded
            };
            // A valid bad review about a case reopens the case (API.md).
            if valid && !rectification.case_id.is_empty() {
                rectification.case_reopen = Some(CaseReopen::Pending);
            }
        }
        Step::Rectify { text } => {
            rectification.rectification_text = text;
            rectification.rectified_by = actor.to_owned();
            rectification.rectify_time = Some(now);
            rectification.state = RectificationState::AwaitingReturnVisit;
        }
        Step::ReturnVisit { satisfied, note } => {
            rectification.return_visit_satisfied = satisfied;
            rectification.return_visit_note = note;
            rectification.visited_by = actor.to_owned();
            rectification.visit_time = Some(now);
            rectification.return_visit_count += 1;
            rectification.state = if satisfied {
                RectificationState::Closed
            } else {
                RectificationState::Rectifying
            };
        }
    }
    rectification.version += 1;
    rectification.update_time = now;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::Rating;

    pub(crate) fn opened() -> Rectification {
        Rectification {
            id: "510821-R".into(),
            review_id: "510821-V".into(),
            case_id: String::new(),
            jurisdiction_code: "510821".into(),
            department_id: "510821-jrj".into(),
            uscc: "91350200776049653A".into(),
            state: RectificationState::Verifying,
            rating: Rating::Dissatisfied,
            review_comment: "慢".into(),
            due_time: Some(100),
            due_provisional: false,
            due_working_days: 15,
            valid: false,
            verification_note: String::new(),
            verified_by: String::new(),
            verify_time: None,
            rectification_text: String::new(),
            rectified_by: String::new(),
            rectify_time: None,
            return_visit_satisfied: false,
            return_visit_note: String::new(),
            visited_by: String::new(),
            visit_time: None,
            return_visit_count: 0,
            case_reopen: None,
            case_reopen_note: String::new(),
            version: 1,
            create_time: 0,
            update_time: 0,
        }
    }

    #[test]
    fn verify_rectify_and_visit_again_close_it() {
        let mut r = opened();
        apply(
            &mut r,
            Step::Verify {
                valid: true,
                note: "属实".into(),
            },
            "c",
            1,
        )
        .unwrap();
        assert_eq!(r.state, RectificationState::Rectifying);
        apply(
            &mut r,
            Step::Rectify {
                text: "已整改".into(),
            },
            "h",
            2,
        )
        .unwrap();
        assert_eq!(r.state, RectificationState::AwaitingReturnVisit);
        apply(
            &mut r,
            Step::ReturnVisit {
                satisfied: false,
                note: "仍不满意".into(),
            },
            "c",
            3,
        )
        .unwrap();
        assert_eq!(r.state, RectificationState::Rectifying);
        apply(
            &mut r,
            Step::Rectify {
                text: "再整改".into(),
            },
            "h",
            4,
        )
        .unwrap();
        apply(
            &mut r,
            Step::ReturnVisit {
                satisfied: true,
                note: "满意".into(),
            },
            "c",
            5,
        )
        .unwrap();
        assert_eq!(r.state, RectificationState::Closed);
        assert_eq!(r.return_visit_count, 2);
        assert_eq!(r.version, 6);
        assert!(!r.is_overdue(1_000));
    }

    #[test]
    fn a_valid_bad_review_about_a_case_asks_for_the_case_to_be_reopened() {
        let mut r = opened();
        r.case_id = "510821-CASE".into();
        let mut unfounded = r.clone();
        apply(
            &mut r,
            Step::Verify {
                valid: true,
                note: String::new(),
            },
            "c",
            1,
        )
        .unwrap();
        assert_eq!(r.case_reopen, Some(CaseReopen::Pending));
        apply(
            &mut unfounded,
            Step::Verify {
                valid: false,
                note: String::new(),
            },
            "c",
            1,
        )
        .unwrap();
        assert_eq!(unfounded.case_reopen, None);
    }

    #[test]
    fn an_unfounded_review_closes_and_takes_no_rectification() {
        let mut r = opened();
        assert!(r.is_overdue(101));
        apply(
            &mut r,
            Step::Verify {
                valid: false,
                note: "不属实".into(),
            },
            "c",
            1,
        )
        .unwrap();
        assert_eq!(r.state, RectificationState::Unfounded);
        assert!(apply(&mut r, Step::Rectify { text: "x".into() }, "h", 2).is_err());
        assert!(!r.is_overdue(101));
    }
}
