-- Coupons and promotions, consumption vouchers and loyalty points (bot.domain.promotions,
-- bot.domain.vouchers, bot.domain.points). Money never lives here: a campaign's discounts
-- are paid by the 'promotions' account, vouchers' unspent value sits in 'escrow:vouchers';
-- these tables say whose it is and what is left, and the audit checks that the escrow's
-- balance equals the remaining value of the live vouchers.

CREATE TABLE campaigns (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL,
    rule            TEXT    NOT NULL CHECK (rule IN ('spend_off', 'percent_off')),
    min_spend_fen   INTEGER NOT NULL CHECK (min_spend_fen >= 0),
    off_fen         INTEGER NOT NULL CHECK (off_fen >= 0),
    percent         INTEGER NOT NULL CHECK (percent BETWEEN 0 AND 99),
    cap_fen         INTEGER NOT NULL CHECK (cap_fen >= 0),
    budget_fen      INTEGER NOT NULL CHECK (budget_fen > 0),
    spent_fen       INTEGER NOT NULL DEFAULT 0 CHECK (spent_fen BETWEEN 0 AND budget_fen),
    per_user_limit  INTEGER NOT NULL CHECK (per_user_limit >= 1),
    starts_at       INTEGER NOT NULL,
    ends_at         INTEGER NOT NULL CHECK (ends_at > starts_at),
    merchant_id     INTEGER,
    category        TEXT,
    points_cost     INTEGER NOT NULL DEFAULT 0 CHECK (points_cost >= 0),
    created_by      INTEGER NOT NULL,
    create_key      TEXT    NOT NULL UNIQUE
);

-- A coupon a person holds; used once (used_payment_id), never deleted.
CREATE TABLE coupons (
    id               INTEGER PRIMARY KEY,
    campaign_id      INTEGER NOT NULL REFERENCES campaigns (id),
    holder_id        INTEGER NOT NULL,
    grant_key        TEXT    NOT NULL,
    granted_at       INTEGER NOT NULL,
    used_payment_id  INTEGER UNIQUE,
    used_at          INTEGER,
    UNIQUE (grant_key, holder_id)
);
CREATE INDEX coupons_by_holder ON coupons (holder_id) WHERE used_payment_id IS NULL;

-- One row per payment a coupon paid part of: the per-person limit counts these.
CREATE TABLE coupon_redemptions (
    payment_id    INTEGER PRIMARY KEY,
    coupon_id     INTEGER NOT NULL UNIQUE REFERENCES coupons (id),
    campaign_id   INTEGER NOT NULL REFERENCES campaigns (id),
    holder_id     INTEGER NOT NULL,
    discount_fen  INTEGER NOT NULL CHECK (discount_fen > 0),
    created_at    INTEGER NOT NULL
);
CREATE INDEX coupon_redemptions_by_holder ON coupon_redemptions (holder_id, campaign_id);

-- One issue of vouchers (one ledger operation issuer -> escrow for the total).
CREATE TABLE voucher_issues (
    id           INTEGER PRIMARY KEY,
    issue_key    TEXT    NOT NULL UNIQUE,
    admin_id     INTEGER NOT NULL,
    amount_fen   INTEGER NOT NULL CHECK (amount_fen > 0),
    count        INTEGER NOT NULL CHECK (count > 0),
    categories   TEXT    NOT NULL,                -- 'all' or 'food,grocery'
    issued_at    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'expired')),
    escrow_id    INTEGER NOT NULL REFERENCES accounts (id),
    issuer_id    INTEGER NOT NULL REFERENCES accounts (id),
    transfer_id  INTEGER NOT NULL REFERENCES transfers (id),
    returned_fen INTEGER NOT NULL DEFAULT 0      -- what its expiry gave back to the issuer
);
CREATE INDEX voucher_issues_due ON voucher_issues (expires_at) WHERE state = 'live';

CREATE TABLE vouchers (
    id             INTEGER PRIMARY KEY,
    issue_id       INTEGER NOT NULL REFERENCES voucher_issues (id),
    holder_id      INTEGER NOT NULL,
    amount_fen     INTEGER NOT NULL CHECK (amount_fen > 0),
    remaining_fen  INTEGER NOT NULL CHECK (remaining_fen BETWEEN 0 AND amount_fen),
    categories     TEXT    NOT NULL,
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    state          TEXT    NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'expired')),
    UNIQUE (issue_id, holder_id)
);
CREATE INDEX vouchers_by_holder ON vouchers (holder_id) WHERE state = 'live';

-- What each payment took from each voucher, and what refunds gave back of it.
CREATE TABLE voucher_spends (
    payment_id    INTEGER NOT NULL,
    voucher_id    INTEGER NOT NULL REFERENCES vouchers (id),
    amount_fen    INTEGER NOT NULL CHECK (amount_fen > 0),
    returned_fen  INTEGER NOT NULL DEFAULT 0 CHECK (returned_fen BETWEEN 0 AND amount_fen),
    PRIMARY KEY (payment_id, voucher_id)
);

-- Each merchant payment's own money and the points it earned, for refunds to take back.
CREATE TABLE offer_payments (
    payment_id        INTEGER PRIMARY KEY,
    payer_id          INTEGER NOT NULL,
    own_fen           INTEGER NOT NULL CHECK (own_fen >= 0),
    own_refunded_fen  INTEGER NOT NULL DEFAULT 0,
    points            INTEGER NOT NULL CHECK (points >= 0),  -- what it holds now
    created_at        INTEGER NOT NULL
);

-- The points journal: every change of a person's points, never edited.
CREATE TABLE points_journal (
    id          INTEGER PRIMARY KEY,
    holder_id   INTEGER NOT NULL,
    points      INTEGER NOT NULL CHECK (points <> 0),
    reason      TEXT    NOT NULL CHECK (reason IN ('payment', 'refund', 'redeem')),
    payment_id  INTEGER,
    coupon_id   INTEGER,
    entry_key   TEXT    UNIQUE,
    created_at  INTEGER NOT NULL
);
CREATE INDEX points_by_holder ON points_journal (holder_id, created_at);
