-- Usage logs grow without end (issue 15): the table is range-partitioned by month of
-- `created_at`, so a retention drops a month whole instead of deleting rows one by one,
-- and a lookup bounded in time reads one month's indexes. A partitioned table's primary
-- key must hold the partition key: `(request_id, created_at)`, led by the id so the
-- lookup by id still seeks it.
ALTER TABLE usage_logs RENAME TO usage_logs_before_partitioning;
ALTER TABLE usage_logs_before_partitioning DROP CONSTRAINT usage_logs_pkey;
DROP INDEX usage_by_account_time;
DROP INDEX usage_by_key_time;

CREATE TABLE usage_logs (
    request_id          TEXT COLLATE "C" NOT NULL,
    client_request_id   TEXT,
    created_at          BIGINT NOT NULL,
    route               TEXT NOT NULL,
    account_id          TEXT COLLATE "C",
    key_id              TEXT COLLATE "C",
    model               TEXT,
    status              BIGINT NOT NULL,
    error_code          TEXT,
    error_layer         TEXT,
    error_message       TEXT,
    latency_ms          BIGINT NOT NULL,
    upstream_latency_ms BIGINT,
    prompt_tokens       BIGINT NOT NULL DEFAULT 0,
    cache_read_tokens   BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens  BIGINT NOT NULL DEFAULT 0,
    completion_tokens   BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens    BIGINT NOT NULL DEFAULT 0,
    cost                BIGINT NOT NULL DEFAULT 0,
    overrun             BIGINT NOT NULL DEFAULT 0,
    client_ip           TEXT,
    channel_id          TEXT COLLATE "C",
    upstream_request_id TEXT,
    attempts            TEXT NOT NULL DEFAULT '[]',
    stream              BIGINT NOT NULL DEFAULT 0,
    client_dialect      TEXT,
    channel_dialect     TEXT,
    PRIMARY KEY (request_id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX usage_by_account_time ON usage_logs (account_id, created_at, request_id);
CREATE INDEX usage_by_key_time ON usage_logs (key_id, created_at, request_id);
-- A row of a month that has no partition (a clock far off) lands here instead of failing.
CREATE TABLE usage_logs_default PARTITION OF usage_logs DEFAULT;

-- Creates the partitions of the month holding `at_ms` and of the `ahead` months after it
-- (`usage_logs_YYYY_MM`, UTC months, bounds in unix milliseconds); returns how many were
-- new. A partition is built beside the table and attached: attaching locks the table only
-- against other DDL, where `CREATE TABLE ... PARTITION OF` would stop every reader and
-- writer. Rows the default partition holds for the month move in first (attaching over
-- them would fail). Instances starting together take turns by an advisory lock. A lock
-- not granted within `lock_timeout` fails the call (the upkeep retries within the hour)
-- rather than keep the usage log's readers and writers queued behind it for long.
CREATE FUNCTION usage_logs_add_months(at_ms BIGINT, ahead INTEGER) RETURNS INTEGER
LANGUAGE plpgsql SET lock_timeout = '2s' AS $$
DECLARE
    first_month TIMESTAMP := date_trunc('month', to_timestamp(at_ms / 1000.0) AT TIME ZONE 'UTC');
    month_start TIMESTAMP;
    lower_ms    BIGINT;
    upper_ms    BIGINT;
    part_name   TEXT;
    created     INTEGER := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('usage_logs partitions'));
    FOR step IN 0..ahead LOOP
        month_start := first_month + make_interval(months => step);
        part_name := 'usage_logs_' || to_char(month_start, 'YYYY_MM');
        CONTINUE WHEN to_regclass(part_name) IS NOT NULL;
        lower_ms := (extract(epoch FROM month_start) * 1000)::BIGINT;
        upper_ms := (extract(epoch FROM month_start + INTERVAL '1 month') * 1000)::BIGINT;
        EXECUTE format('CREATE TABLE %I (LIKE usage_logs INCLUDING DEFAULTS)', part_name);
        EXECUTE format(
            'WITH moved AS (DELETE FROM usage_logs_default WHERE created_at >= $1 AND created_at < $2 RETURNING *)
             INSERT INTO %I SELECT * FROM moved', part_name)
            USING lower_ms, upper_ms;
        EXECUTE format('ALTER TABLE usage_logs ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)',
            part_name, lower_ms, upper_ms);
        created := created + 1;
    END LOOP;
    RETURN created;
END $$;

-- Drops the month partitions whose every row is older than `cutoff_ms` (their upper
-- bound is at or before it); returns their names. The default partition is never dropped.
CREATE FUNCTION usage_logs_drop_months_before(cutoff_ms BIGINT) RETURNS SETOF TEXT
LANGUAGE plpgsql SET lock_timeout = '2s' AS $$
DECLARE
    part RECORD;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('usage_logs partitions'));
    FOR part IN
        SELECT child.relname::TEXT AS name,
               substring(pg_get_expr(child.relpartbound, child.oid) FROM 'TO \(''(-?[0-9]+)''\)')::BIGINT AS upper_ms
          FROM pg_inherits
          JOIN pg_class child ON child.oid = pg_inherits.inhrelid
         WHERE pg_inherits.inhparent = 'usage_logs'::regclass
    LOOP
        CONTINUE WHEN part.upper_ms IS NULL OR part.upper_ms > cutoff_ms;
        EXECUTE format('DROP TABLE %I', part.name);
        RETURN NEXT part.name;
    END LOOP;
END $$;

-- Existing rows move into the partitions of their months.
SELECT usage_logs_add_months(MIN(created_at), 0)
  FROM usage_logs_before_partitioning
 GROUP BY date_trunc('month', to_timestamp(created_at / 1000.0) AT TIME ZONE 'UTC');
INSERT INTO usage_logs (request_id, client_request_id, created_at, route, account_id, key_id, model, status,
    error_code, error_layer, error_message, latency_ms, upstream_latency_ms, prompt_tokens, cache_read_tokens,
    cache_write_tokens, completion_tokens, reasoning_tokens, cost, overrun, client_ip, channel_id,
    upstream_request_id, attempts, stream, client_dialect, channel_dialect)
SELECT request_id, client_request_id, created_at, route, account_id, key_id, model, status,
    error_code, error_layer, error_message, latency_ms, upstream_latency_ms, prompt_tokens, cache_read_tokens,
    cache_write_tokens, completion_tokens, reasoning_tokens, cost, overrun, client_ip, channel_id,
    upstream_request_id, attempts, stream, client_dialect, channel_dialect
  FROM usage_logs_before_partitioning;
DROP TABLE usage_logs_before_partitioning;
