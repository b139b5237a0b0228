-- Provisional due times (暂定): a rectification due in a year whose
-- working-day calendar is not loaded is counted on weekends only, flagged, and
-- counted again from its opening over `due_working_days` when the year arrives.
ALTER TABLE rectifications ADD COLUMN due_provisional BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rectifications ADD COLUMN due_working_days BIGINT NOT NULL DEFAULT 15;
CREATE INDEX rectifications_provisional ON rectifications (due_provisional);

-- The working-day calendar years loaded through routing (its
-- CalendarYearLoaded events), on top of the embedded ones; loaded again at
-- every start.
CREATE TABLE calendar_years (
    year BIGINT PRIMARY KEY,
    content TEXT NOT NULL,
    load_time BIGINT NOT NULL
);
