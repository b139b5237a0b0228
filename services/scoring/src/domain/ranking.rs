//! Rankings (排名) with red and black boards (红黑榜), and the black-board
//! streak that calls a unit's principal leader in (约谈).

use super::Board;
use super::model::{Model, TOTAL_POINTS};

/// One unit's place in its ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub unit_id: String,
    pub total: f64,
    /// Its place in the list, from 1: the ranked best first, then the
    /// units not ranked. Unique; pages follow it.
    pub position: i32,
    /// From 1, shared by equal totals (1, 2, 2, 4); 0 when not ranked.
    pub rank: i32,
    pub board: Board,
    /// Consecutive periods on the black board, this one included.
    pub black_board_streak: i32,
    /// Why it is not ranked, in words; empty when it is.
    pub not_ranked_reason: String,
}

/// A unit to rank: its total and the cases it was measured on.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub unit_id: String,
    pub total: f64,
    /// Cases due in the period.
    pub cases: i64,
    /// Whether any indicator had something to measure.
    pub measured: bool,
}

impl Candidate {
    pub fn of(unit_id: String, score: &super::model::Score) -> Candidate {
        Candidate {
            unit_id,
            total: score.total,
            cases: score.cases,
            measured: score.measured(),
        }
    }
}

/// Totals compared to a millionth of a point, so sums taken in another order
/// rank the same.
fn key(total: f64) -> i64 {
    (total * 1e6).round() as i64
}

/// Why `unit` is not ranked under `model`, if it is not.
fn not_ranked(model: &Model, unit: &Candidate) -> Option<String> {
    if !unit.measured {
        return Some("本期没有可考核的事项（nothing to measure in the period）".to_owned());
    }
    let needed = i64::from(model.min_cases_to_rank);
    (unit.cases < needed).then(|| {
        format!(
            "案件过少：本期到期 {} 件，参与排名至少需 {needed} 件（too few cases: {} due in the period, {needed} needed to be ranked）",
            unit.cases, unit.cases
        )
    })
}

/// Ranks `units` best first, equal totals sharing a rank, after the units
/// with too few cases or nothing measured (listed, not ranked); marks the
/// boards by `model` among the ranked units — by position and by total,
/// never a unit on a board while its equal is off it, never a unit at full
/// marks on the black board — and carries the black-board streak on from
/// `previous_streak` (the unit's streak in the previous period of the same
/// length).
pub fn rank(
    model: &Model,
    units: Vec<Candidate>,
    previous_streak: impl Fn(&str) -> i32,
) -> Vec<Ranked> {
    let (mut ranked, mut unranked): (Vec<_>, Vec<_>) = units
        .into_iter()
        .map(|unit| (not_ranked(model, &unit), unit))
        .partition(|(reason, _)| reason.is_none());
    ranked.sort_by(|(_, a), (_, b)| {
        key(b.total)
            .cmp(&key(a.total))
            .then_with(|| a.unit_id.cmp(&b.unit_id))
    });
    unranked.sort_by(|(_, a), (_, b)| a.unit_id.cmp(&b.unit_id));
    let n = ranked.len();
    // Each unit's competition rank (1 + the units strictly ahead) and the
    // last place its equals reach, from the sorted totals in one pass.
    let keys: Vec<i64> = ranked.iter().map(|(_, u)| key(u.total)).collect();
    let mut ranks = vec![0; n];
    let mut last_of_tie = vec![0; n];
    let mut start = 0;
    while start < n {
        let end = start
            + keys[start..]
                .iter()
                .take_while(|k| **k == keys[start])
                .count();
        ranks[start..end].fill(start + 1);
        last_of_tie[start..end].fill(end);
        start = end;
    }
    let (red, black) = model.board_sizes(n);
    let red_min = key(model.red_board_min_total);
    let black_below = match model.black_board_below_total {
        t if t <= 0.0 || t > TOTAL_POINTS => key(TOTAL_POINTS),
        t => key(t),
    };
    let board = |i: usize| {
        let rank = ranks[i];
        // The unit and all its equals fall within the top `red`.
        if last_of_tie[i] <= red && keys[i] >= red_min {
            Board::Red
        // … within the bottom `black`: none of them is ahead of n − black.
        } else if rank > n - black && keys[i] < black_below {
            Board::Black
        } else {
            Board::None
        }
    };
    let boards: Vec<Board> = (0..n).map(board).collect();
    ranked
        .into_iter()
        .enumerate()
        .map(|(i, (_, unit))| (unit, ranks[i], boards[i], String::new()))
        .chain(
            unranked
                .into_iter()
                .map(|(reason, unit)| (unit, 0, Board::None, reason.unwrap_or_default())),
        )
        .enumerate()
        .map(|(position, (unit, rank, board, not_ranked_reason))| {
            let black_board_streak = match board {
                Board::Black => previous_streak(&unit.unit_id).saturating_add(1),
                Board::None | Board::Red => 0,
            };
            Ranked {
                position: i32::try_from(position + 1).unwrap_or(i32::MAX),
                rank: i32::try_from(rank).unwrap_or(i32::MAX),
                unit_id: unit.unit_id,
                total: unit.total,
                board,
                black_board_streak,
                not_ranked_reason,
            }
        })
        .collect()
}

/// Whether a unit's streak calls its leader in under `model`.
pub fn calls_for_interview(model: &Model, ranked: &Ranked) -> bool {
    ranked.board == Board::Black && ranked.black_board_streak >= model.interview_after_periods
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str, total: f64) -> Candidate {
        Candidate {
            unit_id: id.into(),
            total,
            cases: 10,
            measured: true,
        }
    }

    fn places(ranked: &[Ranked]) -> Vec<(&str, i32, Board)> {
        ranked
            .iter()
            .map(|r| (r.unit_id.as_str(), r.rank, r.board))
            .collect()
    }

    #[test]
    fn units_rank_best_first_with_boards_and_streaks() {
        let model = Model::default_model();
        let ranked = rank(
            &model,
            vec![
                unit("b", 80.0),
                unit("a", 95.0),
                unit("c", 60.0),
                unit("d", 70.0),
            ],
            |id| if id == "c" { 1 } else { 0 },
        );
        assert_eq!(
            places(&ranked),
            [
                ("a", 1, Board::Red),
                ("b", 2, Board::None),
                ("d", 3, Board::None),
                ("c", 4, Board::Black)
            ]
        );
        assert_eq!(ranked[3].black_board_streak, 2);
        assert!(calls_for_interview(&model, &ranked[3]));
        assert!(!calls_for_interview(&model, &ranked[0]));
    }

    #[test]
    fn a_single_unit_is_on_no_board() {
        let ranked = rank(&Model::default_model(), vec![unit("a", 10.0)], |_| 5);
        assert_eq!(ranked[0].board, Board::None);
        assert_eq!(ranked[0].black_board_streak, 0);
    }

    #[test]
    fn equal_totals_share_a_rank_and_a_board_takes_all_of_them_or_none() {
        let model = Model {
            red_board_size: 2,
            black_board_size: 2,
            ..Model::default_model()
        };
        // 1, 2, 2, 4, 5, 5: the tie at 2–3 straddles the red board's edge and
        // stays off it; the tie at the bottom fits the black board whole.
        let ranked = rank(
            &model,
            vec![
                unit("a", 95.0),
                unit("b", 90.0),
                unit("c", 90.0),
                unit("d", 80.0),
                unit("e", 60.0),
                unit("f", 60.0),
            ],
            |_| 0,
        );
        assert_eq!(
            places(&ranked),
            [
                ("a", 1, Board::Red),
                ("b", 2, Board::None),
                ("c", 2, Board::None),
                ("d", 4, Board::None),
                ("e", 5, Board::Black),
                ("f", 5, Board::Black),
            ]
        );
        let positions: Vec<i32> = ranked.iter().map(|r| r.position).collect();
        assert_eq!(positions, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn all_at_full_marks_share_first_place_and_no_board() {
        let units = (0..11)
            .map(|i| unit(&format!("510821-{i:02}"), 100.0))
            .collect();
        let ranked = rank(&Model::default_model(), units, |_| 1);
        assert!(ranked.iter().all(|r| r.rank == 1 && r.board == Board::None));
        assert!(ranked.iter().all(|r| r.black_board_streak == 0));
    }

    #[test]
    fn full_marks_never_stand_on_the_black_board_and_thresholds_hold() {
        let model = Model {
            red_board_min_total: 90.0,
            black_board_below_total: 60.0,
            ..Model::default_model()
        };
        let ranked = rank(&model, vec![unit("a", 100.0), unit("b", 99.5)], |_| 0);
        assert_eq!(
            places(&ranked),
            [("a", 1, Board::Red), ("b", 2, Board::None)]
        );
        let ranked = rank(&model, vec![unit("a", 85.0), unit("b", 59.0)], |_| 0);
        assert_eq!(
            places(&ranked),
            [("a", 1, Board::None), ("b", 2, Board::Black)],
            "below the red board's least total; below the black board's line"
        );
    }

    #[test]
    fn units_with_too_few_cases_or_nothing_measured_are_listed_not_ranked() {
        let model = Model {
            min_cases_to_rank: 3,
            ..Model::default_model()
        };
        let idle = Candidate {
            unit_id: "idle".into(),
            total: 0.0,
            cases: 0,
            measured: false,
        };
        let few = Candidate {
            cases: 2,
            ..unit("few", 100.0)
        };
        let ranked = rank(
            &model,
            vec![idle, few, unit("busy", 70.0), unit("busier", 80.0)],
            |_| 0,
        );
        assert_eq!(
            places(&ranked),
            [
                ("busier", 1, Board::Red),
                ("busy", 2, Board::Black),
                ("few", 0, Board::None),
                ("idle", 0, Board::None),
            ]
        );
        assert!(
            ranked[2].not_ranked_reason.contains("too few cases: 2"),
            "{:?}",
            ranked[2]
        );
        assert!(ranked[3].not_ranked_reason.contains("nothing to measure"));
        assert_eq!(ranked[3].position, 4);
    }
}
