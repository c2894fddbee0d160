package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tocsinhq/tocsin/alerts"
)

// Rules returns every route in ascending position, disabled ones too, with
// its users and teams; every team with its members; and the silences that
// have not ended at the store's now, pending ones included. It reads them
// in one read-only transaction, so that they are the rules as they stood at
// one moment, and takes no lock that would hold up a writer.
func (db *DB) Rules(ctx context.Context) (alerts.Rules, error) {
	now := millis(db.now())
	tx, err := db.sql.BeginTx(ctx, &db.dialect.snapshot)
	if err != nil {
		return alerts.Rules{}, fmt.Errorf("storage: read rules: %w", err)
	}
	defer tx.Rollback() // read-only: nothing to commit
	routes, err := db.allRoutes(ctx, tx, "")
	if err != nil {
		return alerts.Rules{}, err
	}
	teams, err := db.allTeams(ctx, tx)
	if err != nil {
		return alerts.Rules{}, err
	}
	silences, err := db.liveSilences(ctx, tx, now)
	if err != nil {
		return alerts.Rules{}, err
	}
	return alerts.Rules{Routes: routes, Teams: teams, Silences: silences}, nil
}

// liveSilences returns, in ID order, the silences that end after now.
func (db *DB) liveSilences(ctx context.Context, q queryer, now int64) ([]alerts.Silence, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+silenceColumns+` FROM silences WHERE ends_at > ? ORDER BY id`, now)
	if err != nil {
		return nil, fmt.Errorf("storage: read silences: %w", err)
	}
	defer rows.Close()
	silences := []alerts.Silence{}
	for rows.Next() {
		s, err := scanSilence(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: read silences: %w", err)
		}
		silences = append(silences, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: read silences: %w", err)
	}
	return silences, nil
}

// encodeMatchers returns the stored form of ms, a JSON array of matcher
// strings, and ms as read back from it, which is what the store will answer
// from then on. It returns an ErrInvalid error naming field and the index
// ("matchers[2]") for a nil matcher, or one that does not read back from its
// own syntax, such as a struct literal with an invalid label name.
func encodeMatchers(field string, ms alerts.Matchers) (string, alerts.Matchers, error) {
	exprs := make([]string, len(ms))
	for i, m := range ms {
		if m == nil {
			return "", nil, alerts.Invalid(field+"["+strconv.Itoa(i)+"]", "must be a matcher, not null")
		}
		exprs[i] = m.String()
	}
	parsed, err := alerts.ParseMatcherList(field, exprs)
	if err != nil {
		return "", nil, err
	}
	b, err := json.Marshal(exprs)
	if err != nil {
		return "", nil, fmt.Errorf("storage: encode matchers: %w", err)
	}
	return string(b), parsed, nil
}

// decodeMatchers reads matchers in the form encodeMatchers stores them. A
// stored value that does not decode is the store's fault, not the client's:
// the error it returns wraps no alerts error class.
func decodeMatchers(stored string) (alerts.Matchers, error) {
	var exprs []string
	if err := json.Unmarshal([]byte(stored), &exprs); err != nil {
		return nil, fmt.Errorf("stored matchers %.100q do not decode: %v", stored, err)
	}
	ms, err := alerts.ParseMatcherList("matchers", exprs)
	if err != nil {
		return nil, fmt.Errorf("stored matchers %.100q do not parse: %v", stored, err)
	}
	return ms, nil
}

// inList returns the placeholder list "(?, ?, ?)" for ids, and ids as
// query arguments. ids must not be empty.
func inList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(" + strings.Repeat("?, ", len(ids)-1) + "?)", args
}

// sortedIDs returns a sorted copy of ids, never nil.
func sortedIDs(ids []int64) []int64 {
	sorted := append([]int64{}, ids...)
	slices.Sort(sorted)
	return sorted
}

// A link table, such as route_users, relates the object in its owner column
// (route_id) to the objects in its target column (user_id). Its table and
// column names come from this package, never from input.
type linkTable struct {
	table, owner, target string
}

// The link tables.
func teamMembers() linkTable { return linkTable{"team_members", "team_id", "user_id"} }
func routeUsers() linkTable  { return linkTable{"route_users", "route_id", "user_id"} }
func routeTeams() linkTable  { return linkTable{"route_teams", "route_id", "team_id"} }

// read returns the targets of the owners in owners, or of every owner when
// owners is nil, by owner, each list ascending: one query in all.
func (l linkTable) read(ctx context.Context, q queryer, owners []int64) (map[int64][]int64, error) {
	links := make(map[int64][]int64)
	query := `SELECT ` + l.owner + `, ` + l.target + ` FROM ` + l.table
	var args []any
	if owners != nil {
		if len(owners) == 0 {
			return links, nil
		}
		var in string
		in, args = inList(owners)
		query += ` WHERE ` + l.owner + ` IN ` + in
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY `+l.owner+`, `+l.target, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: read %s: %w", l.table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var owner, target int64
		if err := rows.Scan(&owner, &target); err != nil {
			return nil, fmt.Errorf("storage: read %s: %w", l.table, err)
		}
		links[owner] = append(links[owner], target)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: read %s: %w", l.table, err)
	}
	return links, nil
}

// replace makes targets the targets of owner: it deletes the rows owner
// had, unless fresh says it is a new object with none, and inserts the new
// ones in one statement.
func (l linkTable) replace(ctx context.Context, tx *sql.Tx, owner int64, targets []int64, fresh bool) error {
	if !fresh {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+l.table+` WHERE `+l.owner+` = ?`, owner); err != nil {
			return fmt.Errorf("storage: write %s: %w", l.table, err)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(targets))
	for _, t := range targets {
		args = append(args, owner, t)
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO `+l.table+` (`+l.owner+`, `+l.target+`) VALUES `+strings.Repeat("(?, ?), ", len(targets)-1)+`(?, ?)`, args...)
	if err != nil {
		return fmt.Errorf("storage: write %s: %w", l.table, err)
	}
	return nil
}

// lockExisting checks, in tx, that every ID in ids has a row in table
// (users or teams), locking those rows until the transaction ends, so that
// they cannot go before it commits. It returns an ErrInvalid error naming
// field and the index of the first ID with no row ("members[2]"), saying
// "no <what> <id>".
func (db *DB) lockExisting(ctx context.Context, tx *sql.Tx, table, field, what string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	in, args := inList(ids)
	rows, err := tx.QueryContext(ctx, `SELECT id FROM `+table+` WHERE id IN `+in+db.dialect.forUpdate, args...)
	if err != nil {
		return fmt.Errorf("storage: read %s: %w", table, err)
	}
	defer rows.Close()
	found := make(map[int64]bool, len(ids))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("storage: read %s: %w", table, err)
		}
		found[id] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("storage: read %s: %w", table, err)
	}
	for i, id := range ids {
		if !found[id] {
			return alerts.Invalid(field+"["+strconv.Itoa(i)+"]", "no %s %d", what, id)
		}
	}
	return nil
}
