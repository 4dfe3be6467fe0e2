-- Notices: what the bot owes one person's private chat (bot/domain/notices.py).
-- (PostgreSQL's dialect of sqlite/migrations/0021_notices.sql: the same table and rules.)
--
-- Written before anything is sent, once per key; the text is made when it is sent, in
-- the person's language then. A notice's state:
--   pending  not sent yet (or to be tried again from due_at);
--   sending  claimed by a sender until claimed_until (a claim that ran out is an
--            uncertain send: claimed once more, then closed 'failed');
--   sent | blocked (403) | failed   final.
CREATE TABLE notices (
    id             BIGSERIAL PRIMARY KEY,
    key            TEXT    NOT NULL UNIQUE,
    telegram_id    BIGINT  NOT NULL,
    kind           TEXT    NOT NULL,
    params         TEXT    NOT NULL DEFAULT '{}',  -- a JSON object
    state          TEXT    NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'sending', 'sent', 'blocked', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    due_at         BIGINT  NOT NULL,  -- unix ms: not sent before
    claimed_until  BIGINT,            -- unix ms, while sending
    created_at     BIGINT  NOT NULL,
    sent_at        BIGINT,
    CHECK ((state = 'sending') = (claimed_until IS NOT NULL))
);
CREATE INDEX notices_open ON notices (id) WHERE state IN ('pending', 'sending');

-- A final state stays final: a notice is sent at most once.
CREATE FUNCTION notice_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a notice is sent once' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER notice_final BEFORE UPDATE OF state ON notices
    FOR EACH ROW WHEN (OLD.state IN ('sent', 'blocked', 'failed'))
    EXECUTE FUNCTION notice_final();
