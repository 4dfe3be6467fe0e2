-- Payment requests expire: an open request can be paid until expires_at (unix ms), and
-- not from then on. (PostgreSQL's dialect of sqlite/migrations/0011_payment_request_expiry.sql.)
-- Expiry is not a state of its own: a request is expired when it is still open and the
-- clock has reached expires_at, so nothing has to run at the deadline for a late payment
-- to be refused (the paying operation checks it in its transaction).
--
-- Requests made before this migration get the default validity, 7 days from when they
-- were made. A row inserted without an expiry (0) is expired: it fails safe.
ALTER TABLE payment_requests ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;

DROP TRIGGER payment_requests_settled_once ON payment_requests;
DROP TRIGGER payment_requests_terms_fixed ON payment_requests;
UPDATE payment_requests SET expires_at = created_at + 7 * 24 * 3600 * 1000;

-- Paid or cancelled is final; the terms of a request, its expiry included, never change.
CREATE TRIGGER payment_requests_settled_once BEFORE UPDATE ON payment_requests
    FOR EACH ROW WHEN (OLD.state <> 'open')
    EXECUTE FUNCTION wallet_refuse('a payment request is paid or cancelled once');
CREATE TRIGGER payment_requests_terms_fixed BEFORE UPDATE OF token, requester_id, amount, memo,
    created_at, expires_at ON payment_requests
    FOR EACH ROW EXECUTE FUNCTION wallet_refuse('the terms of a payment request do not change');
