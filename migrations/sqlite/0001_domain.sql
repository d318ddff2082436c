-- Tollgate domain schema (SQLite). Times are UTC unix milliseconds; money is integer
-- micro-units; ids are UUIDv7 text, so they sort by creation time.
-- Tables are STRICT so SQLite enforces the declared types like PostgreSQL does.

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    email            TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('admin', 'support', 'user')),
    status           TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE accounts (
    id                    TEXT PRIMARY KEY,
    name                  TEXT NOT NULL UNIQUE,
    status                TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    balance               INTEGER NOT NULL DEFAULT 0,
    -- Sum of the open reservations, so reserving is one conditional UPDATE.
    reserved              INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    low_balance_threshold INTEGER NOT NULL DEFAULT 0 CHECK (low_balance_threshold >= 0),
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
) STRICT;

CREATE TABLE memberships (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, user_id)
) STRICT;
CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    user_id         TEXT NOT NULL REFERENCES users (id),
    name            TEXT NOT NULL,
    public_id       TEXT NOT NULL UNIQUE,
    secret_hash     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('enabled', 'disabled', 'revoked')),
    expires_at      INTEGER,
    ip_allowlist    TEXT NOT NULL DEFAULT '[]',
    model_whitelist TEXT NOT NULL DEFAULT '[]',
    spend_cap       INTEGER CHECK (spend_cap >= 0),
    spent           INTEGER NOT NULL DEFAULT 0,
    reserved        INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    rpm             INTEGER CHECK (rpm > 0),
    tpm             INTEGER CHECK (tpm > 0),
    max_concurrency INTEGER CHECK (max_concurrency > 0),
    last_used_at    INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX api_keys_by_account ON api_keys (account_id, id);

CREATE TABLE models (
    code               TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    input_price        INTEGER NOT NULL CHECK (input_price >= 0),
    output_price       INTEGER NOT NULL CHECK (output_price >= 0),
    context_window     INTEGER NOT NULL CHECK (context_window > 0),
    default_max_tokens INTEGER NOT NULL CHECK (default_max_tokens > 0),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;

CREATE TABLE channels (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    protocol    TEXT NOT NULL CHECK (protocol IN ('openai', 'anthropic', 'echo')),
    base_url    TEXT NOT NULL DEFAULT '',
    credential  TEXT,
    priority    INTEGER NOT NULL DEFAULT 0,
    weight      INTEGER NOT NULL DEFAULT 1 CHECK (weight > 0),
    status      TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
    timeout_ms  INTEGER NOT NULL DEFAULT 60000 CHECK (timeout_ms > 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE model_channels (
    model_code     TEXT NOT NULL REFERENCES models (code),
    channel_id     TEXT NOT NULL REFERENCES channels (id),
    upstream_model TEXT,
    PRIMARY KEY (model_code, channel_id)
) STRICT;

CREATE TABLE ledger_entries (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    amount          INTEGER NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('grant', 'redemption', 'usage', 'refund', 'adjustment', 'trial')),
    request_id      TEXT,
    redemption_code TEXT,
    idempotency_key TEXT,
    note            TEXT NOT NULL DEFAULT '',
    created_by      TEXT REFERENCES users (id),
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX ledger_by_account ON ledger_entries (account_id, id);
-- Exactly-once charging: one usage entry per request id.
CREATE UNIQUE INDEX ledger_one_charge_per_request ON ledger_entries (request_id) WHERE kind = 'usage';
CREATE UNIQUE INDEX ledger_idempotent_grants ON ledger_entries (account_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE reservations (
    request_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    key_id     TEXT NOT NULL REFERENCES api_keys (id),
    amount     INTEGER NOT NULL CHECK (amount >= 0),
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX reservations_by_account ON reservations (account_id);

CREATE TABLE redemption_codes (
    code_hash   TEXT PRIMARY KEY,
    code_hint   TEXT NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    expires_at  INTEGER,
    created_by  TEXT NOT NULL REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    redeemed_by TEXT REFERENCES accounts (id),
    redeemed_at INTEGER
) STRICT;

CREATE TABLE usage_logs (
    request_id          TEXT PRIMARY KEY,
    client_request_id   TEXT,
    created_at          INTEGER NOT NULL,
    route               TEXT NOT NULL,
    account_id          TEXT,
    key_id              TEXT,
    model               TEXT,
    status              INTEGER NOT NULL,
    error_code          TEXT,
    error_layer         TEXT,
    error_message       TEXT,
    latency_ms          INTEGER NOT NULL,
    upstream_latency_ms INTEGER,
    prompt_tokens       INTEGER NOT NULL DEFAULT 0,
    completion_tokens   INTEGER NOT NULL DEFAULT 0,
    cost                INTEGER NOT NULL DEFAULT 0,
    client_ip           TEXT,
    channel_id          TEXT,
    upstream_request_id TEXT,
    attempts            TEXT NOT NULL DEFAULT '[]',
    stream              INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX usage_by_account_time ON usage_logs (account_id, created_at, request_id);
CREATE INDEX usage_by_key_time ON usage_logs (key_id, created_at, request_id);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    actor_id    TEXT,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    account_id  TEXT,
    before      TEXT,
    after       TEXT,
    ip          TEXT,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX audit_by_account ON audit_log (account_id, id);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    data        TEXT NOT NULL,
    expiry_date INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_by_expiry ON sessions (expiry_date);

CREATE TABLE management_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    public_id    TEXT NOT NULL UNIQUE,
    secret_hash  TEXT NOT NULL,
    created_by   TEXT NOT NULL REFERENCES users (id),
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;
