//! Properties of the scoring rules over random fact histories, not examples
//! alone: a bad fact never raises a unit's score and a good one never lowers
//! it; the order units arrive in changes no rank or board; units with equal
//! totals are never split between a board and no board.

use proptest::prelude::*;

use super::facts::{Metrics, metric};
use super::model::{self, Model};
use super::ranking::{self, Candidate};
use super::{Board, UnitKind};

/// What one fact adds to a unit's counters.
#[derive(Debug, Clone, Copy)]
enum Fact {
    // Good.
    OnTimeSolved,
    SatisfiedReview,
    Rectified,
    CommentAdopted,
    // Bad.
    Overdue,
    LateUnsolved,
    BadReview,
    ValidBadReviewLeft,
    Return,
    CommentRejected,
    // Neither: what a unit is given to do.
    CaseReceived,
    PolicyPublished,
}

impl Fact {
    const GOOD: [Fact; 4] = [
        Fact::OnTimeSolved,
        Fact::SatisfiedReview,
        Fact::Rectified,
        Fact::CommentAdopted,
    ];
    const BAD: [Fact; 6] = [
        Fact::Overdue,
        Fact::LateUnsolved,
        Fact::BadReview,
        Fact::ValidBadReviewLeft,
        Fact::Return,
        Fact::CommentRejected,
    ];

    fn counters(self) -> &'static [&'static str] {
        use metric::*;
        match self {
            Fact::OnTimeSolved => &[DUE, ON_TIME, RESOLVED, SOLVED],
            Fact::SatisfiedReview => &[REVIEWS, SATISFIED],
            // A valid bad review's rectification closed on the return visit.
            Fact::Rectified => &[RECTIFIED],
            Fact::CommentAdopted => &[COMMENTS_RESPONDED, COMMENTS_ADOPTED],
            Fact::Overdue => &[DUE, OVERDUE],
            // Past its deadline (red, 超期) before it was resolved, unsolved.
            Fact::LateUnsolved => &[DUE, OVERDUE, RESOLVED],
            Fact::BadReview => &[REVIEWS, BAD_REVIEWS],
            Fact::ValidBadReviewLeft => &[VALID_BAD_REVIEWS],
            Fact::Return => &[RETURNS],
            Fact::CommentRejected => &[COMMENTS_RESPONDED],
            Fact::CaseReceived => &[APPEALS],
            Fact::PolicyPublished => &[POLICIES_PUBLISHED],
        }
    }
}

fn add(metrics: &mut Metrics, fact: Fact) {
    for name in fact.counters() {
        *metrics.entry((*name).to_owned()).or_default() += 1;
    }
}

fn history(facts: &[Fact]) -> Metrics {
    let mut metrics = Metrics::new();
    for fact in facts {
        let open = |m: &Metrics, name: &str| m.get(name).copied().unwrap_or(0);
        // A rectification needs a valid bad review left to rectify.
        if matches!(fact, Fact::Rectified)
            && open(&metrics, metric::RECTIFIED) >= open(&metrics, metric::VALID_BAD_REVIEWS)
        {
            continue;
        }
        add(&mut metrics, *fact);
    }
    metrics
}

fn any_fact() -> impl Strategy<Value = Fact> {
    prop_oneof![
        proptest::sample::select(Fact::GOOD.to_vec()),
        proptest::sample::select(Fact::BAD.to_vec()),
        Just(Fact::CaseReceived),
        Just(Fact::PolicyPublished),
    ]
}

/// The shipped model with other targets: the rules hold for any model the
/// checks admit.
fn any_model() -> impl Strategy<Value = Model> {
    proptest::collection::vec(0.0..1.0f64, model::CATALOGUE.len()).prop_map(|draws| {
        let mut model = Model::default_model();
        for (indicator, draw) in model.indicators.iter_mut().zip(draws) {
            let bound = match model::known(&indicator.key).map(|k| k.measure) {
                Some(model::Measure::Count(_)) => 5.0,
                Some(model::Measure::Average(..)) => 100.0,
                _ => 1.0,
            };
            indicator.target = (draw * bound * 100.0).round() / 100.0;
            if indicator.direction == model::Direction::HigherIsBetter {
                // A model may not set 0 here (full points whatever the value).
                indicator.target = indicator.target.max(0.01);
            } else if !matches!(
                model::known(&indicator.key).map(|k| k.measure),
                Some(model::Measure::Count(_))
            ) {
                // Nor the bound of a lower-is-better rate or average.
                indicator.target = indicator.target.min(bound - 0.01);
            }
        }
        assert!(model.problems().is_empty(), "{:?}", model.problems());
        model
    })
}

fn total(model: &Model, kind: UnitKind, metrics: &Metrics) -> Option<f64> {
    let score = model::score(model, kind, metrics);
    score.measured().then_some(score.total)
}

proptest! {
    #[test]
    fn a_bad_fact_never_raises_a_score_and_a_good_one_never_lowers_it(
        model in any_model(),
        facts in proptest::collection::vec(any_fact(), 0..40),
        bad in proptest::sample::select(Fact::BAD.to_vec()),
        good in proptest::sample::select(Fact::GOOD.to_vec()),
        jurisdiction in any::<bool>(),
    ) {
        let kind = if jurisdiction { UnitKind::Jurisdiction } else { UnitKind::Department };
        let before = history(&facts);
        let Some(score) = total(&model, kind, &before) else {
            // Nothing measured yet: no score to raise or lower.
            return Ok(());
        };
        let mut worse = before.clone();
        add(&mut worse, bad);
        let after = total(&model, kind, &worse).expect("still measured");
        prop_assert!(after <= score + 1e-9, "{bad:?} raised {score} to {after}");
        // Only a valid bad review not yet rectified can be rectified.
        let get = |name: &str| before.get(name).copied().unwrap_or(0);
        if matches!(good, Fact::Rectified) && get(metric::RECTIFIED) >= get(metric::VALID_BAD_REVIEWS) {
            return Ok(());
        }
        let mut better = before;
        add(&mut better, good);
        let after = total(&model, kind, &better).expect("still measured");
        prop_assert!(after >= score - 1e-9, "{good:?} lowered {score} to {after}");
    }

    #[test]
    fn facts_in_any_order_make_the_same_score(
        facts in proptest::collection::vec(
            any_fact().prop_filter("a rectification follows its review", |f| !matches!(f, Fact::Rectified)),
            0..40,
        ),
        seed in any::<u64>(),
    ) {
        let mut shuffled = facts.clone();
        // A Fisher–Yates shuffle by the drawn seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let model = Model::default_model();
        prop_assert_eq!(
            model::score(&model, UnitKind::Department, &history(&facts)),
            model::score(&model, UnitKind::Department, &history(&shuffled))
        );
    }

    #[test]
    fn boards_never_split_equal_totals_nor_hold_full_marks_and_order_changes_nothing(
        units in proptest::collection::vec((0..6u8, 0..5i64), 1..30),
        red in 0..6i32,
        black in 0..6i32,
        min_cases in 0..3i32,
    ) {
        let model = Model {
            red_board_size: red,
            black_board_size: black,
            min_cases_to_rank: min_cases,
            ..Model::default_model()
        };
        // Few distinct totals, so many ties; one of them full marks.
        let candidates: Vec<Candidate> = units
            .iter()
            .enumerate()
            .map(|(i, (total, cases))| Candidate {
                unit_id: format!("u{i:02}"),
                total: [100.0, 90.0, 90.0, 75.5, 60.0, 0.0][usize::from(*total)],
                cases: *cases,
                measured: *cases > 0 || *total > 0,
            })
            .collect();
        let ranked = ranking::rank(&model, candidates.clone(), |_| 0);
        for a in &ranked {
            prop_assert!(a.board != Board::Black || a.total < 100.0);
            prop_assert_eq!(a.rank == 0, !a.not_ranked_reason.is_empty());
            for b in &ranked {
                if a.rank > 0 && b.rank > 0 && a.total == b.total {
                    prop_assert_eq!(a.board, b.board, "{:?} and {:?}", a, b);
                    prop_assert_eq!(a.rank, b.rank);
                }
                if a.rank > 0 && b.rank > 0 && a.total > b.total {
                    prop_assert!(a.rank < b.rank);
                }
            }
        }
        let mut reversed = candidates;
        reversed.reverse();
        let again = ranking::rank(&model, reversed, |_| 0);
        prop_assert_eq!(ranked, again);
    }
}
