-- Alerts, their history, and the users' inboxes. Times are Unix milliseconds
-- (UTC).

-- +goose Up

-- sequences hands out IDs that a transaction needs before it inserts, so that
-- a batch of alerts gets its IDs in one statement. next_id is the next ID to
-- hand out; IDs taken and not used are never handed out again.
CREATE TABLE sequences (
    name    VARCHAR(32) NOT NULL PRIMARY KEY,
    next_id BIGINT      NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

INSERT INTO sequences (name, next_id) VALUES ('alerts', 1);

-- fingerprint is the label set's Alertmanager fingerprint, as a signed
-- 64-bit integer. open_fingerprint is the fingerprint while the alert is open
-- (firing or acknowledged) and NULL once it is resolved: its unique key keeps
-- one open alert per fingerprint, whatever concurrent writers do. labels and
-- annotations are JSON objects. acked_by and resolved_by are '' until set.
CREATE TABLE alerts (
    id               BIGINT      NOT NULL PRIMARY KEY,
    fingerprint      BIGINT      NOT NULL,
    open_fingerprint BIGINT      NULL,
    state            VARCHAR(16) NOT NULL,
    silenced         BOOLEAN     NOT NULL,
    labels           MEDIUMTEXT  NOT NULL,
    annotations      MEDIUMTEXT  NOT NULL,
    source           VARCHAR(64) NOT NULL,
    generator_url    TEXT        NOT NULL,
    starts_at        BIGINT      NOT NULL,
    ends_at          BIGINT      NULL,
    last_seen_at     BIGINT      NOT NULL,
    count            BIGINT      NOT NULL,
    acked_by         VARCHAR(80) NOT NULL,
    acked_by_id      BIGINT      NULL,
    acked_at         BIGINT      NULL,
    resolved_by      VARCHAR(80) NOT NULL,
    resolved_at      BIGINT      NULL,
    created_at       BIGINT      NOT NULL,
    updated_at       BIGINT      NOT NULL,
    UNIQUE KEY alerts_open_fingerprint (open_fingerprint),
    KEY alerts_fingerprint (fingerprint, id),
    KEY alerts_state (state, id),
    KEY alerts_source (source, id),
    KEY alerts_starts_at (starts_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- actor is a user's name or "source:NAME"; actor_id the user's ID, NULL for
-- a source. No key to users: the history outlives them.
CREATE TABLE alert_history (
    id       BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    alert_id BIGINT      NOT NULL,
    at       BIGINT      NOT NULL,
    kind     VARCHAR(16) NOT NULL,
    actor    VARCHAR(80) NOT NULL,
    actor_id BIGINT      NULL,
    KEY alert_history_alert (alert_id, id),
    CONSTRAINT alert_history_alert FOREIGN KEY (alert_id) REFERENCES alerts (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- inbox_heads holds each user's last inbox seq. A transaction that writes
-- inbox rows locks its recipients' heads first, so that one user's rows
-- commit in seq order.
CREATE TABLE inbox_heads (
    user_id BIGINT NOT NULL PRIMARY KEY,
    seq     BIGINT NOT NULL,
    CONSTRAINT inbox_heads_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

INSERT INTO inbox_heads (user_id, seq) SELECT id, 0 FROM users;

-- inbox has one row per user and event they must hear of; seq numbers a
-- user's rows 1, 2, 3, ...
CREATE TABLE inbox (
    user_id    BIGINT      NOT NULL,
    seq        BIGINT      NOT NULL,
    alert_id   BIGINT      NOT NULL,
    event      VARCHAR(16) NOT NULL,
    created_at BIGINT      NOT NULL,
    PRIMARY KEY (user_id, seq),
    KEY inbox_alert (alert_id, user_id),
    CONSTRAINT inbox_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT inbox_alert FOREIGN KEY (alert_id) REFERENCES alerts (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE inbox;
DROP TABLE inbox_heads;
DROP TABLE alert_history;
DROP TABLE alerts;
DROP TABLE sequences;
