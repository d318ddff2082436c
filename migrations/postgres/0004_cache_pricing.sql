-- Cached prompt tokens (api-contract.md, "Cached prompt tokens"): a model may price cache
-- reads and writes apart from input (NULL: priced as input), and a usage row records
-- them beside the dialects the client and the answering channel spoke.
ALTER TABLE models ADD COLUMN cache_read_price BIGINT CHECK (cache_read_price >= 0);
ALTER TABLE models ADD COLUMN cache_write_price BIGINT CHECK (cache_write_price >= 0);

ALTER TABLE usage_logs ADD COLUMN cache_read_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_logs ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0;
-- Part of completion_tokens, not on top of it.
ALTER TABLE usage_logs ADD COLUMN reasoning_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_logs ADD COLUMN client_dialect TEXT;
ALTER TABLE usage_logs ADD COLUMN channel_dialect TEXT;

-- Channels speak two more protocols; the column's CHECK carries PostgreSQL's default name.
ALTER TABLE channels DROP CONSTRAINT channels_protocol_check;
ALTER TABLE channels ADD CONSTRAINT channels_protocol_check
    CHECK (protocol IN ('openai', 'openai-responses', 'anthropic', 'gemini', 'echo'));
