-- Full-text search (FTS5) over work item titles and descriptions and comment bodies.
--
-- Each index is an external-content table over a view of the live rows, keyed by the row's
-- rowid: the text is stored once (in work_items / comments), and 'rebuild' or
-- 'integrity-check' see exactly the rows that may be found. Triggers keep the index in step
-- in the transaction of every write, whatever code path makes it: an insert adds the row,
-- an update of the text removes the old words and adds the new, a soft delete (deleted_at
-- set) removes the row and a restore adds it back. A 'delete' names the values that were
-- indexed, so it is only issued for a row that was live before the change.
--
-- The rowid of these tables is their implicit one (comments' paging relies on it too): it
-- is stable as long as nobody runs VACUUM; after one, tenants.search.rebuild(conn).

CREATE VIEW work_items_search AS
    SELECT rowid AS doc, title, description FROM work_items WHERE deleted_at IS NULL;

CREATE VIRTUAL TABLE work_items_fts USING fts5(
    title,
    description,
    content = 'work_items_search',
    content_rowid = 'doc',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE VIEW comments_search AS
    SELECT rowid AS doc, content AS body FROM comments WHERE deleted_at IS NULL;

CREATE VIRTUAL TABLE comments_fts USING fts5(
    body,
    content = 'comments_search',
    content_rowid = 'doc',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER work_items_fts_insert AFTER INSERT ON work_items
WHEN NEW.deleted_at IS NULL
BEGIN
    INSERT INTO work_items_fts(rowid, title, description)
        VALUES (NEW.rowid, NEW.title, NEW.description);
END;

-- Moves, re-ranks and other field changes name none of these columns, or change none of
-- them: the WHEN clause keeps them off the index.
CREATE TRIGGER work_items_fts_update AFTER UPDATE OF title, description, deleted_at ON work_items
WHEN OLD.title IS NOT NEW.title
    OR OLD.description IS NOT NEW.description
    OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
BEGIN
    INSERT INTO work_items_fts(work_items_fts, rowid, title, description)
        SELECT 'delete', OLD.rowid, OLD.title, OLD.description WHERE OLD.deleted_at IS NULL;
    INSERT INTO work_items_fts(rowid, title, description)
        SELECT NEW.rowid, NEW.title, NEW.description WHERE NEW.deleted_at IS NULL;
END;

CREATE TRIGGER work_items_fts_delete AFTER DELETE ON work_items
WHEN OLD.deleted_at IS NULL
BEGIN
    INSERT INTO work_items_fts(work_items_fts, rowid, title, description)
        VALUES ('delete', OLD.rowid, OLD.title, OLD.description);
END;

CREATE TRIGGER comments_fts_insert AFTER INSERT ON comments
WHEN NEW.deleted_at IS NULL
BEGIN
    INSERT INTO comments_fts(rowid, body) VALUES (NEW.rowid, NEW.content);
END;

CREATE TRIGGER comments_fts_update AFTER UPDATE OF content, deleted_at ON comments
WHEN OLD.content IS NOT NEW.content
    OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
BEGIN
    INSERT INTO comments_fts(comments_fts, rowid, body)
        SELECT 'delete', OLD.rowid, OLD.content WHERE OLD.deleted_at IS NULL;
    INSERT INTO comments_fts(rowid, body)
        SELECT NEW.rowid, NEW.content WHERE NEW.deleted_at IS NULL;
END;

CREATE TRIGGER comments_fts_delete AFTER DELETE ON comments
WHEN OLD.deleted_at IS NULL
BEGIN
    INSERT INTO comments_fts(comments_fts, rowid, body) VALUES ('delete', OLD.rowid, OLD.content);
END;

-- The rows that exist already.
INSERT INTO work_items_fts(work_items_fts) VALUES ('rebuild');
INSERT INTO comments_fts(comments_fts) VALUES ('rebuild');
