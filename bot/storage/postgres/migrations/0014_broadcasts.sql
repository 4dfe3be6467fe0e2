-- Broadcasts: an admin's message to everyone who opened the bot's private chat.
-- (PostgreSQL's dialect of sqlite/migrations/0014_broadcasts.sql: the same tables and rules.)
--
-- A broadcast and one row per recipient are written before anything is sent, so a
-- restart continues where it stopped. A recipient's state:
--   pending  not sent yet;
--   sending  claimed by a sender, its answer not recorded yet;
--   sent | blocked (403) | failed   final.
CREATE TABLE broadcasts (
    id                   BIGSERIAL PRIMARY KEY,
    key                  TEXT    NOT NULL UNIQUE,  -- the confirmation's id: begun once
    admin_id             BIGINT  NOT NULL,
    text                 TEXT    NOT NULL CHECK (char_length(text) BETWEEN 1 AND 4096),
    total                INTEGER NOT NULL CHECK (total >= 0),
    finished             BOOLEAN NOT NULL DEFAULT FALSE,
    progress_chat_id     BIGINT,
    progress_message_id  BIGINT,
    created_at           BIGINT  NOT NULL,  -- unix ms
    finished_at          BIGINT,
    CHECK (finished = (finished_at IS NOT NULL))
);
CREATE INDEX broadcasts_unfinished ON broadcasts (id) WHERE NOT finished;

CREATE TABLE broadcast_recipients (
    broadcast_id  BIGINT  NOT NULL REFERENCES broadcasts (id),
    telegram_id   BIGINT  NOT NULL,
    state         TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'sending', 'sent', 'blocked', 'failed')),
    PRIMARY KEY (broadcast_id, telegram_id)
);
CREATE INDEX broadcast_recipients_by_state ON broadcast_recipients (broadcast_id, state);

-- A final state stays final: a recipient is sent a broadcast at most once.
CREATE FUNCTION broadcast_recipient_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a broadcast reaches a recipient once' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER broadcast_recipient_final BEFORE UPDATE OF state ON broadcast_recipients
    FOR EACH ROW WHEN (OLD.state IN ('sent', 'blocked', 'failed'))
    EXECUTE FUNCTION broadcast_recipient_final();

-- People who blocked the bot: Telegram refused (403) a broadcast to them, or told the
-- bot (my_chat_member). Later broadcasts leave them out, until they unblock it.
CREATE TABLE broadcast_unreachable (
    telegram_id   BIGINT  PRIMARY KEY,
    since         BIGINT  NOT NULL,  -- unix ms
    broadcast_id  BIGINT  REFERENCES broadcasts (id)  -- NULL: Telegram told the bot
);
