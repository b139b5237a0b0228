-- Reviews (好差评) and the invitations to give them: a resolved case invites
-- its enterprise to rate the department (one row per case, INVITED until rated).
CREATE TABLE reviews (
    id TEXT PRIMARY KEY,
    direction TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    rating TEXT,
    comment TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    state TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    department_id TEXT NOT NULL,
    uscc TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    rectification_id TEXT NOT NULL,
    invite_time BIGINT,
    submit_time BIGINT,
    create_time BIGINT NOT NULL,
    sort_time BIGINT NOT NULL
);
-- One review per case.
CREATE UNIQUE INDEX reviews_case_key ON reviews (case_id) WHERE case_id <> '';
CREATE INDEX reviews_by_time ON reviews (sort_time, id);
CREATE INDEX reviews_by_jurisdiction ON reviews (jurisdiction_code, sort_time);
CREATE INDEX reviews_by_enterprise ON reviews (uscc, sort_time);

-- The handling of bad reviews: verify, rectify, visit again.
CREATE TABLE rectifications (
    id TEXT PRIMARY KEY,
    review_id TEXT NOT NULL UNIQUE,
    case_id TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    department_id TEXT NOT NULL,
    uscc TEXT NOT NULL,
    state TEXT NOT NULL,
    rating TEXT NOT NULL,
    review_comment TEXT NOT NULL,
    due_time BIGINT,
    valid BIGINT NOT NULL,
    verification_note TEXT NOT NULL,
    verified_by TEXT NOT NULL,
    verify_time BIGINT,
    rectification_text TEXT NOT NULL,
    rectified_by TEXT NOT NULL,
    rectify_time BIGINT,
    return_visit_satisfied BIGINT NOT NULL,
    return_visit_note TEXT NOT NULL,
    visited_by TEXT NOT NULL,
    visit_time BIGINT,
    return_visit_count BIGINT NOT NULL,
    -- A valid bad review about a case reopens it in routing: '' (nothing to
    -- do), PENDING (to be asked), DONE or FAILED, with routing's answer.
    case_reopen TEXT NOT NULL,
    case_reopen_note TEXT NOT NULL,
    version BIGINT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE INDEX rectifications_by_due ON rectifications (due_time, id);
CREATE INDEX rectifications_by_jurisdiction ON rectifications (jurisdiction_code, state);
CREATE INDEX rectifications_reopen_pending ON rectifications (case_reopen);

-- Rating campaigns (百企评); items as JSON, invitees in their own table.
CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    jurisdiction_code TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    items TEXT NOT NULL,
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    invite_all BIGINT NOT NULL,
    response_count BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX campaigns_by_time ON campaigns (create_time, id);

CREATE TABLE campaign_invitees (
    campaign_id TEXT NOT NULL,
    uscc TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, uscc)
);
CREATE INDEX campaign_invitees_by_uscc ON campaign_invitees (uscc);

-- One response per enterprise and campaign.
CREATE TABLE campaign_responses (
    id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    uscc TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    comment TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    CONSTRAINT campaign_responses_once UNIQUE (campaign_id, uscc)
);

CREATE TABLE campaign_answers (
    response_id TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    item_key TEXT NOT NULL,
    rating TEXT NOT NULL,
    comment TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (response_id, item_key)
);
CREATE INDEX campaign_answers_by_campaign ON campaign_answers (campaign_id, item_key);

-- Third-party assessments (第三方评估).
CREATE TABLE assessments (
    id TEXT PRIMARY KEY,
    evaluator TEXT NOT NULL,
    evaluator_name TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    department_id TEXT NOT NULL,
    period TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    summary TEXT NOT NULL,
    create_time BIGINT NOT NULL
);

-- Violations and their penalty tier (首违不罚, 再犯重罚).
CREATE TABLE violations (
    id TEXT PRIMARY KEY,
    uscc TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    department_id TEXT NOT NULL,
    severity TEXT NOT NULL,
    description TEXT NOT NULL,
    promptly_corrected BIGINT NOT NULL,
    decision TEXT NOT NULL,
    decision_reason TEXT NOT NULL,
    prior_violation_count BIGINT NOT NULL,
    occur_time BIGINT NOT NULL,
    recorded_by TEXT NOT NULL,
    create_time BIGINT NOT NULL
);
CREATE INDEX violations_by_enterprise ON violations (uscc, occur_time);

-- Proposed suspensions (责令停产停业) and the city's decisions.
CREATE TABLE suspensions (
    id TEXT PRIMARY KEY,
    uscc TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    department_id TEXT NOT NULL,
    violation_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    proposed_start BIGINT,
    proposed_end BIGINT,
    start_time BIGINT,
    end_time BIGINT,
    state TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    propose_time BIGINT NOT NULL,
    decided_by TEXT NOT NULL,
    decide_time BIGINT,
    decision_note TEXT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX suspensions_by_enterprise ON suspensions (uscc, propose_time);

-- Red and black lists: one row per enterprise and list, changed in place.
CREATE TABLE credit_listings (
    id TEXT PRIMARY KEY,
    uscc TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    list TEXT NOT NULL,
    reason TEXT NOT NULL,
    expire_time BIGINT,
    jurisdiction_code TEXT NOT NULL,
    listed_by TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    version BIGINT NOT NULL,
    CONSTRAINT credit_listings_one_per_list UNIQUE (uscc, list)
);

-- Enterprises' names as routing's cases gave them.
CREATE TABLE enterprise_names (
    uscc TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    update_time BIGINT NOT NULL
);

-- Idempotency keys of mutations: a retry with the same key does nothing again.
CREATE TABLE evaluation_requests (
    actor TEXT NOT NULL,
    request_id TEXT NOT NULL,
    method TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    PRIMARY KEY (actor, request_id)
);
