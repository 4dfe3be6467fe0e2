-- Red packets: the sender's whole amount sits in escrow:redpackets, pre-split into shares.
-- (PostgreSQL's dialect of sqlite/migrations/0009_red_packets.sql: the same tables and
-- rules.)
--
-- Creating one is one transaction: the transfer sender → escrow (its key is the sender's
-- confirmation, so a replay creates nothing), the packet row and every share row. A grab is
-- one transaction that locks the packet's row, takes one unclaimed share, moves it escrow →
-- grabber and writes the grabber into the share; UNIQUE (packet_id, user_id) makes a second
-- share for the same person impossible. Expiry refunds the unclaimed shares escrow → sender
-- once (state moves from 'open' to 'expired' in the same transaction, under the same row
-- lock as the grabs).

CREATE TABLE red_packets (
    id                TEXT    PRIMARY KEY,
    sender_id         BIGINT  NOT NULL REFERENCES users (telegram_id),
    kind              TEXT    NOT NULL
                          CHECK (kind IN ('random', 'equal', 'exclusive', 'password')),
    total             BIGINT  NOT NULL CHECK (total > 0),
    count             INTEGER NOT NULL CHECK (count >= 1),
    greeting          TEXT    NOT NULL DEFAULT '',
    recipient_id      BIGINT,                         -- exclusive packets: the one person
    password          TEXT,                           -- password packets: the phrase
    chat_id           BIGINT,                         -- where it was posted, once it is
    message_id        BIGINT,
    inline_message_id TEXT,
    state             TEXT    NOT NULL DEFAULT 'open'
                          CHECK (state IN ('open', 'finished', 'expired')),
    create_key        TEXT    NOT NULL UNIQUE,        -- the escrow transfer's key
    created_at        BIGINT  NOT NULL,               -- unix ms
    expires_at        BIGINT  NOT NULL,
    settled_at        BIGINT,                         -- finished or expired, unix ms
    refunded          BIGINT  NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    CHECK ((kind = 'exclusive') = (recipient_id IS NOT NULL)),
    CHECK ((kind = 'password') = (password IS NOT NULL)),
    CHECK ((state = 'open') = (settled_at IS NULL))
);
CREATE INDEX red_packets_open_by_deadline ON red_packets (state, expires_at);

CREATE TABLE red_packet_shares (
    packet_id   TEXT    NOT NULL REFERENCES red_packets (id),
    position    INTEGER NOT NULL,
    amount      BIGINT  NOT NULL CHECK (amount > 0),
    user_id     BIGINT  REFERENCES users (telegram_id),
    transfer_id BIGINT  REFERENCES transfers (id),
    grabbed_at  BIGINT,
    PRIMARY KEY (packet_id, position),
    UNIQUE (packet_id, user_id),
    CHECK ((user_id IS NULL) = (transfer_id IS NULL))
);

-- A share is grabbed once; its amount never changes; nothing is deleted.
CREATE FUNCTION wallet_share_grabbed_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.user_id IS NOT NULL OR NEW.amount <> OLD.amount THEN
        RAISE EXCEPTION 'a red packet share is grabbed once' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER red_packet_shares_grabbed_once BEFORE UPDATE ON red_packet_shares
    FOR EACH ROW EXECUTE FUNCTION wallet_share_grabbed_once();
CREATE TRIGGER red_packet_shares_are_permanent BEFORE DELETE ON red_packet_shares
    FOR EACH ROW EXECUTE FUNCTION wallet_append_only();
CREATE TRIGGER red_packet_shares_are_kept BEFORE TRUNCATE ON red_packet_shares
    FOR EACH STATEMENT EXECUTE FUNCTION wallet_append_only();

CREATE FUNCTION wallet_packet_settled_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state <> 'open' THEN
        RAISE EXCEPTION 'a red packet is finished or expired once'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER red_packets_settled_once BEFORE UPDATE OF state ON red_packets
    FOR EACH ROW EXECUTE FUNCTION wallet_packet_settled_once();
CREATE TRIGGER red_packets_are_permanent BEFORE DELETE ON red_packets
    FOR EACH ROW EXECUTE FUNCTION wallet_append_only();
CREATE TRIGGER red_packets_are_kept BEFORE TRUNCATE ON red_packets
    FOR EACH STATEMENT EXECUTE FUNCTION wallet_append_only();

-- Leases of the jobs that must run once across processes (PostgreSQL only: SQLite has one
-- writing process). A lease is held until its deadline (unix ms, the holder's clock) or
-- until its holder lets it go; a holder that dies frees it when the deadline passes.
-- The red packets' expiry sweep is the first scheduled job of the wallet; the other sweeps
-- use the same table (bot/storage/postgres/leases.py).
CREATE TABLE job_leases (
    name      TEXT    PRIMARY KEY,
    holder    TEXT    NOT NULL,
    until     BIGINT  NOT NULL
);
