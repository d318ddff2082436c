-- Holds move into memory, inside leases: an instance takes a slice of a key's spend cap
-- and of its account's balance ahead of demand and writes charges in batches. The
-- `reserved` columns of api_keys and accounts become the sums of the leases.
DROP TABLE reservations;

CREATE TABLE leases (
    instance_id TEXT COLLATE "C" NOT NULL,
    key_id      TEXT COLLATE "C" NOT NULL REFERENCES api_keys (id),
    account_id  TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    amount      BIGINT NOT NULL CHECK (amount >= 0),
    -- The holding instance renews its leases while it lives; stale ones are reclaimed.
    renewed_at  BIGINT NOT NULL,
    PRIMARY KEY (instance_id, key_id)
);
CREATE INDEX leases_by_renewal ON leases (renewed_at);
