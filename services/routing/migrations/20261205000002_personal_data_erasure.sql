-- When a case's contact was erased, the case closed longer ago than the
-- retention period (NULL while kept), so the erasure is done once and shown.
ALTER TABLE cases ADD COLUMN personal_data_erase_time BIGINT;
CREATE INDEX cases_contact_kept ON cases (close_time) WHERE personal_data_erase_time IS NULL AND close_time IS NOT NULL;
