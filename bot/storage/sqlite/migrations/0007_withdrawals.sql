-- Withdrawals to the bound bank card, through the payout gateway.
--
-- The money is reserved by a pending transfer (user -> external, no timeout: an expiry
-- could give back money the gateway paid) before the gateway is called, and the row says
-- where the payout stands:
--   held       the risk guard held it: an admin approves (the reservation is posted, and
--              the payout follows) or rejects it (voided: the money is back);
--   requested  the reservation is made; the gateway was, or is about to be, asked;
--   unknown    the gateway gave no final answer (a timeout, or "pending"): its status is
--              asked later, by the recovery sweep;
--   paid       the gateway paid: the reservation is posted. Final.
--   failed     nothing was paid: the reservation is voided (or, after an approved hold,
--              refunded by a new transfer). Final.
CREATE TABLE withdrawals (
    id                   INTEGER PRIMARY KEY,
    telegram_id          INTEGER NOT NULL,
    account_id           INTEGER NOT NULL REFERENCES accounts (id),
    amount               INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
    currency             TEXT    NOT NULL,
    card_last4           TEXT    NOT NULL,
    pending_transfer_id  INTEGER NOT NULL UNIQUE REFERENCES transfers (id),
    request_id           TEXT    NOT NULL UNIQUE,  -- the gateway's idempotency key
    state                TEXT    NOT NULL
                             CHECK (state IN ('held', 'requested', 'unknown', 'paid', 'failed')),
    reason               TEXT    NOT NULL DEFAULT '',  -- why it failed (the gateway's code)
    settled_transfer_id  INTEGER REFERENCES transfers (id),  -- the post, void or refund
    told                 INTEGER NOT NULL DEFAULT 0 CHECK (told IN (0, 1)),  -- owner told
    created_at           INTEGER NOT NULL,  -- unix ms
    updated_at           INTEGER NOT NULL,
    CHECK ((state IN ('paid', 'failed')) OR told = 0)
);
-- the ones the recovery sweep looks at
CREATE INDEX withdrawals_open ON withdrawals (updated_at)
    WHERE state IN ('held', 'requested', 'unknown');
-- settled ones whose owner has not been told yet
CREATE INDEX withdrawals_untold ON withdrawals (id) WHERE told = 0 AND state IN ('paid', 'failed');

-- A final state stays final, and withdrawals are kept.
CREATE TRIGGER withdrawals_settle_once BEFORE UPDATE OF state ON withdrawals
WHEN OLD.state IN ('paid', 'failed') AND NEW.state <> OLD.state
BEGIN SELECT RAISE(ABORT, 'a withdrawal is settled once'); END;
CREATE TRIGGER withdrawals_are_permanent BEFORE DELETE ON withdrawals
BEGIN SELECT RAISE(ABORT, 'withdrawals are kept'); END;
