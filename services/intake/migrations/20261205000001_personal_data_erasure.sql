-- When an appeal's contact was erased, its retention period over (NULL while
-- kept), so the erasure is done once and shown.
ALTER TABLE appeals ADD COLUMN personal_data_erase_time BIGINT;
CREATE INDEX appeals_contact_kept ON appeals (create_time) WHERE personal_data_erase_time IS NULL;
