CREATE TABLE appeals (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    submitter TEXT NOT NULL,
    request_id TEXT,
    channel TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    uscc TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    title_key TEXT NOT NULL,
    description TEXT NOT NULL,
    contact_name TEXT NOT NULL,
    contact_phone TEXT NOT NULL,
    status TEXT NOT NULL,
    duplicate_of TEXT,
    withdraw_reason TEXT NOT NULL DEFAULT '',
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    CONSTRAINT appeals_request_id_key UNIQUE (submitter, request_id)
);
CREATE INDEX appeals_by_time ON appeals (create_time, id);
CREATE INDEX appeals_by_matter ON appeals (uscc, category, create_time);
CREATE INDEX appeals_by_jurisdiction ON appeals (jurisdiction_code, create_time);

CREATE TABLE daily_numbers (
    jurisdiction_code TEXT NOT NULL,
    day TEXT NOT NULL,
    last BIGINT NOT NULL,
    PRIMARY KEY (jurisdiction_code, day)
);

CREATE TABLE enterprises (
    uscc TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    industry TEXT NOT NULL,
    size TEXT,
    ownership TEXT,
    tags TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE INDEX enterprises_by_jurisdiction ON enterprises (jurisdiction_code, uscc);
