-- Merchants, their one-time charges, the payments they receive (with the transfer of each
-- leg, so refunds know what they may give back), their refunds, and customers' pay codes.
--
-- A merchant has its own account ('merchant:<owner telegram id>', kind 'merchant') and a
-- static collection token (t.me/<bot>?start=pay_<token>). A payment is one ledger
-- operation under its key; each leg's refund is a 'payment_refund' transfer whose ref is
-- 'refund:<leg transfer id>' (what is left of a leg is summed from the journal, so an
-- admin's /refund and the merchant's refund share one bound).

CREATE TABLE merchants (
    id          INTEGER PRIMARY KEY,
    owner_id    INTEGER NOT NULL UNIQUE REFERENCES users (telegram_id),
    account_id  INTEGER NOT NULL UNIQUE REFERENCES accounts (id),
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 40),
    category    TEXT    NOT NULL CHECK (length(category) BETWEEN 1 AND 24),
    token       TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE merchant_payments (
    id                    INTEGER PRIMARY KEY,
    key                   TEXT    NOT NULL UNIQUE,     -- the ledger operation's key
    merchant_id           INTEGER NOT NULL REFERENCES merchants (id),
    payer_id              INTEGER NOT NULL REFERENCES users (telegram_id),
    price                 INTEGER NOT NULL CHECK (typeof(price) = 'integer' AND price > 0),
    own                   INTEGER NOT NULL CHECK (own >= 0),
    discount              INTEGER NOT NULL DEFAULT 0 CHECK (discount >= 0),
    coupon_id             INTEGER,
    via                   TEXT    NOT NULL CHECK (via IN ('qr', 'charge', 'paycode')),
    ref                   TEXT    NOT NULL DEFAULT '',
    created_at            INTEGER NOT NULL,
    own_transfer_id       INTEGER REFERENCES transfers (id),
    discount_transfer_id  INTEGER REFERENCES transfers (id),
    CHECK (own <= price AND discount <= price)
);
CREATE INDEX merchant_payments_by_merchant ON merchant_payments (merchant_id, created_at);

CREATE TABLE merchant_payment_vouchers (
    payment_id   INTEGER NOT NULL REFERENCES merchant_payments (id),
    voucher_id   INTEGER NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),
    transfer_id  INTEGER NOT NULL REFERENCES transfers (id),
    PRIMARY KEY (payment_id, voucher_id)
);

CREATE TABLE merchant_charges (
    token       TEXT    PRIMARY KEY,
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    amount      INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    payment_id  INTEGER UNIQUE REFERENCES merchant_payments (id)
);

-- Paid is final.
CREATE TRIGGER merchant_charges_paid_once BEFORE UPDATE ON merchant_charges
WHEN OLD.payment_id IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a charge is paid once'); END;

CREATE TABLE merchant_refunds (
    id             INTEGER PRIMARY KEY,
    key            TEXT    NOT NULL UNIQUE,
    payment_id     INTEGER NOT NULL REFERENCES merchant_payments (id),
    amount         INTEGER NOT NULL CHECK (amount > 0),
    own            INTEGER NOT NULL CHECK (own >= 0),
    voucher        INTEGER NOT NULL CHECK (voucher >= 0),
    discount_back  INTEGER NOT NULL DEFAULT 0 CHECK (discount_back >= 0),
    created_at     INTEGER NOT NULL,
    CHECK (own + voucher = amount)
);
CREATE INDEX merchant_refunds_by_payment ON merchant_refunds (payment_id);

-- A customer's pay code, kept by its keyed digest (never the code), used once.
CREATE TABLE pay_codes (
    digest       TEXT    PRIMARY KEY,
    payer_id     INTEGER NOT NULL REFERENCES users (telegram_id),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    merchant_id  INTEGER REFERENCES merchants (id),
    CHECK ((used_at IS NULL) = (merchant_id IS NULL))
);
CREATE INDEX pay_codes_by_expiry ON pay_codes (expires_at);

CREATE TRIGGER pay_codes_used_once BEFORE UPDATE ON pay_codes
WHEN OLD.used_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a pay code is used once'); END;
