-- Updates that bring money in (a successful payment), kept before Telegram is told the
-- bot has them: a bot killed before it credited one finds it here when it starts again.
-- (PostgreSQL's dialect of sqlite/migrations/0019_payment_inbox.sql.)
CREATE TABLE payment_inbox (
    update_id    BIGINT  PRIMARY KEY,
    body         TEXT    NOT NULL,  -- the update as Telegram sent it (JSON)
    received_at  BIGINT  NOT NULL
);
