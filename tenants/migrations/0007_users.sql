-- The tenant's users as their tokens last named them (claims name and email), so ids in
-- work items and presence resolve to names. Written at connect time, never by a command:
-- no event or activity row goes with it.
CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL DEFAULT '',
    email             TEXT NOT NULL DEFAULT '',
    first_seen_at_ms  INTEGER NOT NULL,
    updated_at_ms     INTEGER NOT NULL
) WITHOUT ROWID;
