-- An inline message shows one red packet: a second one sent through the same message
-- (a redelivered update, two cards confirmed) would hide the first one's button.
CREATE UNIQUE INDEX red_packets_one_per_inline_message ON red_packets (inline_message_id)
    WHERE inline_message_id IS NOT NULL;
