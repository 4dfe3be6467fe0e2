-- The admin payout queue of the manual payout gateway (WALLET_PAYOUT_GATEWAY=manual).
-- (PostgreSQL's dialect of sqlite/migrations/0012_payout_queue.sql.)
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
    id           BIGSERIAL PRIMARY KEY,
    request_id   TEXT    NOT NULL UNIQUE,
    card_last4   TEXT    NOT NULL DEFAULT '',
    amount       BIGINT  NOT NULL DEFAULT 0 CHECK (amount >= 0),
    currency     TEXT    NOT NULL DEFAULT '',
    state        TEXT    NOT NULL CHECK (state IN ('queued', 'paid', 'rejected', 'closed')),
    note         TEXT    NOT NULL DEFAULT '',  -- the bank reference, or the reason
    created_at   BIGINT  NOT NULL,  -- unix ms
    decided_by   BIGINT,            -- the admin's Telegram id
    decided_at   BIGINT,
    CHECK ((state IN ('paid', 'rejected')) = (decided_by IS NOT NULL AND decided_at IS NOT NULL)),
    CHECK (state = 'closed' OR amount > 0),
    CHECK (state NOT IN ('paid', 'rejected') OR note <> '')
);
CREATE INDEX payout_queue_waiting ON payout_queue (id) WHERE state = 'queued';

-- A decision is final, and the queue keeps every request it ever had.
CREATE TRIGGER payout_queue_decided_once BEFORE UPDATE ON payout_queue
    FOR EACH ROW WHEN (OLD.state <> 'queued')
    EXECUTE FUNCTION wallet_refuse('a payout is decided once');
CREATE TRIGGER payout_queue_is_permanent BEFORE DELETE ON payout_queue
    FOR EACH ROW EXECUTE FUNCTION wallet_refuse('payouts are kept');
CREATE TRIGGER payout_queue_is_kept BEFORE TRUNCATE ON payout_queue
    FOR EACH STATEMENT EXECUTE FUNCTION wallet_refuse('payouts are kept');
