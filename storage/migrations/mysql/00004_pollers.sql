-- Pollers, what they remember between runs, and who runs them. Times are
-- Unix milliseconds (UTC). managed_by is '' for pollers made through the API
-- and 'config' for those declared in config.yaml.

-- +goose Up

-- spec is a JSON object of the check's fields: timeout and those of the
-- poller's kind (url, method, headers, body, expect_status, expect_body,
-- expect_json, max_latency, tls_skip_verify, address, query). labels and
-- annotations are JSON objects.
CREATE TABLE pollers (
    id            BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name          VARCHAR(64) NOT NULL,
    kind          VARCHAR(16) NOT NULL,
    schedule      TEXT        NOT NULL,
    spec          MEDIUMTEXT  NOT NULL,
    labels        MEDIUMTEXT  NOT NULL,
    annotations   MEDIUMTEXT  NOT NULL,
    fail_after    INT         NOT NULL,
    recover_after INT         NOT NULL,
    enabled       BOOLEAN     NOT NULL,
    managed_by    VARCHAR(16) NOT NULL,
    version       BIGINT      NOT NULL,
    created_at    BIGINT      NOT NULL,
    updated_at    BIGINT      NOT NULL,
    UNIQUE KEY pollers_name (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per poller that has run, written by the leader after each run. No
-- key to pollers: the row outlives a deleted poller until the leader has
-- resolved its alerts. last_run_at and next_run_at are NULL when unset;
-- latency is in microseconds; series is a JSON array of the alerts the
-- poller is counting or firing.
CREATE TABLE poller_state (
    poller_id   BIGINT       NOT NULL PRIMARY KEY,
    name        VARCHAR(64)  NOT NULL,
    last_run_at BIGINT       NULL,
    next_run_at BIGINT       NULL,
    outcome     VARCHAR(16)  NOT NULL,
    latency     BIGINT       NOT NULL,
    last_error  MEDIUMTEXT   NOT NULL,
    failures    BIGINT       NOT NULL,
    successes   BIGINT       NOT NULL,
    series      MEDIUMTEXT   NOT NULL,
    node        VARCHAR(255) NOT NULL,
    updated_at  BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The last node to take each leader lock (such as tocsin.pollers), and since
-- when.
CREATE TABLE leaders (
    name  VARCHAR(64)  NOT NULL PRIMARY KEY,
    node  VARCHAR(255) NOT NULL,
    since BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE leaders;
DROP TABLE poller_state;
DROP TABLE pollers;
