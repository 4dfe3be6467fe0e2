-- A split bill's share is a payment request for one person: only they may pay it
-- (bot.domain.requests.check_payable); NULL for a request anyone may pay (/request).
ALTER TABLE payment_requests ADD COLUMN payer_for BIGINT REFERENCES users (telegram_id);
