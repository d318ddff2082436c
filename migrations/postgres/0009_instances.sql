-- Instances sharing the database register here and heartbeat while they run. A run (one
-- registration of an instance) holds leases of money: once its heartbeat is stale its
-- row is deleted and its leases go back; an instance that was only paused registers
-- again, as a new run, before it leases more. Lease staleness is the holder's heartbeat,
-- no longer a renewal of each lease.
CREATE TABLE instances (
    instance_id  TEXT COLLATE "C" PRIMARY KEY,
    run_id       TEXT COLLATE "C" NOT NULL UNIQUE,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    address      TEXT NOT NULL,
    version      TEXT NOT NULL
);
CREATE INDEX instances_by_heartbeat ON instances (heartbeat_at);

-- Leases left open by a run of the old scheme belong to no registered run: the first
-- start gives them back.
DROP INDEX leases_by_renewal;
ALTER TABLE leases DROP COLUMN renewed_at;
ALTER TABLE leases RENAME COLUMN instance_id TO run_id;
