-- Guided flows in the private chat, and what they remember (bot/domain/guided.py).
--
-- guided_flows: each person's one open flow (Send, Request, Red packet, Withdraw by taps);
-- data is JSON (the answers so far); expires_at unix ms. Nothing here moves money.
-- recent_recipients: whom a person paid lately (last_at unix ms).
-- favourite_amounts: how often a person used an amount (fen) in a kind of flow.
CREATE TABLE guided_flows (
    telegram_id  INTEGER PRIMARY KEY,
    flow_id      TEXT    NOT NULL CHECK (flow_id <> ''),
    kind         TEXT    NOT NULL CHECK (kind <> ''),
    step         TEXT    NOT NULL CHECK (step <> ''),
    data         TEXT    NOT NULL,
    message_id   INTEGER,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX guided_flows_due ON guided_flows (expires_at);

CREATE TABLE recent_recipients (
    telegram_id   INTEGER NOT NULL,
    recipient_id  INTEGER NOT NULL,
    last_at       INTEGER NOT NULL,
    PRIMARY KEY (telegram_id, recipient_id)
) WITHOUT ROWID;

CREATE TABLE favourite_amounts (
    telegram_id  INTEGER NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind <> ''),
    amount       INTEGER NOT NULL CHECK (amount > 0),
    uses         INTEGER NOT NULL CHECK (uses > 0),
    last_at      INTEGER NOT NULL,
    PRIMARY KEY (telegram_id, kind, amount)
) WITHOUT ROWID;
