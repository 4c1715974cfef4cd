-- A replay reads each event's projects by seq; the primary key starts with project_id, so
-- without this index every lookup scanned event_projects (a quadratic replay).
CREATE INDEX event_projects_seq ON event_projects(seq);
