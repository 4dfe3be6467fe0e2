-- Coupons and promotions, consumption vouchers and loyalty points (bot.domain.promotions,
-- bot.domain.vouchers, bot.domain.points). Money never lives here: a campaign's discounts
-- are paid by the 'promotions' account, vouchers' unspent value sits in 'escrow:vouchers';
-- these tables say whose it is and what is left, and the audit checks that the escrow's
-- balance equals the remaining value of the live vouchers.
-- (PostgreSQL's dialect of sqlite/migrations/0018_offers.sql: the same tables and rules.)

CREATE TABLE campaigns (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT    NOT NULL,
    rule            TEXT    NOT NULL CHECK (rule IN ('spend_off', 'percent_off')),
    min_spend_fen   BIGINT  NOT NULL CHECK (min_spend_fen >= 0),
    off_fen         BIGINT  NOT NULL CHECK (off_fen >= 0),
    percent         INTEGER NOT NULL CHECK (percent BETWEEN 0 AND 99),
    cap_fen         BIGINT  NOT NULL CHECK (cap_fen >= 0),
    budget_fen      BIGINT  NOT NULL CHECK (budget_fen > 0),
    spent_fen       BIGINT  NOT NULL DEFAULT 0 CHECK (spent_fen BETWEEN 0 AND budget_fen),
    per_user_limit  INTEGER NOT NULL CHECK (per_user_limit >= 1),
    starts_at       BIGINT  NOT NULL,
    ends_at         BIGINT  NOT NULL CHECK (ends_at > starts_at),
    merchant_id     BIGINT,
    category        TEXT,
    points_cost     BIGINT  NOT NULL DEFAULT 0 CHECK (points_cost >= 0),
    created_by      BIGINT  NOT NULL,
    create_key      TEXT    NOT NULL UNIQUE
);

-- A coupon a person holds; used once (used_payment_id), never deleted.
CREATE TABLE coupons (
    id               BIGSERIAL PRIMARY KEY,
    campaign_id      BIGINT  NOT NULL REFERENCES campaigns (id),
    holder_id        BIGINT  NOT NULL,
    grant_key        TEXT    NOT NULL,
    granted_at       BIGINT  NOT NULL,
    used_payment_id  BIGINT  UNIQUE,
    used_at          BIGINT,
    UNIQUE (grant_key, holder_id)
);
CREATE INDEX coupons_by_holder ON coupons (holder_id) WHERE used_payment_id IS NULL;

-- One row per payment a coupon paid part of: the per-person limit counts these.
CREATE TABLE coupon_redemptions (
    payment_id    BIGINT  PRIMARY KEY,
    coupon_id     BIGINT  NOT NULL UNIQUE REFERENCES coupons (id),
    campaign_id   BIGINT  NOT NULL REFERENCES campaigns (id),
    holder_id     BIGINT  NOT NULL,
    discount_fen  BIGINT  NOT NULL CHECK (discount_fen > 0),
    created_at    BIGINT  NOT NULL
);
CREATE INDEX coupon_redemptions_by_holder ON coupon_redemptions (holder_id, campaign_id);

-- One issue of vouchers (one ledger operation issuer -> escrow for the total).
CREATE TABLE voucher_issues (
    id           BIGSERIAL PRIMARY KEY,
    issue_key    TEXT    NOT NULL UNIQUE,
    admin_id     BIGINT  NOT NULL,
    amount_fen   BIGINT  NOT NULL CHECK (amount_fen > 0),
    count        INTEGER NOT NULL CHECK (count > 0),
    categories   TEXT    NOT NULL,                -- 'all' or 'food,grocery'
    issued_at    BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'expired')),
    escrow_id    BIGINT  NOT NULL REFERENCES accounts (id),
    issuer_id    BIGINT  NOT NULL REFERENCES accounts (id),
    transfer_id  BIGINT  NOT NULL REFERENCES transfers (id),
    returned_fen BIGINT  NOT NULL DEFAULT 0      -- what its expiry gave back to the issuer
);
CREATE INDEX voucher_issues_due ON voucher_issues (expires_at) WHERE state = 'live';

CREATE TABLE vouchers (
    id             BIGSERIAL PRIMARY KEY,
    issue_id       BIGINT  NOT NULL REFERENCES voucher_issues (id),
    holder_id      BIGINT  NOT NULL,
    amount_fen     BIGINT  NOT NULL CHECK (amount_fen > 0),
    remaining_fen  BIGINT  NOT NULL CHECK (remaining_fen BETWEEN 0 AND amount_fen),
    categories     TEXT    NOT NULL,
    issued_at      BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    state          TEXT    NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'expired')),
    UNIQUE (issue_id, holder_id)
);
CREATE INDEX vouchers_by_holder ON vouchers (holder_id) WHERE state = 'live';

-- What each payment took from each voucher, and what refunds gave back of it.
CREATE TABLE voucher_spends (
    payment_id    BIGINT  NOT NULL,
    voucher_id    BIGINT  NOT NULL REFERENCES vouchers (id),
    amount_fen    BIGINT  NOT NULL CHECK (amount_fen > 0),
    returned_fen  BIGINT  NOT NULL DEFAULT 0 CHECK (returned_fen BETWEEN 0 AND amount_fen),
    PRIMARY KEY (payment_id, voucher_id)
);

-- Each merchant payment's own money and the points it earned, for refunds to take back.
CREATE TABLE offer_payments (
    payment_id        BIGINT  PRIMARY KEY,
    payer_id          BIGINT  NOT NULL,
    own_fen           BIGINT  NOT NULL CHECK (own_fen >= 0),
    own_refunded_fen  BIGINT  NOT NULL DEFAULT 0,
    points            BIGINT  NOT NULL CHECK (points >= 0),  -- what it holds now
    created_at        BIGINT  NOT NULL
);

-- The points journal: every change of a person's points, never edited.
CREATE TABLE points_journal (
    id          BIGSERIAL PRIMARY KEY,
    holder_id   BIGINT  NOT NULL,
    points      BIGINT  NOT NULL CHECK (points <> 0),
    reason      TEXT    NOT NULL CHECK (reason IN ('payment', 'refund', 'redeem')),
    payment_id  BIGINT,
    coupon_id   BIGINT,
    entry_key   TEXT    UNIQUE,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX points_by_holder ON points_journal (holder_id, created_at);
