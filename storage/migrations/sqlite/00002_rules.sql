-- Teams, routes, silences and sources: the rules admins edit. Times are Unix
-- milliseconds (UTC). managed_by is '' for objects made through the API and
-- 'config' for those declared in config.yaml.

-- +goose Up
CREATE TABLE teams (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    managed_by TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE team_members (
    team_id INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_id ON team_members (user_id);

-- position is unique: routes are evaluated in ascending position, and a
-- list of routes pages by it.
CREATE TABLE routes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    matchers    TEXT    NOT NULL,
    continue_on INTEGER NOT NULL,
    enabled     INTEGER NOT NULL,
    position    INTEGER NOT NULL UNIQUE,
    managed_by  TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE route_users (
    route_id INTEGER NOT NULL REFERENCES routes (id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (route_id, user_id)
);
CREATE INDEX route_users_user_id ON route_users (user_id);

-- A team that a route targets cannot be deleted (RESTRICT): the store says
-- which routes use it instead.
CREATE TABLE route_teams (
    route_id INTEGER NOT NULL REFERENCES routes (id) ON DELETE CASCADE,
    team_id  INTEGER NOT NULL REFERENCES teams (id) ON DELETE RESTRICT,
    PRIMARY KEY (route_id, team_id)
);
CREATE INDEX route_teams_team_id ON route_teams (team_id);

CREATE TABLE silences (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    matchers      TEXT    NOT NULL,
    starts_at     INTEGER NOT NULL,
    ends_at       INTEGER NOT NULL,
    created_by    TEXT    NOT NULL,
    created_by_id INTEGER,
    comment       TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX silences_ends_at ON silences (ends_at);

-- credential is the SHA-256 of a bearer token or basic password, or the HMAC
-- key itself, which checking a signature needs.
CREATE TABLE sources (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT    NOT NULL UNIQUE,
    kind             TEXT    NOT NULL,
    auth             TEXT    NOT NULL,
    username         TEXT    NOT NULL,
    signature_header TEXT    NOT NULL,
    mapping          TEXT,
    credential       BLOB    NOT NULL,
    managed_by       TEXT    NOT NULL,
    version          INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

-- +goose Down
DROP TABLE sources;
DROP TABLE silences;
DROP TABLE route_teams;
DROP TABLE route_users;
DROP TABLE routes;
DROP TABLE team_members;
DROP TABLE teams;
