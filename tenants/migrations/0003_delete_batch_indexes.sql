-- A restore finds the rows of one delete batch; without these it scans whole tables.
CREATE INDEX dependencies_delete_batch ON dependencies(delete_batch) WHERE delete_batch IS NOT NULL;
CREATE INDEX sprints_delete_batch ON sprints(delete_batch) WHERE delete_batch IS NOT NULL;
CREATE INDEX comments_delete_batch ON comments(delete_batch) WHERE delete_batch IS NOT NULL;
CREATE INDEX time_entries_delete_batch ON time_entries(delete_batch) WHERE delete_batch IS NOT NULL;
