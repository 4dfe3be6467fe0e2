-- The payment guard: payments held for admin review, password-free payment marks, and
-- indexes for the facts the risk engine needs (what a person sent today and lately, and
-- their recent red-packet grabs). (PostgreSQL's dialect of sqlite/migrations/0005_holds.sql.)

-- A payment the risk engine held: its money is reserved by a pending transfer (no
-- timeout) until an admin approves (posts) or rejects (voids) it, exactly once.
CREATE TABLE held_payments (
    id                   BIGSERIAL PRIMARY KEY,
    pending_transfer_id  BIGINT  NOT NULL UNIQUE REFERENCES transfers (id),
    payer_account_id     BIGINT  NOT NULL REFERENCES accounts (id),
    credit_account_id    BIGINT  NOT NULL REFERENCES accounts (id),
    amount               BIGINT  NOT NULL CHECK (amount > 0),
    kind                 TEXT    NOT NULL,
    reasons              TEXT    NOT NULL DEFAULT '[]',   -- JSON list of risk reason codes
    state                TEXT    NOT NULL DEFAULT 'open'
                             CHECK (state IN ('open', 'approved', 'rejected')),
    created_at           BIGINT  NOT NULL,                -- unix ms
    decided_by           BIGINT,                          -- the admin's Telegram id
    decided_at           BIGINT,                          -- unix ms
    CHECK ((state = 'open') = (decided_by IS NULL AND decided_at IS NULL))
);
CREATE INDEX held_payments_open ON held_payments (id) WHERE state = 'open';

-- A decision is final, and the review queue keeps every item it ever had.
-- A trigger that refuses the change it fires on, saying why (its argument).
CREATE FUNCTION wallet_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER held_payments_decided_once BEFORE UPDATE ON held_payments
    FOR EACH ROW WHEN (OLD.state <> 'open')
    EXECUTE FUNCTION wallet_refuse('a held payment is decided once');
CREATE TRIGGER held_payments_are_permanent BEFORE DELETE ON held_payments
    FOR EACH ROW EXECUTE FUNCTION wallet_refuse('held payments are kept');
CREATE TRIGGER held_payments_are_kept BEFORE TRUNCATE ON held_payments
    FOR EACH STATEMENT EXECUTE FUNCTION wallet_refuse('held payments are kept');

-- Payments made without a PIN, by the idempotency key of their transfer. The mark is
-- written before the money moves; it counts only once a live transfer has that key.
CREATE TABLE password_free_payments (
    transfer_key  TEXT    PRIMARY KEY,
    telegram_id   BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL
);

CREATE INDEX transfers_by_debit_time ON transfers (debit_account_id, created_at);
CREATE INDEX transfers_grabs_by_time ON transfers (credit_account_id, created_at)
    WHERE kind = 'redpacket_grab';
