-- Notices: what the bot owes one person's private chat (bot/domain/notices.py).
--
-- Written before anything is sent, once per key; the text is made when it is sent, in
-- the person's language then. A notice's state:
--   pending  not sent yet (or to be tried again from due_at);
--   sending  claimed by a sender until claimed_until (a claim that ran out is an
--            uncertain send: claimed once more, then closed 'failed');
--   sent | blocked (403) | failed   final.
CREATE TABLE notices (
    id             INTEGER PRIMARY KEY,
    key            TEXT    NOT NULL UNIQUE,
    telegram_id    INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    params         TEXT    NOT NULL DEFAULT '{}',  -- a JSON object
    state          TEXT    NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'sending', 'sent', 'blocked', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    due_at         INTEGER NOT NULL,  -- unix ms: not sent before
    claimed_until  INTEGER,           -- unix ms, while sending
    created_at     INTEGER NOT NULL,
    sent_at        INTEGER,
    CHECK ((state = 'sending') = (claimed_until IS NOT NULL))
);
CREATE INDEX notices_open ON notices (id) WHERE state IN ('pending', 'sending');

-- A final state stays final: a notice is sent at most once.
CREATE TRIGGER notice_final BEFORE UPDATE OF state ON notices
WHEN OLD.state IN ('sent', 'blocked', 'failed')
BEGIN SELECT RAISE(ABORT, 'a notice is sent once'); END;
