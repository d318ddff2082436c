-- A request is never charged more than it held (issue 16): what an upstream reported
-- beyond the hold is recorded here, in micro-units, instead of being charged.
ALTER TABLE usage_logs ADD COLUMN overrun INTEGER NOT NULL DEFAULT 0;
