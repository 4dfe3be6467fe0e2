-- Payment requests (/request, and the shares of /split): someone asks for an amount, and
-- whoever opens the link pays it, once.
--
-- The token is the request's whole identity in its link (t.me/<bot>?start=pay_<token>):
-- random and unguessable. Paying is one transaction that finds the request open, moves the
-- money by a transfer whose idempotency key is 'request:<token>' and marks the request paid
-- with the payer and that key; cancelling is a conditional update of an open request. So a
-- request is paid at most once, or cancelled, never both.

CREATE TABLE payment_requests (
    token          TEXT    PRIMARY KEY,
    requester_id   INTEGER NOT NULL REFERENCES users (telegram_id),
    amount         INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
    memo           TEXT    NOT NULL DEFAULT '',
    state          TEXT    NOT NULL DEFAULT 'open'
                       CHECK (state IN ('open', 'paid', 'cancelled')),
    created_at     INTEGER NOT NULL,                  -- unix ms
    paid_by        INTEGER REFERENCES users (telegram_id),
    transfer_key   TEXT    UNIQUE,                    -- the paying transfer's key
    settled_at     INTEGER,                           -- paid or cancelled, unix ms
    CHECK ((state = 'paid') = (paid_by IS NOT NULL AND transfer_key IS NOT NULL)),
    CHECK ((state = 'open') = (settled_at IS NULL)),
    CHECK (paid_by IS NULL OR paid_by <> requester_id)
);
CREATE INDEX payment_requests_by_requester ON payment_requests (requester_id, created_at);

-- Paid or cancelled is final; the terms of a request never change; requests are kept.
CREATE TRIGGER payment_requests_settled_once BEFORE UPDATE ON payment_requests
WHEN OLD.state <> 'open'
BEGIN SELECT RAISE(ABORT, 'a payment request is paid or cancelled once'); END;
CREATE TRIGGER payment_requests_terms_fixed BEFORE UPDATE OF token, requester_id, amount, memo,
    created_at ON payment_requests
BEGIN SELECT RAISE(ABORT, 'the terms of a payment request do not change'); END;
CREATE TRIGGER payment_requests_are_permanent BEFORE DELETE ON payment_requests
BEGIN SELECT RAISE(ABORT, 'payment requests are kept'); END;
