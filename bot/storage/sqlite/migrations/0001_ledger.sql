-- The double-entry ledger: accounts and an append-only, hash-chained journal of transfers.

CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('user', 'merchant', 'system')),
    currency        TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'frozen')),
    debits_posted   INTEGER NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_posted  INTEGER NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    debits_pending  INTEGER NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    created_at      INTEGER NOT NULL,
    UNIQUE (name, currency),
    -- totals stay integers: an overflow past 2**63 - 1 (which SQLite would turn into a
    -- REAL, losing fen) fails the operation instead
    CHECK (typeof(debits_posted) = 'integer' AND typeof(credits_posted) = 'integer'
           AND typeof(debits_pending) = 'integer'),
    -- user and merchant money never goes below zero, reservations included
    CHECK (kind = 'system' OR credits_posted - debits_posted - debits_pending >= 0)
);

CREATE TABLE transfers (
    id                 INTEGER PRIMARY KEY,
    key                TEXT    NOT NULL UNIQUE,
    debit_account_id   INTEGER NOT NULL REFERENCES accounts (id),
    credit_account_id  INTEGER NOT NULL REFERENCES accounts (id),
    amount             INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
    currency           TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    flag               TEXT    NOT NULL CHECK (flag IN
                           ('posted', 'pending', 'post_pending', 'void_pending', 'expire_pending')),
    pending_id         INTEGER REFERENCES transfers (id),
    ref                TEXT    NOT NULL DEFAULT '',
    memo               TEXT    NOT NULL DEFAULT '',
    timeout_ms         INTEGER NOT NULL DEFAULT 0 CHECK (timeout_ms >= 0),
    created_at         INTEGER NOT NULL,
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
CREATE INDEX transfers_pending_timeouts ON transfers (created_at + timeout_ms)
    WHERE flag = 'pending' AND timeout_ms > 0;

-- The journal is append-only: rows can be neither changed nor removed through SQL.
CREATE TRIGGER transfers_are_immutable BEFORE UPDATE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END;
CREATE TRIGGER transfers_are_permanent BEFORE DELETE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END;
