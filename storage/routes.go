package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tocsinhq/tocsin/alerts"
)

// objectRoute is the audit log's name for routes.
const objectRoute = "route"

const routeColumns = `id, name, matchers, continue_on, enabled, position, managed_by, version, created_at, updated_at`

// RouteFilter selects routes in a list. Its zero value selects every route.
type RouteFilter struct {
	// User keeps the routes whose users include this user ID (not those
	// that reach the user only through a team); 0 keeps every route.
	User int64
	// Team keeps the routes whose teams include this team ID; 0 keeps
	// every route.
	Team int64
	// Enabled, when not nil, keeps the routes whose Enabled is *Enabled.
	Enabled *bool
}

// scanRoute reads a row of routeColumns; the users and teams are read apart.
func scanRoute(row interface{ Scan(...any) error }) (alerts.Route, error) {
	var (
		r                alerts.Route
		matchers         string
		created, updated int64
	)
	if err := row.Scan(&r.ID, &r.Name, &matchers, &r.Continue, &r.Enabled, &r.Position, &r.ManagedBy, &r.Version,
		&created, &updated); err != nil {
		return alerts.Route{}, err
	}
	ms, err := decodeMatchers(matchers)
	if err != nil {
		return alerts.Route{}, fmt.Errorf("route %d: %w", r.ID, err)
	}
	r.Matchers, r.CreatedAt, r.UpdatedAt = ms, fromMillis(created), fromMillis(updated)
	return r, nil
}

// routeInput validates r and returns the stored form of its matchers. It
// sets r's matchers to what the store will answer, and its users and teams
// to sorted copies.
func routeInput(r *alerts.Route) (string, error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	stored, ms, err := encodeMatchers("matchers", r.Matchers)
	if err != nil {
		return "", err
	}
	r.Matchers, r.Users, r.Teams = ms, sortedIDs(r.Users), sortedIDs(r.Teams)
	return stored, nil
}

// CreateRoute adds a route at r.Position, or after the last route when
// r.Position is 0. A route created by ConfigActor is managed by the config
// file. It returns alerts.ErrInvalid, naming the field, for a route that
// alerts.Route.Validate refuses, a matcher that does not read back from its
// own syntax, or a user or team that does not exist ("users[1]",
// "teams[0]"); and alerts.ErrConflict, naming "name" or "position", when
// another route has that name or that position.
func (db *DB) CreateRoute(ctx context.Context, actor Actor, r alerts.Route) (alerts.Route, error) {
	in := r
	matchers, err := routeInput(&in)
	if err != nil {
		return alerts.Route{}, err
	}
	now := db.nowTime()
	in.ID, in.ManagedBy, in.Version, in.CreatedAt, in.UpdatedAt = 0, managedBy(actor), 1, now, now
	var created alerts.Route
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockTargets(ctx, tx, r); err != nil {
			return err
		}
		created = in
		var err error
		if created.Position == 0 {
			created.Position, err = db.nextPosition(ctx, tx)
		} else {
			err = db.positionFree(ctx, tx, created.Position, 0)
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO routes (name, matchers, continue_on, enabled, position, managed_by, version, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			created.Name, matchers, created.Continue, created.Enabled, created.Position, created.ManagedBy, created.Version,
			millis(now), millis(now))
		if db.dialect.isUnique(err) { // positionFree has locked the position
			return nameTaken(objectRoute, created.Name)
		}
		if err != nil {
			return fmt.Errorf("storage: create route: %w", err)
		}
		if created.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("storage: create route: %w", err)
		}
		if err := db.writeTargets(ctx, tx, created, true); err != nil {
			return err
		}
		return db.audit(ctx, tx, actor, ActionCreate, objectRoute, created.ID, nil, created)
	})
	if err != nil {
		return alerts.Route{}, err
	}
	return created, nil
}

// lockTargets checks in tx that r's users and teams exist, locking them, in
// the order users, then teams, then routes, that every write follows.
func (db *DB) lockTargets(ctx context.Context, tx *sql.Tx, r alerts.Route) error {
	if err := db.lockExisting(ctx, tx, "users", "users", "user", r.Users); err != nil {
		return err
	}
	return db.lockExisting(ctx, tx, "teams", "teams", "team", r.Teams)
}

// writeTargets stores r's users and teams; fresh says r is new and has none
// stored yet.
func (db *DB) writeTargets(ctx context.Context, tx *sql.Tx, r alerts.Route, fresh bool) error {
	if err := routeUsers().replace(ctx, tx, r.ID, r.Users, fresh); err != nil {
		return err
	}
	return routeTeams().replace(ctx, tx, r.ID, r.Teams, fresh)
}

// nextPosition returns the position after the last route's, 1 when there
// are none. On MySQL it first locks the routes' row of sequences, so that
// concurrent creates take turns, then the last route and the gap after it.
func (db *DB) nextPosition(ctx context.Context, tx *sql.Tx) (int64, error) {
	var turn int64
	if err := tx.QueryRowContext(ctx, `SELECT next_id FROM sequences WHERE name = 'routes'`+db.dialect.forUpdate).Scan(&turn); err != nil {
		return 0, fmt.Errorf("storage: take the routes' turn: %w", err)
	}
	var last int64
	err := tx.QueryRowContext(ctx, `SELECT position FROM routes ORDER BY position DESC LIMIT 1`+db.dialect.forUpdate).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("storage: read last route position: %w", err)
	}
	return last + 1, nil
}

// positionFree returns alerts.ErrConflict, naming "position", when a route
// other than the one with ID self holds position. On MySQL it locks the
// position, held or not, until tx ends.
func (db *DB) positionFree(ctx context.Context, tx *sql.Tx, position, self int64) error {
	var (
		id   int64
		name string
	)
	err := tx.QueryRowContext(ctx, `SELECT id, name FROM routes WHERE position = ?`+db.dialect.forUpdate, position).Scan(&id, &name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("storage: read route position: %w", err)
	case id == self:
		return nil
	}
	return &alerts.Error{
		Kind:    alerts.ErrConflict,
		Field:   "position",
		Message: fmt.Sprintf("position %d is taken by route %q; choose a free one, or reorder the routes", position, name),
	}
}

// Route returns the route with the given ID, with its users and teams, or
// alerts.ErrNotFound.
func (db *DB) Route(ctx context.Context, id int64) (alerts.Route, error) {
	return db.routeByID(ctx, db.sql, id, "")
}

// routeByID reads one route with its users and teams, with an optional
// locking clause for the route's row.
func (db *DB) routeByID(ctx context.Context, q queryer, id int64, lock string) (alerts.Route, error) {
	r, err := scanRoute(q.QueryRowContext(ctx, `SELECT `+routeColumns+` FROM routes WHERE id = ?`+lock, id))
	if errors.Is(err, sql.ErrNoRows) {
		return alerts.Route{}, alerts.NotFound(fmt.Sprintf("route %d", id))
	}
	if err != nil {
		return alerts.Route{}, fmt.Errorf("storage: read route: %w", err)
	}
	routes := []alerts.Route{r}
	if err := addTargets(ctx, q, routes, []int64{id}); err != nil {
		return alerts.Route{}, err
	}
	return routes[0], nil
}

// Routes returns a page of the routes that f selects, with their users and
// teams, in ascending position. Page.Cursor is a position here: the page
// holds the routes after it, and the next page's cursor is the last
// route's Position.
func (db *DB) Routes(ctx context.Context, f RouteFilter, page Page) ([]alerts.Route, error) {
	query, args := `SELECT `+routeColumns+` FROM routes WHERE position > ?`, []any{page.Cursor}
	if f.User != 0 {
		query, args = query+` AND id IN (SELECT route_id FROM route_users WHERE user_id = ?)`, append(args, f.User)
	}
	if f.Team != 0 {
		query, args = query+` AND id IN (SELECT route_id FROM route_teams WHERE team_id = ?)`, append(args, f.Team)
	}
	if f.Enabled != nil {
		query, args = query+` AND enabled = ?`, append(args, *f.Enabled)
	}
	routes, err := db.queryRoutes(ctx, db.sql, query+` ORDER BY position LIMIT ?`, append(args, page.Limit)...)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(routes))
	for i, r := range routes {
		ids[i] = r.ID
	}
	if err := addTargets(ctx, db.sql, routes, ids); err != nil {
		return nil, err
	}
	return routes, nil
}

// allRoutes returns every route with its users and teams, in ascending
// position, in three queries. lock, when not empty, locks every route.
func (db *DB) allRoutes(ctx context.Context, q queryer, lock string) ([]alerts.Route, error) {
	routes, err := db.queryRoutes(ctx, q, `SELECT `+routeColumns+` FROM routes ORDER BY position`+lock)
	if err != nil {
		return nil, err
	}
	return routes, addTargets(ctx, q, routes, nil)
}

// queryRoutes runs a query of routeColumns.
func (db *DB) queryRoutes(ctx context.Context, q queryer, query string, args ...any) ([]alerts.Route, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: list routes: %w", err)
	}
	defer rows.Close()
	routes := []alerts.Route{}
	for rows.Next() {
		r, err := scanRoute(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: list routes: %w", err)
		}
		routes = append(routes, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: list routes: %w", err)
	}
	return routes, nil
}

// addTargets fills in the users and teams of routes, reading those of the
// routes in ids, or of every route when ids is nil, in two queries.
func addTargets(ctx context.Context, q queryer, routes []alerts.Route, ids []int64) error {
	users, err := routeUsers().read(ctx, q, ids)
	if err != nil {
		return err
	}
	teams, err := routeTeams().read(ctx, q, ids)
	if err != nil {
		return err
	}
	for i := range routes {
		routes[i].Users = append([]int64{}, users[routes[i].ID]...)
		routes[i].Teams = append([]int64{}, teams[routes[i].ID]...)
	}
	return nil
}

// UpdateRoute replaces a route's name, matchers, targets, flags and, unless
// r.Position is 0, its position. r.Version must be the stored version:
// otherwise it returns alerts.ErrConflict, naming "version", and changes
// nothing. It returns alerts.ErrNotFound when there is no such route;
// alerts.ErrForbidden for a route declared in config.yaml, unless actor is
// ConfigActor, whose update makes the route managed by the file; and the
// errors of CreateRoute for bad input, a taken name or a taken position.
func (db *DB) UpdateRoute(ctx context.Context, actor Actor, r alerts.Route) (alerts.Route, error) {
	in := r
	matchers, err := routeInput(&in)
	if err != nil {
		return alerts.Route{}, err
	}
	var updated alerts.Route
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		// Targets before the route, the order every write locks them in;
		// but a stale version, which may explain a missing target, is
		// reported first.
		missing := db.lockTargets(ctx, tx, r)
		if missing != nil && !errors.Is(missing, alerts.ErrInvalid) {
			return missing
		}
		before, err := db.lockRoute(ctx, tx, actor, r.ID, r.Version)
		if err != nil {
			return err
		}
		if r.Version != before.Version { // version 0: an update has no unconditional form
			return staleVersion(objectRoute, r.ID, r.Version, before.Version)
		}
		if missing != nil {
			return missing
		}
		updated = in
		updated.ManagedBy, updated.Version, updated.CreatedAt, updated.UpdatedAt = managedBy(actor), before.Version+1, before.CreatedAt, db.nowTime()
		if updated.Position == 0 {
			updated.Position = before.Position
		} else if updated.Position != before.Position {
			if err := db.positionFree(ctx, tx, updated.Position, updated.ID); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE routes SET name = ?, matchers = ?, continue_on = ?, enabled = ?, position = ?, managed_by = ?, version = ?, updated_at = ?
			 WHERE id = ?`,
			updated.Name, matchers, updated.Continue, updated.Enabled, updated.Position, updated.ManagedBy, updated.Version,
			millis(updated.UpdatedAt), updated.ID)
		if db.dialect.isUnique(err) { // positionFree has locked the position
			return nameTaken(objectRoute, updated.Name)
		}
		if err != nil {
			return fmt.Errorf("storage: update route: %w", err)
		}
		if err := db.writeTargets(ctx, tx, updated, false); err != nil {
			return err
		}
		return db.audit(ctx, tx, actor, ActionUpdate, objectRoute, r.ID, before, updated)
	})
	if err != nil {
		return alerts.Route{}, err
	}
	return updated, nil
}

// DeleteRoute deletes a route; the routes after it keep their positions.
// version, unless 0, must be the stored version, or it returns
// alerts.ErrConflict, naming "version". It returns alerts.ErrNotFound when
// there is no such route, and alerts.ErrForbidden for a route declared in
// config.yaml, unless actor is ConfigActor.
func (db *DB) DeleteRoute(ctx context.Context, actor Actor, id, version int64) error {
	return deleteRow(ctx, db, actor, objectRoute, "routes", id, func(tx *sql.Tx) (alerts.Route, error) {
		return db.lockRoute(ctx, tx, actor, id, version)
	})
}

// lockRoute reads a route in tx, locking its row, checks its version (0
// accepts any) and that actor may change it.
func (db *DB) lockRoute(ctx context.Context, tx *sql.Tx, actor Actor, id, version int64) (alerts.Route, error) {
	r, err := db.routeByID(ctx, tx, id, db.dialect.forUpdate)
	if err != nil {
		return alerts.Route{}, err
	}
	if version != 0 && r.Version != version {
		return alerts.Route{}, staleVersion(objectRoute, id, version, r.Version)
	}
	if err := mayChange(actor, objectRoute, r.Name, r.ManagedBy); err != nil {
		return alerts.Route{}, err
	}
	return r, nil
}

// ReorderRoutes puts the routes in the order of ids, which must name every
// route once: their positions become 1 to len(ids). Each route whose
// position changes gets a new version and an update row in the audit log;
// the others are left alone. Routes declared in config.yaml move like any
// other: the file does not set positions. It returns every route in its new
// order.
//
// It returns alerts.ErrInvalid, naming the index ("ids[3]"), for an ID
// listed twice, and alerts.ErrConflict, changing nothing, when ids are not
// the stored routes: a route was created or deleted since the caller read
// them.
func (db *DB) ReorderRoutes(ctx context.Context, actor Actor, ids []int64) ([]alerts.Route, error) {
	index := make(map[int64]int, len(ids))
	for i, id := range ids {
		if _, twice := index[id]; twice {
			return nil, alerts.Invalid(fmt.Sprintf("ids[%d]", i), "route %d is listed twice", id)
		}
		index[id] = i
	}
	var reordered []alerts.Route
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// Locking every route also keeps new ones out until tx ends.
		routes, err := db.allRoutes(ctx, tx, db.dialect.forUpdate)
		if err != nil {
			return err
		}
		if err := sameRoutes(routes, ids, index); err != nil {
			return err
		}
		now := db.nowTime()
		reordered = make([]alerts.Route, len(ids))
		var moved []alerts.Route // as they were
		for _, r := range routes {
			i := index[r.ID]
			reordered[i] = r
			if r.Position == int64(i+1) {
				continue
			}
			moved = append(moved, r)
			reordered[i].Position, reordered[i].Version, reordered[i].UpdatedAt = int64(i+1), r.Version+1, now
			// Positions are unique at every statement, not only at commit:
			// park the route at its new position negated, which no route
			// holds, then flip every parked route at once. No final
			// position is held then, since each unmoved route holds its own.
			if _, err := tx.ExecContext(ctx, `UPDATE routes SET position = ? WHERE id = ?`, -int64(i+1), r.ID); err != nil {
				return fmt.Errorf("storage: reorder routes: %w", err)
			}
		}
		if len(moved) == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE routes SET position = -position, version = version + 1, updated_at = ? WHERE position < 0`, millis(now)); err != nil {
			return fmt.Errorf("storage: reorder routes: %w", err)
		}
		for _, r := range moved {
			if err := db.audit(ctx, tx, actor, ActionUpdate, objectRoute, r.ID, r, reordered[index[r.ID]]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reordered, nil
}

// sameRoutes returns alerts.ErrConflict unless the IDs of routes are those
// of ids, which index maps to their indexes.
func sameRoutes(routes []alerts.Route, ids []int64, index map[int64]int) error {
	stored := make(map[int64]bool, len(routes))
	for _, r := range routes {
		stored[r.ID] = true
		if _, ok := index[r.ID]; !ok {
			return alerts.Conflict("routes changed since you read them: route %d (%q) is missing from the new order; reload the routes and try again", r.ID, r.Name)
		}
	}
	for _, id := range ids {
		if !stored[id] {
			return alerts.Conflict("routes changed since you read them: there is no route %d; reload the routes and try again", id)
		}
	}
	return nil
}
