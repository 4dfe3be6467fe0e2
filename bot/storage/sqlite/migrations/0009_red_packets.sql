-- Red packets: the sender's whole amount sits in escrow:redpackets, pre-split into shares.
--
-- Creating one is one transaction: the transfer sender → escrow (its key is the sender's
-- confirmation, so a replay creates nothing), the packet row and every share row. A grab is
-- one transaction that takes one unclaimed share, moves it escrow → grabber and writes the
-- grabber into the share; UNIQUE (packet_id, user_id) makes a second share for the same
-- person impossible. Expiry refunds the unclaimed shares escrow → sender once (state moves
-- from 'open' to 'expired' in the same transaction).

CREATE TABLE red_packets (
    id                TEXT    PRIMARY KEY,
    sender_id         INTEGER NOT NULL REFERENCES users (telegram_id),
    kind              TEXT    NOT NULL
                          CHECK (kind IN ('random', 'equal', 'exclusive', 'password')),
    total             INTEGER NOT NULL CHECK (typeof(total) = 'integer' AND total > 0),
    count             INTEGER NOT NULL CHECK (count >= 1),
    greeting          TEXT    NOT NULL DEFAULT '',
    recipient_id      INTEGER,                        -- exclusive packets: the one person
    password          TEXT,                           -- password packets: the phrase
    chat_id           INTEGER,                        -- where it was posted, once it is
    message_id        INTEGER,
    inline_message_id TEXT,
    state             TEXT    NOT NULL DEFAULT 'open'
                          CHECK (state IN ('open', 'finished', 'expired')),
    create_key        TEXT    NOT NULL UNIQUE,        -- the escrow transfer's key
    created_at        INTEGER NOT NULL,               -- unix ms
    expires_at        INTEGER NOT NULL,
    settled_at        INTEGER,                        -- finished or expired, unix ms
    refunded          INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    CHECK ((kind = 'exclusive') = (recipient_id IS NOT NULL)),
    CHECK ((kind = 'password') = (password IS NOT NULL)),
    CHECK ((state = 'open') = (settled_at IS NULL))
);
CREATE INDEX red_packets_open_by_deadline ON red_packets (state, expires_at);

CREATE TABLE red_packet_shares (
    packet_id   TEXT    NOT NULL REFERENCES red_packets (id),
    position    INTEGER NOT NULL,
    amount      INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
    user_id     INTEGER REFERENCES users (telegram_id),
    transfer_id INTEGER REFERENCES transfers (id),
    grabbed_at  INTEGER,
    PRIMARY KEY (packet_id, position),
    UNIQUE (packet_id, user_id),
    CHECK ((user_id IS NULL) = (transfer_id IS NULL))
);

-- A share is grabbed once; its amount never changes; nothing is deleted.
CREATE TRIGGER red_packet_shares_grabbed_once BEFORE UPDATE ON red_packet_shares
WHEN OLD.user_id IS NOT NULL OR NEW.amount <> OLD.amount
BEGIN SELECT RAISE(ABORT, 'a red packet share is grabbed once'); END;
CREATE TRIGGER red_packet_shares_are_permanent BEFORE DELETE ON red_packet_shares
BEGIN SELECT RAISE(ABORT, 'red packet shares are kept'); END;
CREATE TRIGGER red_packets_settled_once BEFORE UPDATE OF state ON red_packets
WHEN OLD.state <> 'open'
BEGIN SELECT RAISE(ABORT, 'a red packet is finished or expired once'); END;
CREATE TRIGGER red_packets_are_permanent BEFORE DELETE ON red_packets
BEGIN SELECT RAISE(ABORT, 'red packets are kept'); END;
