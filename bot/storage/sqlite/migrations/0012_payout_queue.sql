-- The admin payout queue of the manual payout gateway (WALLET_PAYOUT_GATEWAY=manual).
--
-- One row per payout request id (a withdrawal's request_id):
--   queued    waiting for an admin to pay it by bank transfer;
--   paid      an admin paid it; note is the bank's reference. Final.
--   rejected  an admin refused it, nothing was paid; note is the reason. Final.
--   closed    the gateway was asked about the id before the request arrived: the id is
--             closed, a late request with it is never queued. Final.
-- The card is kept as its last four digits only; the number stays encrypted in
-- credentials.
CREATE TABLE payout_queue (
    id           INTEGER PRIMARY KEY,
    request_id   TEXT    NOT NULL UNIQUE,
    card_last4   TEXT    NOT NULL DEFAULT '',
    amount       INTEGER NOT NULL DEFAULT 0 CHECK (typeof(amount) = 'integer' AND amount >= 0),
    currency     TEXT    NOT NULL DEFAULT '',
    state        TEXT    NOT NULL CHECK (state IN ('queued', 'paid', 'rejected', 'closed')),
    note         TEXT    NOT NULL DEFAULT '',  -- the bank reference, or the reason
    created_at   INTEGER NOT NULL,  -- unix ms
    decided_by   INTEGER,           -- the admin's Telegram id
    decided_at   INTEGER,
    CHECK ((state IN ('paid', 'rejected')) = (decided_by IS NOT NULL AND decided_at IS NOT NULL)),
    CHECK (state = 'closed' OR amount > 0),
    CHECK (state NOT IN ('paid', 'rejected') OR note <> '')
);
CREATE INDEX payout_queue_waiting ON payout_queue (id) WHERE state = 'queued';

-- A decision is final, and the queue keeps every request it ever had.
CREATE TRIGGER payout_queue_decided_once BEFORE UPDATE ON payout_queue
WHEN OLD.state <> 'queued'
BEGIN SELECT RAISE(ABORT, 'a payout is decided once'); END;
CREATE TRIGGER payout_queue_is_permanent BEFORE DELETE ON payout_queue
BEGIN SELECT RAISE(ABORT, 'payouts are kept'); END;
