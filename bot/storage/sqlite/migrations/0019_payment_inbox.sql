-- Updates that bring money in (a successful payment), kept before Telegram is told the
-- bot has them: a bot killed before it credited one finds it here when it starts again.
CREATE TABLE payment_inbox (
    update_id    INTEGER PRIMARY KEY,
    body         TEXT    NOT NULL,  -- the update as Telegram sent it (JSON)
    received_at  INTEGER NOT NULL
);
