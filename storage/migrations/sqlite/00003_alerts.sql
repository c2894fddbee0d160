-- Alerts, their history, and the users' inboxes. Times are Unix milliseconds
-- (UTC).

-- +goose Up

-- sequences hands out IDs that a transaction needs before it inserts, so that
-- a batch of alerts gets its IDs in one statement. next_id is the next ID to
-- hand out; IDs taken and not used are never handed out again.
CREATE TABLE sequences (
    name    TEXT    NOT NULL PRIMARY KEY,
    next_id INTEGER NOT NULL
);

INSERT INTO sequences (name, next_id) VALUES ('alerts', 1);

-- fingerprint is the label set's Alertmanager fingerprint, as a signed
-- 64-bit integer. open_fingerprint is the fingerprint while the alert is open
-- (firing or acknowledged) and NULL once it is resolved: its unique key keeps
-- one open alert per fingerprint, whatever concurrent writers do. labels and
-- annotations are JSON objects. acked_by and resolved_by are '' until set.
CREATE TABLE alerts (
    id               INTEGER PRIMARY KEY,
    fingerprint      INTEGER NOT NULL,
    open_fingerprint INTEGER UNIQUE,
    state            TEXT    NOT NULL,
    silenced         INTEGER NOT NULL,
    labels           TEXT    NOT NULL,
    annotations      TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    generator_url    TEXT    NOT NULL,
    starts_at        INTEGER NOT NULL,
    ends_at          INTEGER,
    last_seen_at     INTEGER NOT NULL,
    count            INTEGER NOT NULL,
    acked_by         TEXT    NOT NULL,
    acked_by_id      INTEGER,
    acked_at         INTEGER,
    resolved_by      TEXT    NOT NULL,
    resolved_at      INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX alerts_fingerprint ON alerts (fingerprint, id);
CREATE INDEX alerts_state ON alerts (state, id);
CREATE INDEX alerts_source ON alerts (source, id);
CREATE INDEX alerts_starts_at ON alerts (starts_at);

-- actor is a user's name or "source:NAME"; actor_id the user's ID, NULL for
-- a source. No key to users: the history outlives them.
CREATE TABLE alert_history (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at       INTEGER NOT NULL,
    kind     TEXT    NOT NULL,
    actor    TEXT    NOT NULL,
    actor_id INTEGER
);
CREATE INDEX alert_history_alert ON alert_history (alert_id, id);

-- inbox_heads holds each user's last inbox seq. A transaction that writes
-- inbox rows locks its recipients' heads first, so that one user's rows
-- commit in seq order.
CREATE TABLE inbox_heads (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL
);

INSERT INTO inbox_heads (user_id, seq) SELECT id, 0 FROM users;

-- inbox has one row per user and event they must hear of; seq numbers a
-- user's rows 1, 2, 3, ...
CREATE TABLE inbox (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    alert_id   INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    event      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;
CREATE INDEX inbox_alert ON inbox (alert_id, user_id);

-- +goose Down
DROP TABLE inbox;
DROP TABLE inbox_heads;
DROP TABLE alert_history;
DROP TABLE alerts;
DROP TABLE sequences;
