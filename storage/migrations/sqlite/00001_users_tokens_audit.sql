-- Users, API tokens and the audit log. Times are Unix milliseconds (UTC).

-- +goose Up
CREATE TABLE users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    role       TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    hash       BLOB    NOT NULL UNIQUE,
    expires_at INTEGER,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX tokens_user_id ON tokens (user_id);

-- The audit log outlives the objects and users it names: no foreign keys.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor_id    INTEGER,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    object_type TEXT    NOT NULL,
    object_id   INTEGER NOT NULL,
    before_json TEXT,
    after_json  TEXT
);
CREATE INDEX audit_log_object ON audit_log (object_type, object_id);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE tokens;
DROP TABLE users;
