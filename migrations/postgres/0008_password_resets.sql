-- One-time password reset links an admin issues for a user (issue 16): only a SHA-256 of
-- the link's secret is kept; a link works once (`used_at`) and until `expires_at`.
CREATE TABLE password_resets (
    id          TEXT COLLATE "C" PRIMARY KEY,
    public_id   TEXT COLLATE "C" NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    created_by  TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX password_resets_by_user ON password_resets (user_id);
