-- A group's text is checked against its recent password packets (open, and those that
-- closed lately, so a late phrase is answered): found by the chat, newest first.
CREATE INDEX red_packets_password_by_chat ON red_packets (chat_id, created_at)
    WHERE kind = 'password';
