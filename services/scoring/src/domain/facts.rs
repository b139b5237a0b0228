//! Facts (事实): what happened to cases, reviews and policies, one row each,
//! and the counters (metrics) each fact adds to the units it concerns.
//!
//! A fact concerns its jurisdiction (a county, a district or the city) and,
//! when it names one, a department. It counts in the periods of its
//! [`PeriodSet`]. The counters of a unit and period are the sum of the
//! contributions of its facts, so the incremental and the rebuilt figures are
//! the same sums.

use std::collections::BTreeMap;

use zhengqi_shared::ids;

use super::UnitKind;
use super::period::PeriodSet;

zhengqi_shared::named_enum! {
    /// What a fact records.
    pub enum FactKind {
        /// A case was opened (`label`: channel, `label2`: category).
        CaseOpened = "CASE_OPENED",
        /// A case fell due: resolved (`flag`: by its deadline) or gone overdue
        /// (not on time). One per case: whichever happened first.
        CaseDue = "CASE_DUE",
        /// A case was resolved for the first time (`flag`: outcome SOLVED).
        CaseResolved = "CASE_RESOLVED",
        /// A case went overdue (红灯督办).
        CaseOverdue = "CASE_OVERDUE",
        /// A department handed a case back (退单).
        CaseReturned = "CASE_RETURNED",
        /// A consultation meeting (会商会) was scheduled.
        MeetingScheduled = "MEETING_SCHEDULED",
        /// A consultation meeting decided a case.
        MeetingDecision = "MEETING_DECISION",
        /// A resolved case invited its enterprise to rate the department.
        ReviewInvited = "REVIEW_INVITED",
        /// An invitation was answered with a rating (counted at the invitation's time).
        InvitationRated = "INVITATION_RATED",
        /// A review was given (`label`: the rating).
        ReviewSubmitted = "REVIEW_SUBMITTED",
        /// A bad review was verified as valid.
        BadReviewValid = "BAD_REVIEW_VALID",
        /// A valid bad review was rectified and closed after the return visit.
        RectificationClosed = "RECTIFICATION_CLOSED",
        /// A third party assessed a unit (`amount`: the score in thousandths of a point).
        Assessment = "ASSESSMENT",
        /// A comment on a draft policy was answered (`flag`: adopted in full or in part).
        CommentResponded = "COMMENT_RESPONDED",
        /// A policy version was published.
        PolicyPublished = "POLICY_PUBLISHED",
        /// A policy was fulfilled (兑现) (`amount`: fen).
        Fulfillment = "FULFILLMENT",
        /// An enterprise answered an item of a 百企评执法 campaign (`label`: the rating).
        EnforcementAnswer = "ENFORCEMENT_ANSWER",
        /// An enterprise answered an item of a 百企评营商环境 campaign (`label`: the rating).
        EnvironmentAnswer = "ENVIRONMENT_ANSWER",
        /// An enterprise rated how a policy is implemented (`label`: the
        /// rating); a rating given again takes the first one's place.
        PolicyRated = "POLICY_RATED",
    }
}

pub use zhengqi_shared::rating::Rating;

/// One fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// Unique per fact, e.g. `due:<case id>`: a replayed event finds it taken.
    pub id: String,
    pub kind: FactKind,
    /// GB/T 2260 code of the jurisdiction it concerns.
    pub jurisdiction_code: String,
    /// The department it concerns; empty when none.
    pub department_id: String,
    /// The case, review, meeting or policy behind it.
    pub subject_id: String,
    pub label: String,
    pub label2: String,
    pub flag: bool,
    pub amount: i64,
    /// When it happened, microseconds since the epoch.
    pub occur_time: i64,
    pub periods: PeriodSet,
}

/// A unit scored: a department or a jurisdiction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitKey {
    pub kind: UnitKind,
    pub id: String,
}

/// The counters every fact kind adds to, by name.
pub mod metric {
    pub const APPEALS: &str = "appeals";
    pub const DUE: &str = "due";
    pub const ON_TIME: &str = "on_time";
    pub const RESOLVED: &str = "resolved";
    pub const SOLVED: &str = "solved";
    pub const OVERDUE: &str = "overdue";
    pub const RETURNS: &str = "returns";
    pub const MEETINGS: &str = "meetings";
    pub const MEETING_CASES: &str = "meeting_cases";
    pub const INVITED: &str = "invited";
    pub const RATED_INVITATIONS: &str = "rated_invitations";
    pub const REVIEWS: &str = "reviews";
    pub const SATISFIED: &str = "satisfied";
    pub const BAD_REVIEWS: &str = "bad_reviews";
    pub const VALID_BAD_REVIEWS: &str = "valid_bad_reviews";
    pub const RECTIFIED: &str = "rectified";
    pub const ASSESSMENTS: &str = "assessments";
    /// Sum of assessment scores in thousandths of a point.
    pub const ASSESSMENT_MILLIPOINTS: &str = "assessment_millipoints";
    pub const COMMENTS_RESPONDED: &str = "comments_responded";
    pub const COMMENTS_ADOPTED: &str = "comments_adopted";
    pub const POLICIES_PUBLISHED: &str = "policies_published";
    pub const FULFILLMENTS: &str = "fulfillments";
    pub const FULFILLMENT_FEN: &str = "fulfillment_fen";
    /// Answers to 百企评执法 campaigns, and those BASIC_SATISFIED or better.
    pub const ENFORCEMENT_ANSWERS: &str = "enforcement_answers";
    pub const ENFORCEMENT_SATISFIED: &str = "enforcement_satisfied";
    /// Answers to 百企评营商环境 campaigns, and those BASIC_SATISFIED or better.
    pub const ENVIRONMENT_ANSWERS: &str = "environment_answers";
    pub const ENVIRONMENT_SATISFIED: &str = "environment_satisfied";
    /// Ratings of policies' implementation, and those BASIC_SATISFIED or better.
    pub const POLICY_RATINGS: &str = "policy_ratings";
    pub const POLICY_SATISFIED: &str = "policy_satisfied";
    /// Prefix of the per-channel appeal counts, e.g. `channel:HOTLINE_12345`.
    pub const CHANNEL: &str = "channel:";
    /// Prefix of the per-category appeal counts, e.g. `category:FINANCING`.
    pub const CATEGORY: &str = "category:";
}

/// A unit's counters for one period.
pub type Metrics = BTreeMap<String, i64>;

impl Fact {
    /// The counters this fact adds to, with how much.
    pub fn metrics(&self) -> Vec<(String, i64)> {
        use metric::*;
        let one = |name: &str| (name.to_owned(), 1);
        let flag = |name: &str, set: bool| (name.to_owned(), i64::from(set));
        match self.kind {
            FactKind::CaseOpened => vec![
                one(APPEALS),
                one(&format!("{CHANNEL}{}", self.label)),
                one(&format!("{CATEGORY}{}", self.label2)),
            ],
            FactKind::CaseDue => vec![one(DUE), flag(ON_TIME, self.flag)],
            FactKind::CaseResolved => vec![one(RESOLVED), flag(SOLVED, self.flag)],
            FactKind::CaseOverdue => vec![one(OVERDUE)],
            FactKind::CaseReturned => vec![one(RETURNS)],
            FactKind::MeetingScheduled => vec![one(MEETINGS)],
            FactKind::MeetingDecision => vec![one(MEETING_CASES)],
            FactKind::ReviewInvited => vec![one(INVITED)],
            FactKind::InvitationRated => vec![one(RATED_INVITATIONS)],
            FactKind::ReviewSubmitted => {
                let rating = Rating::parse(&self.label);
                vec![
                    one(REVIEWS),
                    flag(SATISFIED, rating.is_some_and(Rating::is_good)),
                    flag(BAD_REVIEWS, rating.is_some_and(Rating::is_bad)),
                ]
            }
            FactKind::BadReviewValid => vec![one(VALID_BAD_REVIEWS)],
            FactKind::RectificationClosed => vec![one(RECTIFIED)],
            FactKind::Assessment => vec![
                one(ASSESSMENTS),
                (ASSESSMENT_MILLIPOINTS.to_owned(), self.amount),
            ],
            FactKind::CommentResponded => {
                vec![one(COMMENTS_RESPONDED), flag(COMMENTS_ADOPTED, self.flag)]
            }
            FactKind::PolicyPublished => vec![one(POLICIES_PUBLISHED)],
            FactKind::Fulfillment => {
                vec![one(FULFILLMENTS), (FULFILLMENT_FEN.to_owned(), self.amount)]
            }
            FactKind::EnforcementAnswer => {
                vec![
                    one(ENFORCEMENT_ANSWERS),
                    flag(ENFORCEMENT_SATISFIED, self.good()),
                ]
            }
            FactKind::EnvironmentAnswer => {
                vec![
                    one(ENVIRONMENT_ANSWERS),
                    flag(ENVIRONMENT_SATISFIED, self.good()),
                ]
            }
            FactKind::PolicyRated => {
                vec![one(POLICY_RATINGS), flag(POLICY_SATISFIED, self.good())]
            }
        }
    }

    /// Whether the rating in `label` is BASIC_SATISFIED or better.
    fn good(&self) -> bool {
        Rating::parse(&self.label).is_some_and(Rating::is_good)
    }

    /// A fact of `kind` with `flag` and nothing else: to ask which counters
    /// a kind of fact can add to.
    pub fn probe(kind: FactKind, flag: bool) -> Fact {
        Fact {
            id: String::new(),
            kind,
            jurisdiction_code: String::new(),
            department_id: String::new(),
            subject_id: String::new(),
            label: String::new(),
            label2: String::new(),
            flag,
            amount: 1,
            occur_time: 0,
            periods: PeriodSet::default(),
        }
    }

    /// The units the fact counts for: its jurisdiction, and its department when
    /// it names one.
    pub fn units(&self) -> Vec<UnitKey> {
        let mut units = Vec::with_capacity(2);
        if !self.jurisdiction_code.is_empty() {
            units.push(UnitKey {
                kind: UnitKind::Jurisdiction,
                id: self.jurisdiction_code.clone(),
            });
        }
        if !self.department_id.is_empty() {
            units.push(UnitKey {
                kind: UnitKind::Department,
                id: self.department_id.clone(),
            });
        }
        units
    }
}

/// Where a department belongs: the jurisdiction prefix of its id
/// (`510821-jrj` → `510821`).
pub fn department_jurisdiction(department_id: &str) -> Option<&str> {
    ids::jurisdiction_of(department_id)
}

/// The counters of every unit in `period`, summed from `facts` one by one.
#[cfg(test)]
pub fn rebuild<'a>(
    facts: impl IntoIterator<Item = &'a Fact>,
    period: &str,
) -> BTreeMap<UnitKey, Metrics> {
    let mut units: BTreeMap<UnitKey, Metrics> = BTreeMap::new();
    for fact in facts {
        if fact.periods.iter().any(|p| p == period) {
            add_alike(&mut units, fact, 1, fact.amount);
        }
    }
    units
}

/// Adds to `units` what `count` facts alike to `fact` count — the same kind,
/// units, labels and flag — whose amounts sum to `amount` (`fact.amount` is
/// not read). A fact's counters are a constant and a multiple of its amount,
/// so facts grouped this way (the rebuild groups them in the store) count
/// exactly what they count one by one.
pub fn add_alike(units: &mut BTreeMap<UnitKey, Metrics>, fact: &Fact, count: i64, amount: i64) {
    let at = |amount: i64| Fact {
        amount,
        ..fact.clone()
    };
    let (none, one) = (at(0).metrics(), at(1).metrics());
    for unit in fact.units() {
        let metrics = units.entry(unit).or_default();
        for ((name, constant), (_, with_one)) in none.iter().zip(&one) {
            let per_amount = with_one - constant;
            let delta = constant
                .saturating_mul(count)
                .saturating_add(per_amount.saturating_mul(amount));
            let value = metrics.entry(name.clone()).or_default();
            *value = value.saturating_add(delta);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(id: &str, kind: FactKind, department: &str, flag: bool) -> Fact {
        Fact {
            id: id.into(),
            kind,
            jurisdiction_code: "510821".into(),
            department_id: department.into(),
            subject_id: id.into(),
            label: "SATISFIED".into(),
            label2: String::new(),
            flag,
            amount: 0,
            occur_time: 0,
            periods: PeriodSet::of(super::super::period::Period::Month(2026, 11)),
        }
    }

    #[test]
    fn a_fact_counts_for_its_department_and_its_jurisdiction_in_every_period() {
        let facts = [
            fact("due:a", FactKind::CaseDue, "510821-jrj", true),
            fact("due:b", FactKind::CaseDue, "510821-jrj", false),
            fact("due:c", FactKind::CaseDue, "510821-rsj", true),
        ];
        for period in ["2026", "2026-Q4", "2026-11"] {
            let units = rebuild(&facts, period);
            let jrj = &units[&UnitKey {
                kind: UnitKind::Department,
                id: "510821-jrj".into(),
            }];
            assert_eq!(jrj[metric::DUE], 2);
            assert_eq!(jrj[metric::ON_TIME], 1);
            let county = &units[&UnitKey {
                kind: UnitKind::Jurisdiction,
                id: "510821".into(),
            }];
            assert_eq!(county[metric::DUE], 3);
            assert_eq!(county[metric::ON_TIME], 2);
        }
        assert!(rebuild(&facts, "2026-10").is_empty());
    }

    #[test]
    fn ratings_split_into_satisfied_and_bad() {
        let mut review = fact("review:1", FactKind::ReviewSubmitted, "510821-jrj", false);
        review.label = "DISSATISFIED".into();
        let metrics: BTreeMap<_, _> = review.metrics().into_iter().collect();
        assert_eq!(metrics[metric::BAD_REVIEWS], 1);
        assert_eq!(metrics[metric::SATISFIED], 0);
        review.label = "BASIC_SATISFIED".into();
        let metrics: BTreeMap<_, _> = review.metrics().into_iter().collect();
        assert_eq!(metrics[metric::BAD_REVIEWS], 0);
        assert_eq!(metrics[metric::SATISFIED], 1);
    }
}
