-- Owners invite people to their account by email; the person joins by accepting in the
-- console (issue 16). An invitation may name an email nobody has registered yet: it waits
-- for a user with that email, or expires. Answered and revoked ones are deleted (the audit
-- log keeps the story); one per account and email, a new invitation replaces the old.
CREATE TABLE invitations (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    email      TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    invited_by TEXT NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    UNIQUE (account_id, email)
) STRICT;
CREATE INDEX invitations_by_email ON invitations (email, expires_at);
