-- Withdrawals to the bound bank card, through the payout gateway.
-- (PostgreSQL's dialect of sqlite/migrations/0007_withdrawals.sql, and a sweep lease.)
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
--
-- swept_until: several bot processes sweep at once, so a sweep takes the withdrawals it
-- will look at (FOR UPDATE SKIP LOCKED) and leases them until then (unix ms); another
-- sweep passes them by. A new withdrawal is leased to the process that pays it out. The
-- lease ends when its holder records what it learnt (checked, unknown, settled), or by
-- itself when the process died.
CREATE TABLE withdrawals (
    id                   BIGSERIAL PRIMARY KEY,
    telegram_id          BIGINT  NOT NULL,
    account_id           BIGINT  NOT NULL REFERENCES accounts (id),
    amount               BIGINT  NOT NULL CHECK (amount > 0),
    currency             TEXT    NOT NULL,
    card_last4           TEXT    NOT NULL,
    pending_transfer_id  BIGINT  NOT NULL UNIQUE REFERENCES transfers (id),
    request_id           TEXT    NOT NULL UNIQUE,  -- the gateway's idempotency key
    state                TEXT    NOT NULL
                             CHECK (state IN ('held', 'requested', 'unknown', 'paid', 'failed')),
    reason               TEXT    NOT NULL DEFAULT '',  -- why it failed (the gateway's code)
    settled_transfer_id  BIGINT  REFERENCES transfers (id),  -- the post, void or refund
    told                 BOOLEAN NOT NULL DEFAULT FALSE,  -- the owner was told
    created_at           BIGINT  NOT NULL,  -- unix ms
    updated_at           BIGINT  NOT NULL,
    swept_until          BIGINT  NOT NULL DEFAULT 0,  -- a sweep's lease, unix ms
    CHECK ((state IN ('paid', 'failed')) OR NOT told)
);
-- the ones the recovery sweep looks at
CREATE INDEX withdrawals_open ON withdrawals (updated_at)
    WHERE state IN ('held', 'requested', 'unknown');
-- settled ones whose owner has not been told yet
CREATE INDEX withdrawals_untold ON withdrawals (id)
    WHERE NOT told AND state IN ('paid', 'failed');

-- A final state stays final, and withdrawals are kept.
CREATE TRIGGER withdrawals_settle_once BEFORE UPDATE OF state ON withdrawals
    FOR EACH ROW WHEN (OLD.state IN ('paid', 'failed') AND NEW.state <> OLD.state)
    EXECUTE FUNCTION wallet_refuse('a withdrawal is settled once');
CREATE TRIGGER withdrawals_are_permanent BEFORE DELETE ON withdrawals
    FOR EACH ROW EXECUTE FUNCTION wallet_refuse('withdrawals are kept');
CREATE TRIGGER withdrawals_are_kept BEFORE TRUNCATE ON withdrawals
    FOR EACH STATEMENT EXECUTE FUNCTION wallet_refuse('withdrawals are kept');
