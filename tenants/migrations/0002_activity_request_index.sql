-- Look up the activity rows of one request (an idempotent retry, an audit question).
CREATE INDEX activity_request ON activity_log(request_id);
