-- Usage logs grow without end (issue 15): a retention deletes the rows older than it in
-- small batches, found through this index rather than a scan of the whole table under the
-- write lock. (PostgreSQL partitions the table by month instead and drops months whole.)
CREATE INDEX usage_by_time ON usage_logs (created_at);
