-- Support tickets and disputes (bot/domain/support.py).
--
-- A ticket is opened by a person (telegram_id) with a text; attached holds their last
-- few transfers at that moment (JSON: [[transfer_id, signed amount, kind], ...]).
-- A dispute is a ticket about one transfer (transfer_id): at most one open per transfer.
-- Its thread (the person's further messages, the admins' answers) is in
-- support_messages. Tickets and messages are kept; closing is final.
CREATE TABLE support_tickets (
    id           INTEGER PRIMARY KEY,
    telegram_id  INTEGER NOT NULL,
    transfer_id  INTEGER,
    state        TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    text         TEXT    NOT NULL CHECK (text <> ''),
    attached     TEXT    NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,  -- unix ms
    closed_by    INTEGER,           -- the admin's Telegram id
    closed_at    INTEGER,
    CHECK ((state = 'closed') = (closed_by IS NOT NULL AND closed_at IS NOT NULL))
);
CREATE INDEX support_tickets_open ON support_tickets (id) WHERE state = 'open';
CREATE INDEX support_tickets_person ON support_tickets (telegram_id, id);
CREATE UNIQUE INDEX support_one_open_dispute ON support_tickets (transfer_id)
    WHERE state = 'open' AND transfer_id IS NOT NULL;

CREATE TABLE support_messages (
    id          INTEGER PRIMARY KEY,
    ticket_id   INTEGER NOT NULL REFERENCES support_tickets (id),
    author_id   INTEGER NOT NULL,
    from_admin  INTEGER NOT NULL CHECK (from_admin IN (0, 1)),
    text        TEXT    NOT NULL CHECK (text <> ''),
    created_at  INTEGER NOT NULL
);
CREATE INDEX support_messages_thread ON support_messages (ticket_id, id);

CREATE TRIGGER support_ticket_closed_once BEFORE UPDATE ON support_tickets
WHEN OLD.state <> 'open'
BEGIN SELECT RAISE(ABORT, 'a ticket is closed once'); END;
CREATE TRIGGER support_tickets_are_kept BEFORE DELETE ON support_tickets
BEGIN SELECT RAISE(ABORT, 'tickets are kept'); END;
CREATE TRIGGER support_messages_are_kept BEFORE DELETE ON support_messages
BEGIN SELECT RAISE(ABORT, 'ticket messages are kept'); END;
