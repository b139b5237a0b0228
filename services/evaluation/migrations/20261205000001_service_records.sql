-- Service records (办件): the visits and transactions a service window served an
-- enterprise with. A review of a window names one, and one review is given per
-- record: only enterprises that had business with a window rate it.
CREATE TABLE service_records (
    id TEXT PRIMARY KEY,
    window_id TEXT NOT NULL,
    department_id TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    uscc TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    matter TEXT NOT NULL,
    transaction_number TEXT NOT NULL,
    serve_time BIGINT NOT NULL,
    registered_by TEXT NOT NULL,
    review_id TEXT NOT NULL,
    create_time BIGINT NOT NULL
);
-- One record per transaction number of a window.
CREATE UNIQUE INDEX service_records_transaction ON service_records (window_id, transaction_number);
CREATE INDEX service_records_by_time ON service_records (serve_time, id);
CREATE INDEX service_records_by_enterprise ON service_records (uscc, serve_time);

-- The record a window review rated: one review per record.
ALTER TABLE reviews ADD COLUMN service_record_id TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX reviews_service_record_key ON reviews (service_record_id) WHERE service_record_id <> '';
