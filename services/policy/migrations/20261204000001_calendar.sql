-- The working-day calendar years loaded through routing (its
-- CalendarYearLoaded events), on top of the embedded ones; loaded again at
-- every start.
CREATE TABLE calendar_years (
    year BIGINT PRIMARY KEY,
    content TEXT NOT NULL,
    load_time BIGINT NOT NULL
);
