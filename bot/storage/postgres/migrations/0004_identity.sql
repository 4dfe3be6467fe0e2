-- Real-name verification, bound bank cards and password-free small payments.
-- Names, ID numbers and card numbers are AES-GCM tokens bound to their row; the *_index
-- columns are HMAC blind indexes for exact look-ups without decrypting.

CREATE TABLE identities (
    telegram_id  BIGINT  PRIMARY KEY REFERENCES users (telegram_id),
    real_name    TEXT    NOT NULL,
    id_number    TEXT    NOT NULL,
    id_index     TEXT    NOT NULL UNIQUE,   -- one ID number per wallet
    verified_at  BIGINT  NOT NULL
);

CREATE TABLE bank_cards (
    telegram_id  BIGINT  PRIMARY KEY REFERENCES users (telegram_id),
    card_number  TEXT    NOT NULL,
    card_index   TEXT    NOT NULL,
    last4        TEXT    NOT NULL,          -- what the masked form shows: **** 1234
    bound_at     BIGINT  NOT NULL
);

ALTER TABLE credentials ADD COLUMN nopin_per_payment BIGINT NOT NULL DEFAULT 0;
ALTER TABLE credentials ADD COLUMN nopin_daily BIGINT NOT NULL DEFAULT 0;
