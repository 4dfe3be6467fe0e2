-- The double-entry ledger: accounts and an append-only, hash-chained journal of transfers.
-- (PostgreSQL's dialect of sqlite/migrations/0001_ledger.sql: the same tables and rules.)

CREATE TABLE accounts (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('user', 'merchant', 'system')),
    currency        TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'frozen')),
    -- BIGINT: a total past 2**63 - 1 fails the operation (numeric_value_out_of_range)
    debits_posted   BIGINT  NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_posted  BIGINT  NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    debits_pending  BIGINT  NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    created_at      BIGINT  NOT NULL,
    UNIQUE (name, currency),
    -- user and merchant money never goes below zero, reservations included
    CONSTRAINT accounts_not_negative
        CHECK (kind = 'system' OR credits_posted - debits_posted - debits_pending >= 0)
);

-- Ids are given by the writer that holds the journal's lock (the tail's id + 1), so the
-- journal has no gaps and its order is the chain's.
CREATE TABLE transfers (
    id                 BIGINT  PRIMARY KEY,
    key                TEXT    NOT NULL UNIQUE,
    debit_account_id   BIGINT  NOT NULL REFERENCES accounts (id),
    credit_account_id  BIGINT  NOT NULL REFERENCES accounts (id),
    amount             BIGINT  NOT NULL CHECK (amount > 0),
    currency           TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    flag               TEXT    NOT NULL CHECK (flag IN
                           ('posted', 'pending', 'post_pending', 'void_pending', 'expire_pending')),
    pending_id         BIGINT  REFERENCES transfers (id),
    ref                TEXT    NOT NULL DEFAULT '',
    memo               TEXT    NOT NULL DEFAULT '',
    timeout_ms         BIGINT  NOT NULL DEFAULT 0 CHECK (timeout_ms >= 0),
    created_at         BIGINT  NOT NULL,
    prev_hash          TEXT    NOT NULL,
    hash               TEXT    NOT NULL,
    CHECK (debit_account_id <> credit_account_id),
    CHECK ((pending_id IS NULL) = (flag IN ('posted', 'pending')))
);

-- a reservation is resolved (posted, voided or expired) at most once
CREATE UNIQUE INDEX transfers_pending_resolved_once ON transfers (pending_id)
    WHERE pending_id IS NOT NULL;
CREATE INDEX transfers_by_debit ON transfers (debit_account_id, id);
CREATE INDEX transfers_by_credit ON transfers (credit_account_id, id);
-- open reservations with a timeout, for the expiry sweep
CREATE INDEX transfers_pending_timeouts ON transfers ((created_at + timeout_ms))
    WHERE flag = 'pending' AND timeout_ms > 0;

-- The journal is append-only: rows can be neither changed nor removed through SQL.
CREATE FUNCTION wallet_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% are append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER transfers_are_immutable BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION wallet_append_only();
CREATE TRIGGER transfers_are_permanent BEFORE TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION wallet_append_only();
