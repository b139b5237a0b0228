-- Who called, and which method, in tables of their own, as on SQLite (where
-- the writer fills them in bulk); here a trigger fills them with each insert,
-- so gateways sharing this schema need no ordering between them.
CREATE TABLE gateway_audit_by_sub (
    sub TEXT NOT NULL,
    id BIGINT NOT NULL,
    PRIMARY KEY (sub, id)
);
CREATE INDEX gateway_audit_by_sub_id ON gateway_audit_by_sub (id);
CREATE TABLE gateway_audit_by_method (
    method TEXT NOT NULL,
    id BIGINT NOT NULL,
    PRIMARY KEY (method, id)
);
CREATE INDEX gateway_audit_by_method_id ON gateway_audit_by_method (id);
INSERT INTO gateway_audit_by_sub (sub, id) SELECT sub, id FROM gateway_audit;
INSERT INTO gateway_audit_by_method (method, id) SELECT method, id FROM gateway_audit;
CREATE FUNCTION gateway_audit_index() RETURNS trigger AS $$
BEGIN
    INSERT INTO gateway_audit_by_sub (sub, id) SELECT sub, id FROM added;
    INSERT INTO gateway_audit_by_method (method, id) SELECT method, id FROM added;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER gateway_audit_index AFTER INSERT ON gateway_audit
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION gateway_audit_index();
DROP INDEX gateway_audit_sub;
DROP INDEX gateway_audit_method;
