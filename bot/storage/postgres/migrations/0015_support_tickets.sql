-- Support tickets and disputes (bot/domain/support.py).
-- (PostgreSQL's dialect of sqlite/migrations/0015_support_tickets.sql.)
--
-- A ticket is opened by a person (telegram_id) with a text; attached holds their last
-- few transfers at that moment (JSON: [[transfer_id, signed amount, kind], ...]).
-- A dispute is a ticket about one transfer (transfer_id): at most one open per transfer.
-- Its thread (the person's further messages, the admins' answers) is in
-- support_messages. Tickets and messages are kept; closing is final.
CREATE TABLE support_tickets (
    id           BIGSERIAL PRIMARY KEY,
    telegram_id  BIGINT  NOT NULL,
    transfer_id  BIGINT,
    state        TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    text         TEXT    NOT NULL CHECK (text <> ''),
    attached     TEXT    NOT NULL DEFAULT '[]',
    created_at   BIGINT  NOT NULL,  -- unix ms
    closed_by    BIGINT,            -- the admin's Telegram id
    closed_at    BIGINT,
    CHECK ((state = 'closed') = (closed_by IS NOT NULL AND closed_at IS NOT NULL))
);
CREATE INDEX support_tickets_open ON support_tickets (id) WHERE state = 'open';
CREATE INDEX support_tickets_person ON support_tickets (telegram_id, id);
CREATE UNIQUE INDEX support_one_open_dispute ON support_tickets (transfer_id)
    WHERE state = 'open' AND transfer_id IS NOT NULL;

CREATE TABLE support_messages (
    id          BIGSERIAL PRIMARY KEY,
    ticket_id   BIGINT  NOT NULL REFERENCES support_tickets (id),
    author_id   BIGINT  NOT NULL,
    from_admin  BOOLEAN NOT NULL,
    text        TEXT    NOT NULL CHECK (text <> ''),
    created_at  BIGINT  NOT NULL
);
CREATE INDEX support_messages_thread ON support_messages (ticket_id, id);

CREATE FUNCTION support_ticket_closed_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a ticket is closed once' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER support_ticket_closed_once BEFORE UPDATE ON support_tickets
    FOR EACH ROW WHEN (OLD.state <> 'open') EXECUTE FUNCTION support_ticket_closed_once();
CREATE TRIGGER support_tickets_are_kept BEFORE DELETE ON support_tickets
    FOR EACH ROW EXECUTE FUNCTION wallet_append_only();
CREATE TRIGGER support_tickets_are_permanent BEFORE TRUNCATE ON support_tickets
    FOR EACH STATEMENT EXECUTE FUNCTION wallet_append_only();
CREATE TRIGGER support_messages_are_kept BEFORE DELETE ON support_messages
    FOR EACH ROW EXECUTE FUNCTION wallet_append_only();
CREATE TRIGGER support_messages_are_permanent BEFORE TRUNCATE ON support_messages
    FOR EACH STATEMENT EXECUTE FUNCTION wallet_append_only();
