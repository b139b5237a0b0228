-- Who called, and which method, indexed in bulk. The writer appends calls to
-- gateway_audit, indexed by time only, and copies the new calls' subjects and
-- methods into these tables every few seconds in one sorted pass; a read of
-- the audit brings them up to date first. An index by subject updated on every
-- commit rewrote a page for each caller of the commit, at every commit.
CREATE TABLE gateway_audit_by_sub (
    sub TEXT NOT NULL,
    id BIGINT NOT NULL,
    PRIMARY KEY (sub, id)
) WITHOUT ROWID;
CREATE INDEX gateway_audit_by_sub_id ON gateway_audit_by_sub (id);
CREATE TABLE gateway_audit_by_method (
    method TEXT NOT NULL,
    id BIGINT NOT NULL,
    PRIMARY KEY (method, id)
) WITHOUT ROWID;
CREATE INDEX gateway_audit_by_method_id ON gateway_audit_by_method (id);
-- The newest call whose subject and method are in the tables above. One writer
-- appends to a SQLite file, so calls commit in the order of their ids.
CREATE TABLE gateway_audit_indexed (upto BIGINT NOT NULL);
INSERT INTO gateway_audit_by_sub (sub, id) SELECT sub, id FROM gateway_audit;
INSERT INTO gateway_audit_by_method (method, id) SELECT method, id FROM gateway_audit;
INSERT INTO gateway_audit_indexed (upto) SELECT COALESCE(MAX(id), 0) FROM gateway_audit;
DROP INDEX gateway_audit_sub;
DROP INDEX gateway_audit_method;
