-- The payment guard: payments held for admin review, password-free payment marks, and
-- indexes for the facts the risk engine needs (what a person sent today and lately, and
-- their recent red-packet grabs).

-- A payment the risk engine held: its money is reserved by a pending transfer (no
-- timeout) until an admin approves (posts) or rejects (voids) it, exactly once.
CREATE TABLE held_payments (
    id                   INTEGER PRIMARY KEY,
    pending_transfer_id  INTEGER NOT NULL UNIQUE REFERENCES transfers (id),
    payer_account_id     INTEGER NOT NULL REFERENCES accounts (id),
    credit_account_id    INTEGER NOT NULL REFERENCES accounts (id),
    amount               INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
    kind                 TEXT    NOT NULL,
    reasons              TEXT    NOT NULL DEFAULT '[]',   -- JSON list of risk reason codes
    state                TEXT    NOT NULL DEFAULT 'open'
                             CHECK (state IN ('open', 'approved', 'rejected')),
    created_at           INTEGER NOT NULL,                -- unix ms
    decided_by           INTEGER,                         -- the admin's Telegram id
    decided_at           INTEGER,                         -- unix ms
    CHECK ((state = 'open') = (decided_by IS NULL AND decided_at IS NULL))
);
CREATE INDEX held_payments_open ON held_payments (id) WHERE state = 'open';

-- A decision is final, and the review queue keeps every item it ever had.
CREATE TRIGGER held_payments_decided_once BEFORE UPDATE ON held_payments
WHEN OLD.state <> 'open'
BEGIN SELECT RAISE(ABORT, 'a held payment is decided once'); END;
CREATE TRIGGER held_payments_are_permanent BEFORE DELETE ON held_payments
BEGIN SELECT RAISE(ABORT, 'held payments are kept'); END;

-- Payments made without a PIN, by the idempotency key of their transfer. The mark is
-- written before the money moves; it counts only once a live transfer has that key.
CREATE TABLE password_free_payments (
    transfer_key  TEXT    PRIMARY KEY,
    telegram_id   INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE INDEX transfers_by_debit_time ON transfers (debit_account_id, created_at);
CREATE INDEX transfers_grabs_by_time ON transfers (credit_account_id, created_at)
    WHERE kind = 'redpacket_grab';
