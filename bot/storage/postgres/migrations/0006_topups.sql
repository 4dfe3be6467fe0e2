-- Top-ups by Telegram Payments: the server side of each invoice the bot sends.
-- (PostgreSQL's dialect of sqlite/migrations/0006_topups.sql.)
--
-- The invoice payload is the row's random id and nothing else, so a pre-checkout query
-- is checked against this row (payer, amount, currency, expiry, not paid yet). The money
-- itself moves by a ledger transfer external -> user whose idempotency key is derived
-- from telegram_payment_charge_id; the row is marked paid in the same transaction.

CREATE TABLE topups (
    id                  TEXT    PRIMARY KEY,          -- the invoice payload: opaque, random
    telegram_id         BIGINT  NOT NULL REFERENCES users (telegram_id),
    amount              BIGINT  NOT NULL CHECK (amount > 0),
    currency            TEXT    NOT NULL,
    state               TEXT    NOT NULL DEFAULT 'open'
                            CHECK (state IN ('open', 'paid', 'expired')),
    created_at          BIGINT  NOT NULL,             -- unix ms
    expires_at          BIGINT  NOT NULL,             -- unix ms
    telegram_charge_id  TEXT    UNIQUE,               -- telegram_payment_charge_id
    provider_charge_id  TEXT,                         -- provider_payment_charge_id
    transfer_id         BIGINT  UNIQUE REFERENCES transfers (id),
    paid_at             BIGINT,                       -- unix ms
    CHECK (expires_at > created_at),
    CHECK ((state = 'paid') = (telegram_charge_id IS NOT NULL AND transfer_id IS NOT NULL
                               AND paid_at IS NOT NULL))
);
CREATE INDEX topups_open_by_person ON topups (telegram_id, expires_at) WHERE state = 'open';

-- Paid is final, and every invoice the bot ever sent stays on record.
CREATE TRIGGER topups_paid_once BEFORE UPDATE ON topups
    FOR EACH ROW WHEN (OLD.state = 'paid')
    EXECUTE FUNCTION wallet_refuse('a paid top-up is final');
CREATE TRIGGER topups_are_permanent BEFORE DELETE ON topups
    FOR EACH ROW EXECUTE FUNCTION wallet_refuse('top-ups are kept');
CREATE TRIGGER topups_are_kept BEFORE TRUNCATE ON topups
    FOR EACH STATEMENT EXECUTE FUNCTION wallet_refuse('top-ups are kept');
