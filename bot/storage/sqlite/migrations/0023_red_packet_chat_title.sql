-- The title of the group a red packet was posted in, as it was when posted, so the
-- sender's history can say where the packet went; NULL for an inline packet, and for a
-- packet posted before this column (its history says "a group").
ALTER TABLE red_packets ADD COLUMN chat_title TEXT;
