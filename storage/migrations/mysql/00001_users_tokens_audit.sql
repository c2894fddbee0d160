-- Users, API tokens and the audit log. Times are Unix milliseconds (UTC).
-- Binary collation everywhere, so that comparisons agree with SQLite.

-- +goose Up
CREATE TABLE users (
    id         BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name       VARCHAR(64) NOT NULL,
    role       VARCHAR(16) NOT NULL,
    version    BIGINT      NOT NULL,
    created_at BIGINT      NOT NULL,
    updated_at BIGINT      NOT NULL,
    UNIQUE KEY users_name (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE tokens (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id    BIGINT       NOT NULL,
    name       VARCHAR(512) NOT NULL,
    hash       BINARY(32)   NOT NULL,
    expires_at BIGINT       NULL,
    version    BIGINT       NOT NULL,
    created_at BIGINT       NOT NULL,
    UNIQUE KEY tokens_hash (hash),
    KEY tokens_user_id (user_id),
    CONSTRAINT tokens_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The audit log outlives the objects and users it names: no foreign keys.
CREATE TABLE audit_log (
    id          BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at          BIGINT      NOT NULL,
    actor_id    BIGINT      NULL,
    actor       VARCHAR(64) NOT NULL,
    action      VARCHAR(16) NOT NULL,
    object_type VARCHAR(32) NOT NULL,
    object_id   BIGINT      NOT NULL,
    before_json MEDIUMTEXT  NULL,
    after_json  MEDIUMTEXT  NULL,
    KEY audit_log_object (object_type, object_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE audit_log;
DROP TABLE tokens;
DROP TABLE users;
