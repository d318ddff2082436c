-- Cached prompt tokens (api-contract.md, "Cached prompt tokens"): a model may price cache
-- reads and writes apart from input (NULL: priced as input), and a usage row records
-- them beside the dialects the client and the answering channel spoke.
ALTER TABLE models ADD COLUMN cache_read_price INTEGER CHECK (cache_read_price >= 0);
ALTER TABLE models ADD COLUMN cache_write_price INTEGER CHECK (cache_write_price >= 0);

ALTER TABLE usage_logs ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_logs ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
-- Part of completion_tokens, not on top of it.
ALTER TABLE usage_logs ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_logs ADD COLUMN client_dialect TEXT;
ALTER TABLE usage_logs ADD COLUMN channel_dialect TEXT;

-- Channels speak two more protocols. SQLite cannot alter a CHECK, so the table is
-- rebuilt. The migration runs in a transaction with foreign keys on, where
-- `PRAGMA foreign_keys = OFF` does nothing: model_channels, the only table referring to
-- channels, is rebuilt too and dropped first, so dropping channels orphans no row. Each
-- new table refers to the other by its final name once renamed (SQLite rewrites the
-- references on RENAME).
CREATE TABLE channels_new (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    protocol    TEXT NOT NULL CHECK (protocol IN ('openai', 'openai-responses', 'anthropic', 'gemini', 'echo')),
    base_url    TEXT NOT NULL DEFAULT '',
    credential  TEXT,
    priority    INTEGER NOT NULL DEFAULT 0,
    weight      INTEGER NOT NULL DEFAULT 1 CHECK (weight > 0),
    status      TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
    timeout_ms  INTEGER NOT NULL DEFAULT 60000 CHECK (timeout_ms > 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
INSERT INTO channels_new (id, name, protocol, base_url, credential, priority, weight, status, timeout_ms, created_at, updated_at)
    SELECT id, name, protocol, base_url, credential, priority, weight, status, timeout_ms, created_at, updated_at
      FROM channels;

CREATE TABLE model_channels_new (
    model_code     TEXT NOT NULL REFERENCES models (code),
    channel_id     TEXT NOT NULL REFERENCES channels_new (id),
    upstream_model TEXT,
    PRIMARY KEY (model_code, channel_id)
) STRICT;
INSERT INTO model_channels_new (model_code, channel_id, upstream_model)
    SELECT model_code, channel_id, upstream_model FROM model_channels;

DROP TABLE model_channels;
DROP TABLE channels;
ALTER TABLE channels_new RENAME TO channels;
ALTER TABLE model_channels_new RENAME TO model_channels;
