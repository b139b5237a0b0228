-- Facts (事实) from routing, evaluation and policy: one row each, keyed so a
-- replayed event adds nothing. p_year / p_quarter / p_month: the periods the
-- fact counts in ('' when it does not count in a quarter or month).
CREATE TABLE sc_facts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    department_id TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    label TEXT NOT NULL,
    label2 TEXT NOT NULL,
    flag BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    occur_time BIGINT NOT NULL,
    p_year TEXT NOT NULL,
    p_quarter TEXT NOT NULL,
    p_month TEXT NOT NULL
);
CREATE INDEX sc_facts_by_year ON sc_facts (p_year);
CREATE INDEX sc_facts_by_quarter ON sc_facts (p_quarter);
CREATE INDEX sc_facts_by_month ON sc_facts (p_month);

-- Each unit's counters per period, kept up to date with every fact.
CREATE TABLE sc_aggregates (
    period TEXT NOT NULL,
    unit_kind TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    group_code TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (period, unit_kind, unit_id, metric)
);
CREATE INDEX sc_aggregates_by_group ON sc_aggregates (period, unit_kind, group_code);

-- Each ranked unit's total, rank and board per period.
CREATE TABLE sc_scores (
    period TEXT NOT NULL,
    unit_kind TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    group_code TEXT NOT NULL,
    total DOUBLE PRECISION NOT NULL,
    rank_position BIGINT NOT NULL,
    ranked_units BIGINT NOT NULL,
    board TEXT NOT NULL,
    black_streak BIGINT NOT NULL,
    compute_time BIGINT NOT NULL,
    PRIMARY KEY (period, unit_kind, unit_id)
);
CREATE INDEX sc_scores_by_group ON sc_scores (period, unit_kind, group_code, rank_position);

-- Indicator models put per period.
CREATE TABLE sc_models (
    period TEXT PRIMARY KEY,
    red_board_size BIGINT NOT NULL,
    black_board_size BIGINT NOT NULL,
    interview_after_periods BIGINT NOT NULL,
    version BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE TABLE sc_model_indicators (
    period TEXT NOT NULL,
    ordinal BIGINT NOT NULL,
    indicator_key TEXT NOT NULL,
    name TEXT NOT NULL,
    weight DOUBLE PRECISION NOT NULL,
    direction TEXT NOT NULL,
    target DOUBLE PRECISION NOT NULL,
    description TEXT NOT NULL,
    unit_kinds TEXT NOT NULL,
    PRIMARY KEY (period, ordinal)
);

-- Notices and interviews; dedup_key makes each one raised once.
CREATE TABLE sc_alerts (
    id TEXT PRIMARY KEY,
    dedup_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    period TEXT NOT NULL,
    p_year TEXT NOT NULL,
    p_quarter TEXT NOT NULL,
    p_month TEXT NOT NULL,
    unit_kind TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    unit_name TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    reason TEXT NOT NULL,
    fact_ids TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    CONSTRAINT sc_alerts_dedup_key UNIQUE (dedup_key)
);
CREATE INDEX sc_alerts_by_time ON sc_alerts (create_time, id);

-- Cases as routing last told them: the overview's open cases past their deadline.
CREATE TABLE sc_cases (
    id TEXT PRIMARY KEY,
    jurisdiction_code TEXT NOT NULL,
    department_id TEXT NOT NULL,
    deadline BIGINT,
    create_time BIGINT NOT NULL,
    end_time BIGINT
);
CREATE INDEX sc_cases_by_jurisdiction ON sc_cases (jurisdiction_code, deadline);

-- Policies as policy last told them: where a comment's policy belongs.
CREATE TABLE sc_policies (
    id TEXT PRIMARY KEY,
    jurisdiction_code TEXT NOT NULL,
    department_id TEXT NOT NULL
);

-- Idempotency keys: a retry returns the first answer.
CREATE TABLE sc_requests (
    actor TEXT NOT NULL,
    request_id TEXT NOT NULL,
    method TEXT NOT NULL,
    response BLOB NOT NULL,
    create_time BIGINT NOT NULL,
    PRIMARY KEY (actor, request_id)
);
