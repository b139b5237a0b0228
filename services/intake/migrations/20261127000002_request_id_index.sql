-- Group commit looks up a whole batch's idempotency keys by request_id alone.
CREATE INDEX appeals_by_request_id ON appeals (request_id);
