-- Merchants, their one-time charges, the payments they receive (with the transfer of each
-- leg, so refunds know what they may give back), their refunds, and customers' pay codes.
-- (PostgreSQL's dialect of sqlite/migrations/0017_merchants.sql: the same tables and rules.)
--
-- A merchant has its own account ('merchant:<owner telegram id>', kind 'merchant') and a
-- static collection token (t.me/<bot>?start=pay_<token>). A payment is one ledger
-- operation under its key; each leg's refund is a 'payment_refund' transfer whose ref is
-- 'refund:<leg transfer id>' (what is left of a leg is summed from the journal, so an
-- admin's /refund and the merchant's refund share one bound).

CREATE TABLE merchants (
    id          BIGSERIAL PRIMARY KEY,
    owner_id    BIGINT  NOT NULL UNIQUE REFERENCES users (telegram_id),
    account_id  BIGINT  NOT NULL UNIQUE REFERENCES accounts (id),
    name        TEXT    NOT NULL CHECK (char_length(name) BETWEEN 1 AND 40),
    category    TEXT    NOT NULL CHECK (char_length(category) BETWEEN 1 AND 24),
    token       TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE merchant_payments (
    id                    BIGSERIAL PRIMARY KEY,
    key                   TEXT    NOT NULL UNIQUE,     -- the ledger operation's key
    merchant_id           BIGINT  NOT NULL REFERENCES merchants (id),
    payer_id              BIGINT  NOT NULL REFERENCES users (telegram_id),
    price                 BIGINT  NOT NULL CHECK (price > 0),
    own                   BIGINT  NOT NULL CHECK (own >= 0),
    discount              BIGINT  NOT NULL DEFAULT 0 CHECK (discount >= 0),
    coupon_id             BIGINT,
    via                   TEXT    NOT NULL CHECK (via IN ('qr', 'charge', 'paycode')),
    ref                   TEXT    NOT NULL DEFAULT '',
    created_at            BIGINT  NOT NULL,
    own_transfer_id       BIGINT  REFERENCES transfers (id),
    discount_transfer_id  BIGINT  REFERENCES transfers (id),
    CHECK (own <= price AND discount <= price)
);
CREATE INDEX merchant_payments_by_merchant ON merchant_payments (merchant_id, created_at);

CREATE TABLE merchant_payment_vouchers (
    payment_id   BIGINT  NOT NULL REFERENCES merchant_payments (id),
    voucher_id   BIGINT  NOT NULL,
    amount       BIGINT  NOT NULL CHECK (amount > 0),
    transfer_id  BIGINT  NOT NULL REFERENCES transfers (id),
    PRIMARY KEY (payment_id, voucher_id)
);

CREATE TABLE merchant_charges (
    token       TEXT    PRIMARY KEY,
    merchant_id BIGINT  NOT NULL REFERENCES merchants (id),
    amount      BIGINT  NOT NULL CHECK (amount > 0),
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    payment_id  BIGINT  UNIQUE REFERENCES merchant_payments (id)
);

-- Paid is final.
CREATE FUNCTION merchant_charges_paid_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a charge is paid once' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER merchant_charges_paid_once BEFORE UPDATE ON merchant_charges
    FOR EACH ROW WHEN (OLD.payment_id IS NOT NULL) EXECUTE FUNCTION merchant_charges_paid_once();

CREATE TABLE merchant_refunds (
    id             BIGSERIAL PRIMARY KEY,
    key            TEXT    NOT NULL UNIQUE,
    payment_id     BIGINT  NOT NULL REFERENCES merchant_payments (id),
    amount         BIGINT  NOT NULL CHECK (amount > 0),
    own            BIGINT  NOT NULL CHECK (own >= 0),
    voucher        BIGINT  NOT NULL CHECK (voucher >= 0),
    discount_back  BIGINT  NOT NULL DEFAULT 0 CHECK (discount_back >= 0),
    created_at     BIGINT  NOT NULL,
    CHECK (own + voucher = amount)
);
CREATE INDEX merchant_refunds_by_payment ON merchant_refunds (payment_id);

-- A customer's pay code, kept by its keyed digest (never the code), used once.
CREATE TABLE pay_codes (
    digest       TEXT    PRIMARY KEY,
    payer_id     BIGINT  NOT NULL REFERENCES users (telegram_id),
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    used_at      BIGINT,
    merchant_id  BIGINT  REFERENCES merchants (id),
    CHECK ((used_at IS NULL) = (merchant_id IS NULL))
);
CREATE INDEX pay_codes_by_expiry ON pay_codes (expires_at);

CREATE FUNCTION pay_codes_used_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a pay code is used once' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER pay_codes_used_once BEFORE UPDATE ON pay_codes
    FOR EACH ROW WHEN (OLD.used_at IS NOT NULL) EXECUTE FUNCTION pay_codes_used_once();
