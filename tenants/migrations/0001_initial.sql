-- Every table of one tenant. Times are Unix milliseconds (UTC); ids are UUID strings.
-- Soft delete: deleted_at/deleted_by set, the row stays for audit. Uniqueness rules hold
-- among live rows only (partial indexes WHERE deleted_at IS NULL).
-- delete_batch names the delete that removed a row, so a restore brings back exactly the
-- rows deleted with it.

CREATE TABLE schema_migrations (
    version     INTEGER PRIMARY KEY,
    applied_at  INTEGER NOT NULL
);

CREATE TABLE projects (
    id               TEXT PRIMARY KEY,
    key              TEXT NOT NULL,
    name             TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    next_item_number INTEGER NOT NULL DEFAULT 1,
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    created_by       TEXT NOT NULL,
    updated_by       TEXT NOT NULL,
    deleted_at       INTEGER,
    deleted_by       TEXT,
    delete_batch     TEXT
);
-- Not partial: a key is never reused, even after its project is deleted.
CREATE UNIQUE INDEX projects_key ON projects(key);

CREATE TABLE swim_lanes (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id),
    name          TEXT NOT NULL,
    status_value  TEXT NOT NULL,
    position      INTEGER NOT NULL,
    is_default    INTEGER NOT NULL DEFAULT 0,
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    updated_by    TEXT NOT NULL,
    deleted_at    INTEGER,
    deleted_by    TEXT,
    delete_batch  TEXT
);
CREATE UNIQUE INDEX swim_lanes_status ON swim_lanes(project_id, status_value)
    WHERE deleted_at IS NULL;

CREATE TABLE sprints (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id),
    name          TEXT NOT NULL,
    goal          TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL CHECK (state IN ('planned', 'active', 'completed', 'cancelled')),
    start_date    INTEGER NOT NULL,
    end_date      INTEGER NOT NULL,
    started_at    INTEGER,
    completed_at  INTEGER,
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    updated_by    TEXT NOT NULL,
    deleted_at    INTEGER,
    deleted_by    TEXT,
    delete_batch  TEXT,
    CHECK (start_date < end_date)
);
CREATE INDEX sprints_project ON sprints(project_id);
CREATE UNIQUE INDEX sprints_one_active ON sprints(project_id)
    WHERE state = 'active' AND deleted_at IS NULL;

CREATE TABLE work_items (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id),
    number        INTEGER NOT NULL,
    type          TEXT NOT NULL CHECK (type IN ('epic', 'story', 'task', 'bug')),
    parent_id     TEXT REFERENCES work_items(id),
    status        TEXT NOT NULL,
    rank          TEXT NOT NULL,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    priority      TEXT NOT NULL DEFAULT 'medium'
                  CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    assignee_id   TEXT,
    sprint_id     TEXT REFERENCES sprints(id),
    story_points  INTEGER CHECK (story_points BETWEEN 0 AND 100),
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    updated_by    TEXT NOT NULL,
    deleted_at    INTEGER,
    deleted_by    TEXT,
    delete_batch  TEXT
);
-- Numbers are never reused, deleted items included.
CREATE UNIQUE INDEX work_items_number ON work_items(project_id, number);
CREATE INDEX work_items_lane ON work_items(project_id, status, rank) WHERE deleted_at IS NULL;
CREATE INDEX work_items_parent ON work_items(parent_id);
CREATE INDEX work_items_sprint ON work_items(sprint_id);
CREATE INDEX work_items_assignee ON work_items(project_id, assignee_id);
CREATE INDEX work_items_delete_batch ON work_items(delete_batch) WHERE delete_batch IS NOT NULL;

CREATE TABLE comments (
    id                 TEXT PRIMARY KEY,
    work_item_id       TEXT NOT NULL REFERENCES work_items(id),
    parent_comment_id  TEXT REFERENCES comments(id),
    author_id          TEXT NOT NULL,
    content            TEXT NOT NULL,
    version            INTEGER NOT NULL DEFAULT 1,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    created_by         TEXT NOT NULL,
    updated_by         TEXT NOT NULL,
    deleted_at         INTEGER,
    deleted_by         TEXT,
    delete_batch       TEXT
);
CREATE INDEX comments_item ON comments(work_item_id, created_at);
CREATE INDEX comments_parent ON comments(parent_comment_id);

CREATE TABLE time_entries (
    id                TEXT PRIMARY KEY,
    work_item_id      TEXT NOT NULL REFERENCES work_items(id),
    user_id           TEXT NOT NULL,
    started_at        INTEGER NOT NULL,
    ended_at          INTEGER,
    duration_seconds  INTEGER,
    note              TEXT NOT NULL DEFAULT '',
    version           INTEGER NOT NULL DEFAULT 1,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    created_by        TEXT NOT NULL,
    updated_by        TEXT NOT NULL,
    deleted_at        INTEGER,
    deleted_by        TEXT,
    delete_batch      TEXT,
    CHECK (ended_at IS NULL OR started_at < ended_at)
);
CREATE INDEX time_entries_item ON time_entries(work_item_id);
CREATE INDEX time_entries_user ON time_entries(user_id, started_at);
-- One running timer per user in the tenant, enforced by the database itself.
CREATE UNIQUE INDEX time_entries_one_running ON time_entries(user_id)
    WHERE ended_at IS NULL AND deleted_at IS NULL;

CREATE TABLE dependencies (
    id            TEXT PRIMARY KEY,
    from_item_id  TEXT NOT NULL REFERENCES work_items(id),
    to_item_id    TEXT NOT NULL REFERENCES work_items(id),
    type          TEXT NOT NULL CHECK (type IN ('blocks', 'relates_to')),
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    updated_by    TEXT NOT NULL,
    deleted_at    INTEGER,
    deleted_by    TEXT,
    delete_batch  TEXT,
    CHECK (from_item_id <> to_item_id)
);
-- At most one live dependency per unordered pair, of any type.
CREATE UNIQUE INDEX dependencies_pair
    ON dependencies(min(from_item_id, to_item_id), max(from_item_id, to_item_id))
    WHERE deleted_at IS NULL;
CREATE INDEX dependencies_from ON dependencies(from_item_id) WHERE deleted_at IS NULL;
CREATE INDEX dependencies_to ON dependencies(to_item_id) WHERE deleted_at IS NULL;

-- Append-only history: one row per created/deleted entity, one per changed field.
CREATE TABLE activity_log (
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
    seq          INTEGER NOT NULL REFERENCES events(seq)
);
CREATE INDEX activity_entity ON activity_log(entity_type, entity_id, id);
CREATE INDEX activity_project ON activity_log(project_id, id);
CREATE INDEX activity_seq ON activity_log(seq);

-- The durable event log: seq is the tenant's event order, assigned in the change's own
-- transaction. payload is the encoded pm.v1.Event without its seq (server/ adds it).
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at   INTEGER NOT NULL,
    actor_id      TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    tenant_level  INTEGER NOT NULL DEFAULT 0,
    payload       BLOB NOT NULL
);
CREATE TABLE event_projects (
    project_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL REFERENCES events(seq),
    PRIMARY KEY (project_id, seq)
) WITHOUT ROWID;

-- Idempotency: (user, request_id) of every committed mutation and its first response.
CREATE TABLE processed_requests (
    user_id      TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    fingerprint  BLOB NOT NULL,
    response     BLOB NOT NULL,
    seq          INTEGER REFERENCES events(seq),
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, request_id)
) WITHOUT ROWID;
CREATE INDEX processed_requests_age ON processed_requests(created_at);
