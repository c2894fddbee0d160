-- +goose Up
-- A route created without a position goes after the last route. Concurrent
-- creates lock this row first, so that they take their turns instead of
-- meeting on the gap after the last route, which deadlocked on MySQL.
INSERT INTO sequences (name, next_id) VALUES ('routes', 0);

-- +goose Down
DELETE FROM sequences WHERE name = 'routes';
