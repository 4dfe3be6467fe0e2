-- Copies of one notice sent to several admins (bot/domain/admin_copies.py): a held
-- payment's or a support ticket's notice with buttons, one row per message sent, so
-- that whoever acts on the subject (in any process, after a restart) can edit the other
-- admins' copies. subject: 'hold:<id>', 'ticket:<id>'; text: what the message says.
-- Forgotten once the subject is settled.
CREATE TABLE admin_copies (
    subject     TEXT    NOT NULL CHECK (subject <> ''),
    admin_id    INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    text        TEXT    NOT NULL,
    PRIMARY KEY (subject, admin_id, message_id)
) WITHOUT ROWID;
