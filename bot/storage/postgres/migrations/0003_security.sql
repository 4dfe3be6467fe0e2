-- Payment PINs and 2FA, server-side pending actions, and the security audit log.

CREATE TABLE credentials (
    telegram_id       BIGINT  PRIMARY KEY REFERENCES users (telegram_id),
    pin_hash          TEXT,                        -- scrypt over HMAC(pepper, PIN)
    pin_key_id        TEXT,                        -- whose pepper: the master key's id
    pin_failed        INTEGER NOT NULL DEFAULT 0,  -- wrong tries since the last success
    pin_locked_until  BIGINT  NOT NULL DEFAULT 0,  -- unix ms
    pin_lockouts      INTEGER NOT NULL DEFAULT 0,
    totp_secret       TEXT,                        -- AES-GCM token, never plaintext
    totp_enabled      BOOLEAN NOT NULL DEFAULT FALSE,
    totp_last_step    BIGINT,
    updated_at        BIGINT  NOT NULL
);

-- What a button stands for: a button carries only the short id of one of these.
CREATE TABLE pending_actions (
    id           TEXT    PRIMARY KEY,
    telegram_id  BIGINT  NOT NULL,                 -- the one person who may use it
    purpose      TEXT    NOT NULL,
    payload      TEXT    NOT NULL DEFAULT '{}',    -- JSON, as written (key order kept)
    state        TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done', 'cancelled')),
    expires_at   BIGINT  NOT NULL,                 -- unix ms
    created_at   BIGINT  NOT NULL
);
CREATE INDEX pending_actions_open ON pending_actions (expires_at) WHERE state = 'open';

-- Security events and admin actions, hash chained like the transfers (ids given under
-- the log's lock: the tail's id + 1).
CREATE TABLE security_events (
    id          BIGINT  PRIMARY KEY,
    at          BIGINT  NOT NULL,                  -- unix ms
    actor_id    BIGINT,                            -- Telegram id; NULL for the system
    event       TEXT    NOT NULL,
    subject_id  BIGINT,
    details     TEXT    NOT NULL DEFAULT '{}',     -- JSON, canonical (the hash covers it)
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);
CREATE TRIGGER security_events_are_immutable BEFORE UPDATE OR DELETE ON security_events
    FOR EACH ROW EXECUTE FUNCTION wallet_append_only();
CREATE TRIGGER security_events_are_permanent BEFORE TRUNCATE ON security_events
    FOR EACH STATEMENT EXECUTE FUNCTION wallet_append_only();

-- Values set once per database, such as the master key's check value.
CREATE TABLE wallet_meta (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
