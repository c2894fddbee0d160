-- Teams, routes, silences and sources: the rules admins edit. Times are Unix
-- milliseconds (UTC). managed_by is '' for objects made through the API and
-- 'config' for those declared in config.yaml.

-- +goose Up
CREATE TABLE teams (
    id         BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name       VARCHAR(64) NOT NULL,
    managed_by VARCHAR(16) NOT NULL,
    version    BIGINT      NOT NULL,
    created_at BIGINT      NOT NULL,
    updated_at BIGINT      NOT NULL,
    UNIQUE KEY teams_name (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE team_members (
    team_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id),
    KEY team_members_user_id (user_id),
    CONSTRAINT team_members_team FOREIGN KEY (team_id) REFERENCES teams (id) ON DELETE CASCADE,
    CONSTRAINT team_members_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- position is unique: routes are evaluated in ascending position, and a
-- list of routes pages by it.
CREATE TABLE routes (
    id          BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(64) NOT NULL,
    matchers    MEDIUMTEXT  NOT NULL,
    continue_on BOOLEAN     NOT NULL,
    enabled     BOOLEAN     NOT NULL,
    position    BIGINT      NOT NULL,
    managed_by  VARCHAR(16) NOT NULL,
    version     BIGINT      NOT NULL,
    created_at  BIGINT      NOT NULL,
    updated_at  BIGINT      NOT NULL,
    UNIQUE KEY routes_name (name),
    UNIQUE KEY routes_position (position)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE route_users (
    route_id BIGINT NOT NULL,
    user_id  BIGINT NOT NULL,
    PRIMARY KEY (route_id, user_id),
    KEY route_users_user_id (user_id),
    CONSTRAINT route_users_route FOREIGN KEY (route_id) REFERENCES routes (id) ON DELETE CASCADE,
    CONSTRAINT route_users_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A team that a route targets cannot be deleted (RESTRICT): the store says
-- which routes use it instead.
CREATE TABLE route_teams (
    route_id BIGINT NOT NULL,
    team_id  BIGINT NOT NULL,
    PRIMARY KEY (route_id, team_id),
    KEY route_teams_team_id (team_id),
    CONSTRAINT route_teams_route FOREIGN KEY (route_id) REFERENCES routes (id) ON DELETE CASCADE,
    CONSTRAINT route_teams_team FOREIGN KEY (team_id) REFERENCES teams (id) ON DELETE RESTRICT
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE silences (
    id            BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    matchers      MEDIUMTEXT  NOT NULL,
    starts_at     BIGINT      NOT NULL,
    ends_at       BIGINT      NOT NULL,
    created_by    VARCHAR(64) NOT NULL,
    created_by_id BIGINT      NULL,
    comment       TEXT        NOT NULL,
    version       BIGINT      NOT NULL,
    created_at    BIGINT      NOT NULL,
    updated_at    BIGINT      NOT NULL,
    KEY silences_ends_at (ends_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- credential is the SHA-256 of a bearer token or basic password, or the HMAC
-- key itself, which checking a signature needs.
CREATE TABLE sources (
    id               BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name             VARCHAR(64)   NOT NULL,
    kind             VARCHAR(16)   NOT NULL,
    auth             VARCHAR(16)   NOT NULL,
    username         VARCHAR(128)  NOT NULL,
    signature_header VARCHAR(128)  NOT NULL,
    mapping          MEDIUMTEXT    NULL,
    credential       VARBINARY(512) NOT NULL,
    managed_by       VARCHAR(16)   NOT NULL,
    version          BIGINT        NOT NULL,
    created_at       BIGINT        NOT NULL,
    updated_at       BIGINT        NOT NULL,
    UNIQUE KEY sources_name (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE sources;
DROP TABLE silences;
DROP TABLE route_teams;
DROP TABLE route_users;
DROP TABLE routes;
DROP TABLE team_members;
DROP TABLE teams;
