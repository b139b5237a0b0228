-- The audit, hash-chained as the case ledger is: each call written from now on
-- gets a gap-free sequence number, the hash of the call before it and its own
-- hash, so `zhengqi audit verify` finds a deleted or altered row. The chain's
-- head is kept here, with the anchor the retention task leaves when it deletes
-- the oldest calls (the last deleted call's sequence and hash). Calls written
-- before this migration have no sequence and are outside the chain.
ALTER TABLE gateway_audit ADD COLUMN seq BIGINT;
ALTER TABLE gateway_audit ADD COLUMN prev_hash TEXT;
ALTER TABLE gateway_audit ADD COLUMN entry_hash TEXT;
CREATE UNIQUE INDEX gateway_audit_seq ON gateway_audit (seq);
CREATE TABLE gateway_audit_chain (
    head_seq BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    anchor_seq BIGINT NOT NULL,
    anchor_hash TEXT NOT NULL
);
INSERT INTO gateway_audit_chain (head_seq, head_hash, anchor_seq, anchor_hash) VALUES (0, '', 0, '');
