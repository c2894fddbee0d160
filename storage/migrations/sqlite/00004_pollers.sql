-- Pollers, what they remember between runs, and who runs them. Times are
-- Unix milliseconds (UTC). managed_by is '' for pollers made through the API
-- and 'config' for those declared in config.yaml.

-- +goose Up

-- spec is a JSON object of the check's fields: timeout and those of the
-- poller's kind (url, method, headers, body, expect_status, expect_body,
-- expect_json, max_latency, tls_skip_verify, address, query). labels and
-- annotations are JSON objects.
CREATE TABLE pollers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL,
    schedule      TEXT    NOT NULL,
    spec          TEXT    NOT NULL,
    labels        TEXT    NOT NULL,
    annotations   TEXT    NOT NULL,
    fail_after    INTEGER NOT NULL,
    recover_after INTEGER NOT NULL,
    enabled       INTEGER NOT NULL,
    managed_by    TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- One row per poller that has run, written by the leader after each run. No
-- key to pollers: the row outlives a deleted poller until the leader has
-- resolved its alerts. last_run_at and next_run_at are NULL when unset;
-- latency is in microseconds; series is a JSON array of the alerts the
-- poller is counting or firing.
CREATE TABLE poller_state (
    poller_id   INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    last_run_at INTEGER,
    next_run_at INTEGER,
    outcome     TEXT    NOT NULL,
    latency     INTEGER NOT NULL,
    last_error  TEXT    NOT NULL,
    failures    INTEGER NOT NULL,
    successes   INTEGER NOT NULL,
    series      TEXT    NOT NULL,
    node        TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- The last node to take each leader lock (such as tocsin.pollers), and since
-- when.
CREATE TABLE leaders (
    name  TEXT    NOT NULL PRIMARY KEY,
    node  TEXT    NOT NULL,
    since INTEGER NOT NULL
);

-- +goose Down
DROP TABLE leaders;
DROP TABLE poller_state;
DROP TABLE pollers;
