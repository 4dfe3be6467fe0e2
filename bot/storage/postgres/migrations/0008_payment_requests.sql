-- Payment requests (/request, and the shares of /split): someone asks for an amount, and
-- whoever opens the link pays it, once.
-- (PostgreSQL's dialect of sqlite/migrations/0008_payment_requests.sql.)
--
-- The token is the request's whole identity in its link (t.me/<bot>?start=pay_<token>):
-- random and unguessable. Paying is one transaction that locks the open request, moves
-- the money by a transfer whose idempotency key is 'request:<token>' and marks the request
-- paid with the payer and that key; cancelling is a conditional update of an open request.
-- So a request is paid at most once, or cancelled, never both.

CREATE TABLE payment_requests (
    token          TEXT    PRIMARY KEY,
    requester_id   BIGINT  NOT NULL REFERENCES users (telegram_id),
    amount         BIGINT  NOT NULL CHECK (amount > 0),
    memo           TEXT    NOT NULL DEFAULT '',
    state          TEXT    NOT NULL DEFAULT 'open'
                       CHECK (state IN ('open', 'paid', 'cancelled')),
    created_at     BIGINT  NOT NULL,                  -- unix ms
    paid_by        BIGINT  REFERENCES users (telegram_id),
    transfer_key   TEXT    UNIQUE,                    -- the paying transfer's key
    settled_at     BIGINT,                            -- paid or cancelled, unix ms
    CHECK ((state = 'paid') = (paid_by IS NOT NULL AND transfer_key IS NOT NULL)),
    CHECK ((state = 'open') = (settled_at IS NULL)),
    CHECK (paid_by IS NULL OR paid_by <> requester_id)
);
CREATE INDEX payment_requests_by_requester ON payment_requests (requester_id, created_at);

-- Paid or cancelled is final; the terms of a request never change; requests are kept.
CREATE TRIGGER payment_requests_settled_once BEFORE UPDATE ON payment_requests
    FOR EACH ROW WHEN (OLD.state <> 'open')
    EXECUTE FUNCTION wallet_refuse('a payment request is paid or cancelled once');
CREATE TRIGGER payment_requests_terms_fixed BEFORE UPDATE OF token, requester_id, amount, memo,
    created_at ON payment_requests
    FOR EACH ROW EXECUTE FUNCTION wallet_refuse('the terms of a payment request do not change');
CREATE TRIGGER payment_requests_are_permanent BEFORE DELETE ON payment_requests
    FOR EACH ROW EXECUTE FUNCTION wallet_refuse('payment requests are kept');
CREATE TRIGGER payment_requests_are_kept BEFORE TRUNCATE ON payment_requests
    FOR EACH STATEMENT EXECUTE FUNCTION wallet_refuse('payment requests are kept');
