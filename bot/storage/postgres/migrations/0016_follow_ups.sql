-- What the bot owes a chat after a restart (bot/domain/followups.py).
-- (PostgreSQL's dialect of sqlite/migrations/0016_follow_ups.sql.)
--
-- open_questions: the question a person (an admin) was asked in private chat, whose next
-- text message is the answer, one per person and topic; payload is JSON; expires_at unix ms.
-- pending_deletions: messages holding a secret to delete at delete_at (unix ms).
CREATE TABLE open_questions (
    topic        TEXT    NOT NULL CHECK (topic <> ''),
    telegram_id  BIGINT  NOT NULL,
    payload      TEXT    NOT NULL,
    expires_at   BIGINT  NOT NULL,
    PRIMARY KEY (topic, telegram_id)
);

CREATE TABLE pending_deletions (
    chat_id     BIGINT  NOT NULL,
    message_id  BIGINT  NOT NULL,
    delete_at   BIGINT  NOT NULL,
    purpose     TEXT    NOT NULL CHECK (purpose <> ''),
    owner_id    BIGINT,
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX pending_deletions_due ON pending_deletions (delete_at);

-- A broadcast's recipient left 'sending' by a stopped process may or may not have been
-- sent the message: it is sent once more (a repeated announcement is better than a missed
-- one), never a third time. attempts counts the claims (bot/domain/broadcasts.py).
ALTER TABLE broadcast_recipients ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
