-- Keys of projects that PurgeDeleted removed for good. A project key is never reused, even
-- after its project is deleted; once the row itself is gone, its key stays taken here.
CREATE TABLE retired_project_keys (
    key         TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL,
    retired_at  INTEGER NOT NULL
) WITHOUT ROWID;
