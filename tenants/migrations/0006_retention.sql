-- Retention: old events and idempotency records may now be pruned.
-- activity_log, event_projects and processed_requests referenced events(seq) with foreign
-- keys, so no event could ever be deleted. The activity log is the audit trail and stays
-- whole; its seq is a plain number now. Tables are rebuilt (SQLite cannot drop a foreign
-- key) with the same rows and ids. The activity log's indexes on request_id and seq served
-- no query (seq only served the foreign key), so they are not rebuilt.

CREATE TABLE activity_log_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_type  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    project_id   TEXT,
    action       TEXT NOT NULL,
    field        TEXT,
    old_json     TEXT,
    new_json     TEXT,
    actor_id     TEXT NOT NULL,
    occurred_at  INTEGER NOT NULL,
    request_id   TEXT NOT NULL,
    seq          INTEGER NOT NULL
);
INSERT INTO activity_log_new SELECT id, entity_type, entity_id, project_id, action, field,
    old_json, new_json, actor_id, occurred_at, request_id, seq FROM activity_log;
DROP TABLE activity_log;
ALTER TABLE activity_log_new RENAME TO activity_log;
CREATE INDEX activity_entity ON activity_log(entity_type, entity_id, id);
CREATE INDEX activity_project ON activity_log(project_id, id);

CREATE TABLE event_projects_new (
    project_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    PRIMARY KEY (project_id, seq)
) WITHOUT ROWID;
INSERT INTO event_projects_new SELECT project_id, seq FROM event_projects;
DROP TABLE event_projects;
ALTER TABLE event_projects_new RENAME TO event_projects;
CREATE INDEX event_projects_seq ON event_projects(seq);

CREATE TABLE processed_requests_new (
    user_id      TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    fingerprint  BLOB NOT NULL,
    response     BLOB NOT NULL,
    seq          INTEGER,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, request_id)
) WITHOUT ROWID;
INSERT INTO processed_requests_new SELECT user_id, request_id, fingerprint, response, seq,
    created_at FROM processed_requests;
DROP TABLE processed_requests;
ALTER TABLE processed_requests_new RENAME TO processed_requests;
CREATE INDEX processed_requests_age ON processed_requests(created_at);
