-- One row per case (案件), opened from a non-duplicate appeal of intake.
CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL,
    appeal_id TEXT NOT NULL,
    uscc TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    level TEXT NOT NULL,
    department_id TEXT NOT NULL,
    state TEXT NOT NULL,
    category TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    enterprise_tags TEXT NOT NULL,
    contact_name TEXT NOT NULL,
    contact_phone TEXT NOT NULL,
    time_limit_days BIGINT NOT NULL,
    start_time BIGINT NOT NULL,
    deadline BIGINT,
    supervision TEXT NOT NULL,
    outcome TEXT,
    resolution TEXT NOT NULL,
    meeting_id TEXT NOT NULL,
    meeting_type TEXT,
    reject_reason TEXT NOT NULL,
    returns_count BIGINT NOT NULL,
    return_reason TEXT NOT NULL,
    reopen_count BIGINT NOT NULL,
    escalation_reason TEXT NOT NULL,
    ext_state TEXT,
    ext_working_days BIGINT NOT NULL,
    ext_reason TEXT NOT NULL,
    ext_requested_by TEXT NOT NULL,
    ext_request_time BIGINT,
    ext_decided_by TEXT NOT NULL,
    ext_decide_time BIGINT,
    ext_decision_note TEXT NOT NULL,
    info_question TEXT NOT NULL,
    info_answer TEXT NOT NULL,
    pause_time BIGINT,
    paused_state TEXT,
    butler TEXT NOT NULL,
    claimed_by TEXT NOT NULL,
    resolve_time BIGINT,
    close_time BIGINT,
    duplicate_appeal_ids TEXT NOT NULL,
    routing_rule_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    CONSTRAINT cases_appeal_id_key UNIQUE (appeal_id)
);
CREATE INDEX cases_by_time ON cases (create_time, id);
CREATE INDEX cases_by_jurisdiction ON cases (jurisdiction_code, create_time);
CREATE INDEX cases_by_enterprise ON cases (uscc, create_time);
CREATE INDEX cases_by_department ON cases (department_id, create_time);
CREATE INDEX cases_open_by_deadline ON cases (state, deadline);

-- Later appeals on the same matter, linked to the case of the first (the
-- first appeal of a case is cases.appeal_id).
CREATE TABLE case_appeals (
    appeal_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    duplicate BIGINT NOT NULL,
    create_time BIGINT NOT NULL
);

-- Idempotency keys of mutations: a retry with the same key does nothing again.
CREATE TABLE case_requests (
    actor TEXT NOT NULL,
    request_id TEXT NOT NULL,
    method TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    PRIMARY KEY (actor, request_id)
);

-- The ledger (台账): append-only, one hash chain per jurisdiction.
CREATE TABLE ledger_entries (
    jurisdiction_code TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    case_id TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    note TEXT NOT NULL,
    level TEXT NOT NULL,
    department_id TEXT NOT NULL,
    previous_hash TEXT NOT NULL,
    entry_hash TEXT NOT NULL,
    PRIMARY KEY (jurisdiction_code, sequence)
);
CREATE INDEX ledger_by_case ON ledger_entries (case_id, jurisdiction_code, sequence);

-- The head of each jurisdiction's chain; its row lock orders concurrent appends.
CREATE TABLE ledger_heads (
    jurisdiction_code TEXT PRIMARY KEY,
    last_sequence BIGINT NOT NULL,
    head_hash TEXT NOT NULL
);

-- 退单: how many cases each department handed back.
CREATE TABLE department_returns (
    department_id TEXT PRIMARY KEY,
    returns BIGINT NOT NULL
);

CREATE TABLE routing_rules (
    id TEXT PRIMARY KEY,
    jurisdiction_code TEXT NOT NULL,
    category TEXT,
    channel TEXT,
    enterprise_tag TEXT,
    kind TEXT,
    level TEXT NOT NULL,
    department_id TEXT NOT NULL,
    time_limit_days BIGINT NOT NULL,
    priority BIGINT NOT NULL,
    description TEXT NOT NULL,
    disabled BIGINT NOT NULL,
    meeting_type TEXT,
    version BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE INDEX routing_rules_by_jurisdiction ON routing_rules (jurisdiction_code, id);

-- 项目管家 / 店小二: one butler per enterprise.
CREATE TABLE butlers (
    uscc TEXT PRIMARY KEY,
    enterprise_name TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    official TEXT NOT NULL,
    official_name TEXT NOT NULL,
    official_phone TEXT NOT NULL,
    kind TEXT NOT NULL,
    version BIGINT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE INDEX butlers_by_official ON butlers (official, uscc);

-- 会商会: consultation meetings, their agendas and decisions.
CREATE TABLE meetings (
    id TEXT PRIMARY KEY,
    meeting_type TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    start_time BIGINT NOT NULL,
    chair TEXT NOT NULL,
    title TEXT NOT NULL,
    location TEXT NOT NULL,
    organizer TEXT NOT NULL,
    version BIGINT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE INDEX meetings_by_start ON meetings (start_time, id);

CREATE TABLE agenda_items (
    meeting_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    case_id TEXT NOT NULL,
    case_number TEXT NOT NULL,
    title TEXT NOT NULL,
    uscc TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    add_time BIGINT NOT NULL,
    added_by TEXT NOT NULL,
    decision_department_id TEXT,
    decision_deadline BIGINT,
    decision_text TEXT,
    decision_recorded_by TEXT,
    decision_time BIGINT,
    PRIMARY KEY (meeting_id, case_id)
);
