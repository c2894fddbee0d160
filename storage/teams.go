package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/tocsinhq/tocsin/alerts"
)

// objectTeam is the audit log's name for teams.
const objectTeam = "team"

const teamColumns = `id, name, managed_by, version, created_at, updated_at`

// TeamFilter selects teams in a list.
type TeamFilter struct {
	// Member keeps the teams that have this user ID as a member; 0 keeps
	// every team.
	Member int64
}

// scanTeam reads a row of teamColumns; the members are read apart.
func scanTeam(row interface{ Scan(...any) error }) (alerts.Team, error) {
	var (
		t                alerts.Team
		created, updated int64
	)
	err := row.Scan(&t.ID, &t.Name, &t.ManagedBy, &t.Version, &created, &updated)
	t.CreatedAt, t.UpdatedAt = fromMillis(created), fromMillis(updated)
	return t, err
}

// CreateTeam adds a team. A team created by ConfigActor is managed by the
// config file. It returns alerts.ErrInvalid, naming the field, for a team
// that alerts.Team.Validate refuses or a member that is not a user
// ("members[2]"), and alerts.ErrConflict, naming "name", when the name is
// taken.
func (db *DB) CreateTeam(ctx context.Context, actor Actor, t alerts.Team) (alerts.Team, error) {
	if err := t.Validate(); err != nil {
		return alerts.Team{}, err
	}
	now := db.nowTime()
	in := alerts.Team{Name: t.Name, Members: sortedIDs(t.Members), ManagedBy: managedBy(actor), Version: 1, CreatedAt: now, UpdatedAt: now}
	var created alerts.Team
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockExisting(ctx, tx, "users", "members", "user", t.Members); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO teams (name, managed_by, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
			in.Name, in.ManagedBy, in.Version, millis(now), millis(now))
		if db.dialect.isUnique(err) {
			return nameTaken(objectTeam, in.Name)
		}
		if err != nil {
			return fmt.Errorf("storage: create team: %w", err)
		}
		created = in
		if created.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("storage: create team: %w", err)
		}
		if err := teamMembers().replace(ctx, tx, created.ID, created.Members, true); err != nil {
			return err
		}
		return db.audit(ctx, tx, actor, ActionCreate, objectTeam, created.ID, nil, created)
	})
	if err != nil {
		return alerts.Team{}, err
	}
	return created, nil
}

// Team returns the team with the given ID, with its members, or
// alerts.ErrNotFound.
func (db *DB) Team(ctx context.Context, id int64) (alerts.Team, error) {
	return db.teamByID(ctx, db.sql, id, "")
}

// teamByID reads one team and its members, with an optional locking clause
// for the team's row.
func (db *DB) teamByID(ctx context.Context, q queryer, id int64, lock string) (alerts.Team, error) {
	t, err := scanTeam(q.QueryRowContext(ctx, `SELECT `+teamColumns+` FROM teams WHERE id = ?`+lock, id))
	if errors.Is(err, sql.ErrNoRows) {
		return alerts.Team{}, alerts.NotFound(fmt.Sprintf("team %d", id))
	}
	if err != nil {
		return alerts.Team{}, fmt.Errorf("storage: read team: %w", err)
	}
	teams := []alerts.Team{t}
	if err := addMembers(ctx, q, teams, []int64{id}); err != nil {
		return alerts.Team{}, err
	}
	return teams[0], nil
}

// Teams returns a page of the teams that f selects, with their members, in
// ID order.
func (db *DB) Teams(ctx context.Context, f TeamFilter, page Page) ([]alerts.Team, error) {
	query, args := `SELECT `+teamColumns+` FROM teams WHERE id > ?`, []any{page.Cursor}
	if f.Member != 0 {
		query, args = query+` AND id IN (SELECT team_id FROM team_members WHERE user_id = ?)`, append(args, f.Member)
	}
	teams, err := db.queryTeams(ctx, db.sql, query+` ORDER BY id LIMIT ?`, append(args, page.Limit)...)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(teams))
	for i, t := range teams {
		ids[i] = t.ID
	}
	if err := addMembers(ctx, db.sql, teams, ids); err != nil {
		return nil, err
	}
	return teams, nil
}

// allTeams returns every team with its members, in ID order, in two
// queries.
func (db *DB) allTeams(ctx context.Context, q queryer) ([]alerts.Team, error) {
	teams, err := db.queryTeams(ctx, q, `SELECT `+teamColumns+` FROM teams ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return teams, addMembers(ctx, q, teams, nil)
}

// queryTeams runs a query of teamColumns.
func (db *DB) queryTeams(ctx context.Context, q queryer, query string, args ...any) ([]alerts.Team, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: list teams: %w", err)
	}
	defer rows.Close()
	teams := []alerts.Team{}
	for rows.Next() {
		t, err := scanTeam(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: list teams: %w", err)
		}
		teams = append(teams, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: list teams: %w", err)
	}
	return teams, nil
}

// addMembers fills in the members of teams, reading those of the teams in
// ids, or of every team when ids is nil, in one query.
func addMembers(ctx context.Context, q queryer, teams []alerts.Team, ids []int64) error {
	members, err := teamMembers().read(ctx, q, ids)
	if err != nil {
		return err
	}
	for i := range teams {
		teams[i].Members = append([]int64{}, members[teams[i].ID]...)
	}
	return nil
}

// UpdateTeam replaces a team's name and members. t.Version must be the
// stored version: otherwise it returns alerts.ErrConflict, naming
// "version", and changes nothing. It returns alerts.ErrNotFound when there
// is no such team; alerts.ErrForbidden for a team declared in config.yaml,
// unless actor is ConfigActor, whose update makes the team managed by the
// file; alerts.ErrInvalid as CreateTeam does; and alerts.ErrConflict,
// naming "name", when the new name is taken.
func (db *DB) UpdateTeam(ctx context.Context, actor Actor, t alerts.Team) (alerts.Team, error) {
	if err := t.Validate(); err != nil {
		return alerts.Team{}, err
	}
	var updated alerts.Team
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// Users before teams, the order in which DeleteUser locks them; but
		// a stale version, which may explain a missing member, is reported
		// first.
		missing := db.lockExisting(ctx, tx, "users", "members", "user", t.Members)
		if missing != nil && !errors.Is(missing, alerts.ErrInvalid) {
			return missing
		}
		before, err := db.lockTeam(ctx, tx, actor, t.ID, t.Version)
		if err != nil {
			return err
		}
		if t.Version != before.Version { // version 0: an update has no unconditional form
			return staleVersion(objectTeam, t.ID, t.Version, before.Version)
		}
		if missing != nil {
			return missing
		}
		updated = before
		updated.Name, updated.Members, updated.ManagedBy = t.Name, sortedIDs(t.Members), managedBy(actor)
		updated.Version, updated.UpdatedAt = before.Version+1, db.nowTime()
		_, err = tx.ExecContext(ctx, `UPDATE teams SET name = ?, managed_by = ?, version = ?, updated_at = ? WHERE id = ?`,
			updated.Name, updated.ManagedBy, updated.Version, millis(updated.UpdatedAt), updated.ID)
		if db.dialect.isUnique(err) {
			return nameTaken(objectTeam, updated.Name)
		}
		if err != nil {
			return fmt.Errorf("storage: update team: %w", err)
		}
		if err := teamMembers().replace(ctx, tx, updated.ID, updated.Members, false); err != nil {
			return err
		}
		return db.audit(ctx, tx, actor, ActionUpdate, objectTeam, t.ID, before, updated)
	})
	if err != nil {
		return alerts.Team{}, err
	}
	return updated, nil
}

// DeleteTeam deletes a team. version, unless 0, must be the stored version,
// or it returns alerts.ErrConflict, naming "version". A team that routes
// target cannot go: it returns alerts.ErrConflict naming those routes. It
// returns alerts.ErrNotFound when there is no such team, and
// alerts.ErrForbidden for a team declared in config.yaml, unless actor is
// ConfigActor.
func (db *DB) DeleteTeam(ctx context.Context, actor Actor, id, version int64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		before, err := db.lockTeam(ctx, tx, actor, id, version)
		if err != nil {
			return err
		}
		if err := db.teamUnused(ctx, tx, before); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM teams WHERE id = ?`, id); err != nil {
			return fmt.Errorf("storage: delete team: %w", err)
		}
		return db.audit(ctx, tx, actor, ActionDelete, objectTeam, id, before, nil)
	})
}

// teamUnused returns alerts.ErrConflict, naming the routes in position
// order, when routes target t. It locks the routes' rows that name t, so
// that no route can start to target it before tx ends.
func (db *DB) teamUnused(ctx context.Context, tx *sql.Tx, t alerts.Team) error {
	rows, err := tx.QueryContext(ctx,
		`SELECT r.name FROM route_teams rt JOIN routes r ON r.id = rt.route_id WHERE rt.team_id = ? ORDER BY r.position`+db.dialect.forUpdate, t.ID)
	if err != nil {
		return fmt.Errorf("storage: read routes of team: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("storage: read routes of team: %w", err)
		}
		names = append(names, fmt.Sprintf("%q", name))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("storage: read routes of team: %w", err)
	}
	switch len(names) {
	case 0:
		return nil
	case 1:
		return alerts.Conflict("team %q is used by route %s; take it out of that route first", t.Name, names[0])
	}
	return alerts.Conflict("team %q is used by routes %s; take it out of those routes first", t.Name, strings.Join(names, ", "))
}

// lockTeam reads a team in tx, locking its row, checks its version (0
// accepts any) and that actor may change it.
func (db *DB) lockTeam(ctx context.Context, tx *sql.Tx, actor Actor, id, version int64) (alerts.Team, error) {
	t, err := db.teamByID(ctx, tx, id, db.dialect.forUpdate)
	if err != nil {
		return alerts.Team{}, err
	}
	if version != 0 && t.Version != version {
		return alerts.Team{}, staleVersion(objectTeam, id, version, t.Version)
	}
	if err := mayChange(actor, objectTeam, t.Name, t.ManagedBy); err != nil {
		return alerts.Team{}, err
	}
	return t, nil
}
