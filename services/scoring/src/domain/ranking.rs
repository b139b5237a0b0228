//! Rankings (排名) with red and black boards (红黑榜), and the black-board
//! streak that calls a unit's principal leader in (约谈).

use super::Board;
use super::model::Model;

/// One unit's place in its ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub unit_id: String,
    pub total: f64,
    /// From 1.
    pub rank: i32,
    pub board: Board,
    /// Consecutive periods on the black board, this one included.
    pub black_board_streak: i32,
}

/// Totals compared to a millionth of a point, so sums taken in another order
/// rank the same.
fn key(total: f64) -> i64 {
    (total * 1e6).round() as i64
}

/// Ranks `units` (id, total) best first (ties by unit id), marks the boards by
/// `model`, and carries the black-board streak on from `previous_streak` (the
/// unit's streak in the previous period of the same length).
pub fn rank(
    model: &Model,
    mut units: Vec<(String, f64)>,
    previous_streak: impl Fn(&str) -> i32,
) -> Vec<Ranked> {
    units.sort_by(|(a_id, a), (b_id, b)| key(*b).cmp(&key(*a)).then_with(|| a_id.cmp(b_id)));
    let n = units.len();
    let (red, black) = model.board_sizes(n);
    units
        .into_iter()
        .enumerate()
        .map(|(position, (unit_id, total))| {
            let board = if position < red {
                Board::Red
            } else if position >= n - black {
                Board::Black
            } else {
                Board::None
            };
            let black_board_streak = match board {
                Board::Black => previous_streak(&unit_id).saturating_add(1),
                Board::None | Board::Red => 0,
            };
            Ranked {
                rank: i32::try_from(position + 1).unwrap_or(i32::MAX),
                unit_id,
                total,
                board,
                black_board_streak,
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

    #[test]
    fn units_rank_best_first_with_boards_and_streaks() {
        let model = Model::default_model();
        let ranked = rank(
            &model,
            vec![
                ("b".into(), 80.0),
                ("a".into(), 95.0),
                ("c".into(), 60.0),
                ("d".into(), 80.0),
            ],
            |id| if id == "c" { 1 } else { 0 },
        );
        let order: Vec<_> = ranked
            .iter()
            .map(|r| (r.unit_id.as_str(), r.rank, r.board))
            .collect();
        assert_eq!(
            order,
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
        let ranked = rank(&Model::default_model(), vec![("a".into(), 10.0)], |_| 5);
        assert_eq!(ranked[0].board, Board::None);
        assert_eq!(ranked[0].black_board_streak, 0);
    }
}
