-- The people the bot knows: anyone who used it in any chat. Each has a wallet account.

CREATE TABLE users (
    telegram_id    BIGINT  PRIMARY KEY,
    account_id     BIGINT  NOT NULL UNIQUE REFERENCES accounts (id),
    username       TEXT,                           -- without '@'; NULL when they have none
    first_name     TEXT    NOT NULL DEFAULT '',
    language_code  TEXT    NOT NULL DEFAULT '',    -- what Telegram says
    language       TEXT,                           -- chosen with /lang; NULL follows Telegram
    private_chat   BOOLEAN NOT NULL DEFAULT FALSE, -- once they opened the bot's private chat
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL
);

-- a username belongs to one person at a time (lookups ignore case, as Telegram does)
CREATE UNIQUE INDEX users_by_username ON users (lower(username)) WHERE username IS NOT NULL;
