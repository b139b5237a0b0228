-- Equal totals share a rank (shared_rank; 0 for a unit not ranked, with its
-- reason), while rank_position stays each unit's unique place in the list.
ALTER TABLE sc_scores ADD COLUMN shared_rank BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sc_scores ADD COLUMN not_ranked_reason TEXT NOT NULL DEFAULT '';
UPDATE sc_scores SET shared_rank = rank_position;
-- What a model asks of a unit to be ranked, and of a total to stand on a board.
ALTER TABLE sc_models ADD COLUMN min_cases_to_rank BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sc_models ADD COLUMN red_board_min_total DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE sc_models ADD COLUMN black_board_below_total DOUBLE PRECISION NOT NULL DEFAULT 0;
