-- Provisional deadlines (暂定): a deadline that runs into a year whose
-- working-day calendar is not loaded is counted on weekends only, flagged, and
-- counted again from `deadline_base` over `deadline_working_days` when the
-- year is loaded.
ALTER TABLE cases ADD COLUMN deadline_provisional BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN deadline_base BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN deadline_working_days BIGINT NOT NULL DEFAULT 0;
UPDATE cases SET deadline_base = start_time, deadline_working_days = time_limit_days;
CREATE INDEX cases_provisional ON cases (deadline_provisional);

-- The years of the working-day calendar an operator loaded (PutCalendarYear),
-- on top of the embedded ones; loaded again at every start.
CREATE TABLE calendar_years (
    year BIGINT PRIMARY KEY,
    source TEXT NOT NULL,
    content TEXT NOT NULL,
    loaded_by TEXT NOT NULL,
    load_time BIGINT NOT NULL
);
