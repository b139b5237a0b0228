-- Group commit now looks keys up as (submitter, request_id) pairs, which the
-- unique constraint's index serves; the index on request_id alone only cost
-- every insert.
DROP INDEX appeals_by_request_id;
