-- Broadcasts: an admin's message to everyone who opened the bot's private chat.
--
-- A broadcast and one row per recipient are written before anything is sent, so a
-- restart continues where it stopped. A recipient's state:
--   pending  not sent yet;
--   sending  claimed by the sender, its answer not recorded yet (a claim a stopped
--            process left behind is closed 'failed': sending again could repeat it);
--   sent | blocked (403) | failed   final.
CREATE TABLE broadcasts (
    id                   INTEGER PRIMARY KEY,
    key                  TEXT    NOT NULL UNIQUE,  -- the confirmation's id: begun once
    admin_id             INTEGER NOT NULL,
    text                 TEXT    NOT NULL CHECK (length(text) BETWEEN 1 AND 4096),
    total                INTEGER NOT NULL CHECK (total >= 0),
    finished             INTEGER NOT NULL DEFAULT 0 CHECK (finished IN (0, 1)),
    progress_chat_id     INTEGER,
    progress_message_id  INTEGER,
    created_at           INTEGER NOT NULL,  -- unix ms
    finished_at          INTEGER,
    CHECK (finished = (finished_at IS NOT NULL))
);
CREATE INDEX broadcasts_unfinished ON broadcasts (id) WHERE finished = 0;

CREATE TABLE broadcast_recipients (
    broadcast_id  INTEGER NOT NULL REFERENCES broadcasts (id),
    telegram_id   INTEGER NOT NULL,
    state         TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'sending', 'sent', 'blocked', 'failed')),
    PRIMARY KEY (broadcast_id, telegram_id)
) WITHOUT ROWID;
CREATE INDEX broadcast_recipients_by_state ON broadcast_recipients (broadcast_id, state);

-- A final state stays final: a recipient is sent a broadcast at most once.
CREATE TRIGGER broadcast_recipient_final BEFORE UPDATE OF state ON broadcast_recipients
WHEN OLD.state IN ('sent', 'blocked', 'failed')
BEGIN SELECT RAISE(ABORT, 'a broadcast reaches a recipient once'); END;

-- People who blocked the bot: Telegram refused (403) a broadcast to them, or told the
-- bot (my_chat_member). Later broadcasts leave them out, until they unblock it.
CREATE TABLE broadcast_unreachable (
    telegram_id   INTEGER PRIMARY KEY,
    since         INTEGER NOT NULL,  -- unix ms
    broadcast_id  INTEGER REFERENCES broadcasts (id)  -- NULL: Telegram told the bot
);
