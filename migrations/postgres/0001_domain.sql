-- Tollgate domain schema (PostgreSQL). Times are UTC unix milliseconds; money is integer
-- micro-units; ids are UUIDv7 text, so they sort by creation time.
-- Ids use the C collation so keyset pagination orders them byte-wise, as SQLite does.

CREATE TABLE users (
    id               TEXT COLLATE "C" PRIMARY KEY,
    email            TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('admin', 'support', 'user')),
    status           TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE accounts (
    id                    TEXT COLLATE "C" PRIMARY KEY,
    name                  TEXT NOT NULL UNIQUE,
    status                TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    balance               BIGINT NOT NULL DEFAULT 0,
    -- Sum of the open reservations, so reserving is one conditional UPDATE.
    reserved              BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    low_balance_threshold BIGINT NOT NULL DEFAULT 0 CHECK (low_balance_threshold >= 0),
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);

CREATE TABLE memberships (
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE TABLE api_keys (
    id              TEXT COLLATE "C" PRIMARY KEY,
    account_id      TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    name            TEXT NOT NULL,
    public_id       TEXT COLLATE "C" NOT NULL UNIQUE,
    secret_hash     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('enabled', 'disabled', 'revoked')),
    expires_at      BIGINT,
    ip_allowlist    TEXT NOT NULL DEFAULT '[]',
    model_whitelist TEXT NOT NULL DEFAULT '[]',
    spend_cap       BIGINT CHECK (spend_cap >= 0),
    spent           BIGINT NOT NULL DEFAULT 0,
    reserved        BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    rpm             BIGINT CHECK (rpm > 0),
    tpm             BIGINT CHECK (tpm > 0),
    max_concurrency BIGINT CHECK (max_concurrency > 0),
    last_used_at    BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX api_keys_by_account ON api_keys (account_id, id);

CREATE TABLE models (
    code               TEXT COLLATE "C" PRIMARY KEY,
    name               TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    input_price        BIGINT NOT NULL CHECK (input_price >= 0),
    output_price       BIGINT NOT NULL CHECK (output_price >= 0),
    context_window     BIGINT NOT NULL CHECK (context_window > 0),
    default_max_tokens BIGINT NOT NULL CHECK (default_max_tokens > 0),
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

CREATE TABLE channels (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    protocol    TEXT NOT NULL CHECK (protocol IN ('openai', 'anthropic', 'echo')),
    base_url    TEXT NOT NULL DEFAULT '',
    credential  TEXT,
    priority    BIGINT NOT NULL DEFAULT 0,
    weight      BIGINT NOT NULL DEFAULT 1 CHECK (weight > 0),
    status      TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
    timeout_ms  BIGINT NOT NULL DEFAULT 60000 CHECK (timeout_ms > 0),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE model_channels (
    model_code     TEXT COLLATE "C" NOT NULL REFERENCES models (code),
    channel_id     TEXT COLLATE "C" NOT NULL REFERENCES channels (id),
    upstream_model TEXT,
    PRIMARY KEY (model_code, channel_id)
);

CREATE TABLE ledger_entries (
    id              TEXT COLLATE "C" PRIMARY KEY,
    account_id      TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    amount          BIGINT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('grant', 'redemption', 'usage', 'refund', 'adjustment', 'trial')),
    request_id      TEXT COLLATE "C",
    redemption_code TEXT,
    idempotency_key TEXT,
    note            TEXT NOT NULL DEFAULT '',
    created_by      TEXT REFERENCES users (id),
    created_at      BIGINT NOT NULL
);
CREATE INDEX ledger_by_account ON ledger_entries (account_id, id);
-- Exactly-once charging: one usage entry per request id.
CREATE UNIQUE INDEX ledger_one_charge_per_request ON ledger_entries (request_id) WHERE kind = 'usage';
CREATE UNIQUE INDEX ledger_idempotent_grants ON ledger_entries (account_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE reservations (
    request_id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    key_id     TEXT COLLATE "C" NOT NULL REFERENCES api_keys (id),
    amount     BIGINT NOT NULL CHECK (amount >= 0),
    created_at BIGINT NOT NULL
);
CREATE INDEX reservations_by_account ON reservations (account_id);

CREATE TABLE redemption_codes (
    code_hash   TEXT COLLATE "C" PRIMARY KEY,
    code_hint   TEXT NOT NULL,
    amount      BIGINT NOT NULL CHECK (amount > 0),
    expires_at  BIGINT,
    created_by  TEXT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    redeemed_by TEXT REFERENCES accounts (id),
    redeemed_at BIGINT
);

CREATE TABLE usage_logs (
    request_id          TEXT COLLATE "C" PRIMARY KEY,
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
    completion_tokens   BIGINT NOT NULL DEFAULT 0,
    cost                BIGINT NOT NULL DEFAULT 0,
    client_ip           TEXT,
    channel_id          TEXT COLLATE "C",
    upstream_request_id TEXT,
    attempts            TEXT NOT NULL DEFAULT '[]',
    stream              BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX usage_by_account_time ON usage_logs (account_id, created_at, request_id);
CREATE INDEX usage_by_key_time ON usage_logs (key_id, created_at, request_id);

CREATE TABLE audit_log (
    id          TEXT COLLATE "C" PRIMARY KEY,
    actor_id    TEXT,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    account_id  TEXT COLLATE "C",
    before      TEXT,
    after       TEXT,
    ip          TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_by_account ON audit_log (account_id, id);

CREATE TABLE sessions (
    id          TEXT COLLATE "C" PRIMARY KEY,
    data        TEXT NOT NULL,
    expiry_date BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expiry_date);

CREATE TABLE management_tokens (
    id           TEXT COLLATE "C" PRIMARY KEY,
    name         TEXT NOT NULL,
    public_id    TEXT COLLATE "C" NOT NULL UNIQUE,
    secret_hash  TEXT NOT NULL,
    created_by   TEXT NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
