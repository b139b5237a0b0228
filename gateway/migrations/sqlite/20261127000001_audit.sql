-- The gateway's audit: one row per authenticated call, append-only. Rows are
-- only ever deleted by the retention task, never changed.
CREATE TABLE gateway_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_time BIGINT NOT NULL,
    sub TEXT NOT NULL,
    roles TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    method TEXT NOT NULL,
    target_jurisdiction TEXT NOT NULL,
    code INTEGER NOT NULL,
    latency_us BIGINT NOT NULL
);
CREATE INDEX gateway_audit_time ON gateway_audit (call_time);
CREATE INDEX gateway_audit_sub ON gateway_audit (sub, id);
CREATE INDEX gateway_audit_method ON gateway_audit (method, id);
CREATE TRIGGER gateway_audit_append_only BEFORE UPDATE ON gateway_audit
BEGIN
    SELECT RAISE(ABORT, 'the audit is append-only');
END;
