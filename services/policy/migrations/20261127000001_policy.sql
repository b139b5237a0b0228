-- One row per version of a policy (政策) or conduct list (亲清清单).
CREATE TABLE policy_versions (
    row_id TEXT NOT NULL,
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    title TEXT NOT NULL,
    document_number TEXT NOT NULL,
    department_id TEXT NOT NULL,
    summary TEXT NOT NULL,
    articles TEXT NOT NULL,
    applicability TEXT NOT NULL,
    -- `|code|code|`: every jurisdiction the policy applies in, for filters.
    area TEXT NOT NULL,
    -- `|industry|…|` and `|TAG|…|`; empty when the policy names none (all match).
    industries TEXT NOT NULL,
    tags TEXT NOT NULL,
    closely_concerns BIGINT NOT NULL,
    consultation_open_time BIGINT,
    consultation_close_time BIGINT,
    publish_time BIGINT,
    effective_time BIGINT,
    expire_time BIGINT,
    repeal_time BIGINT,
    repeal_reason TEXT NOT NULL,
    amendment_reason TEXT NOT NULL,
    revision BIGINT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (id, version),
    CONSTRAINT policy_versions_row_id_key UNIQUE (row_id)
);
CREATE INDEX policy_versions_by_time ON policy_versions (create_time, row_id);
CREATE INDEX policy_versions_by_state ON policy_versions (state, jurisdiction_code);

-- Comments of enterprises on a version under consultation (征求意见).
CREATE TABLE policy_comments (
    id TEXT PRIMARY KEY,
    policy_id TEXT NOT NULL,
    policy_version BIGINT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    article TEXT NOT NULL,
    text TEXT NOT NULL,
    uscc TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    author TEXT NOT NULL,
    disposition TEXT,
    reply TEXT NOT NULL,
    replied_by TEXT NOT NULL,
    reply_time BIGINT,
    create_time BIGINT NOT NULL,
    revision BIGINT NOT NULL
);
CREATE INDEX policy_comments_by_policy ON policy_comments (policy_id, policy_version, create_time);

-- Questions about policies (政策问答).
CREATE TABLE policy_questions (
    id TEXT PRIMARY KEY,
    policy_id TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    text TEXT NOT NULL,
    uscc TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    asker TEXT NOT NULL,
    answer TEXT NOT NULL,
    answered_by TEXT NOT NULL,
    answer_time BIGINT,
    public BIGINT NOT NULL,
    create_time BIGINT NOT NULL,
    revision BIGINT NOT NULL
);
CREATE INDEX policy_questions_by_time ON policy_questions (create_time, id);

-- Fulfilment records (兑现).
CREATE TABLE policy_fulfillments (
    id TEXT PRIMARY KEY,
    policy_id TEXT NOT NULL,
    policy_version BIGINT NOT NULL,
    uscc TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    department_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    note TEXT NOT NULL,
    fulfill_time BIGINT NOT NULL,
    recorded_by TEXT NOT NULL,
    create_time BIGINT NOT NULL
);
CREATE INDEX policy_fulfillments_by_time ON policy_fulfillments (create_time, id);

-- Implementation reviews (实施评价): one per enterprise and version.
CREATE TABLE policy_ratings (
    id TEXT PRIMARY KEY,
    policy_id TEXT NOT NULL,
    policy_version BIGINT NOT NULL,
    uscc TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    rating TEXT NOT NULL,
    comment TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    CONSTRAINT policy_ratings_once_key UNIQUE (policy_id, policy_version, uscc)
);

-- Policies pushed to enterprises (政策推送); one push per enterprise and version.
CREATE TABLE policy_inbox (
    id TEXT PRIMARY KEY,
    uscc TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    policy_version BIGINT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    document_number TEXT NOT NULL,
    push_time BIGINT NOT NULL,
    read_time BIGINT,
    CONSTRAINT policy_inbox_once_key UNIQUE (uscc, policy_id, policy_version)
);
CREATE INDEX policy_inbox_by_enterprise ON policy_inbox (uscc, push_time);

-- Enterprises as intake's EnterpriseRegistered events describe them.
CREATE TABLE policy_enterprises (
    uscc TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    industry TEXT NOT NULL,
    size TEXT NOT NULL,
    tags TEXT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE INDEX policy_enterprises_by_jurisdiction ON policy_enterprises (jurisdiction_code);

-- Idempotency keys of mutations: a retry with the same key does nothing again.
CREATE TABLE policy_requests (
    actor TEXT NOT NULL,
    request_id TEXT NOT NULL,
    method TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    PRIMARY KEY (actor, request_id)
);
