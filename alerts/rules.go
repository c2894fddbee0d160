package alerts

import (
	"regexp"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// ManagedByConfig marks an object declared in config.yaml: tocsin creates and
// updates it from the file at start, and the API refuses to change it. An
// object made through the API has an empty ManagedBy.
const ManagedByConfig = "config"

// Limits on what one rule may hold, so that a rule stays cheap to evaluate
// and to store.
const (
	MaxRuleMatchers = 64   // matchers per route or silence
	MaxRuleTargets  = 1000 // members of a team; users, and teams, of a route
	MaxCommentLen   = 1024 // characters of a silence's comment
	// MaxRoutePosition is the highest position a client may give a route,
	// far above any real number of routes, so that appending after the
	// last route can never overflow.
	MaxRoutePosition = 1_000_000_000
)

// objectName is the shape of the name of a team, route or source: a handle,
// lower case so that the stores agree on uniqueness whatever their collation,
// and safe in a URL path.
var objectName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidateName returns an ErrInvalid error about field unless name is 1 to 64
// characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit.
func ValidateName(field, name string) error {
	if !objectName.MatchString(name) {
		return Invalid(field, "must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

// Team is a group of users that routes can target as one.
type Team struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Members are user IDs, in ascending order.
	Members   []int64   `json:"members"`
	ManagedBy string    `json:"managed_by"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate checks the fields a client sets. It returns an ErrInvalid error
// naming the field at fault. That members are users is the store's to check.
func (t Team) Validate() error {
	if err := ValidateName("name", t.Name); err != nil {
		return err
	}
	return validateIDs("members", t.Members)
}

// Route sends the alerts its matchers select to its users and to the members
// of its teams. Routes are evaluated in ascending Position: the first enabled
// route that matches wins, unless it has Continue, in which case evaluation
// goes on to the next.
type Route struct {
	ID       int64    `json:"id"`
	Name     string   `json:"name"`
	Matchers Matchers `json:"matchers"`
	// Users and Teams are IDs, in ascending order.
	Users     []int64   `json:"users"`
	Teams     []int64   `json:"teams"`
	Continue  bool      `json:"continue"`
	Enabled   bool      `json:"enabled"`
	Position  int64     `json:"position"`
	ManagedBy string    `json:"managed_by"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate checks the fields a client sets: a name, at most MaxRuleMatchers
// matchers (none matches every alert), at least one target, no target twice,
// and a position that is 0 (the end, on create) or positive. It returns an
// ErrInvalid error naming the field at fault. That the targets exist is the
// store's to check.
func (r Route) Validate() error {
	if err := ValidateName("name", r.Name); err != nil {
		return err
	}
	if len(r.Matchers) > MaxRuleMatchers {
		return Invalid("matchers", "at most %d matchers, got %d", MaxRuleMatchers, len(r.Matchers))
	}
	if err := validateIDs("users", r.Users); err != nil {
		return err
	}
	if err := validateIDs("teams", r.Teams); err != nil {
		return err
	}
	if len(r.Users)+len(r.Teams) == 0 {
		return Invalid("users", "a route needs at least one user or team to notify")
	}
	if r.Position < 0 || r.Position > MaxRoutePosition {
		return Invalid("position", "must be from 1 to %d, or 0 for after the last route", MaxRoutePosition)
	}
	return nil
}

// SilenceState is where a silence is in its window, at a given time.
type SilenceState string

// The states of a silence.
const (
	SilencePending SilenceState = "pending" // its window has not started
	SilenceActive  SilenceState = "active"  // it silences the alerts it matches
	SilenceExpired SilenceState = "expired" // its window has ended
)

// Silence mutes the alerts its matchers select from StartsAt until EndsAt: a
// silenced alert is stored, but nobody is notified.
type Silence struct {
	ID       int64     `json:"id"`
	Matchers Matchers  `json:"matchers"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	// CreatedBy is the name of the user who made the silence, CreatedByID
	// its ID (0 when tocsin or the command line made it).
	CreatedBy   string    `json:"created_by"`
	CreatedByID int64     `json:"created_by_id"`
	Comment     string    `json:"comment"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// StateAt returns the silence's state at now.
func (s Silence) StateAt(now time.Time) SilenceState {
	switch {
	case now.Before(s.StartsAt):
		return SilencePending
	case now.Before(s.EndsAt):
		return SilenceActive
	}
	return SilenceExpired
}

// Validate checks the fields a client sets, at time now: one to
// MaxRuleMatchers matchers, at least one of which does not match the empty
// value (or the silence would mute nearly everything, as Alertmanager also
// refuses); an end after the start and after now; and a comment of one to
// MaxCommentLen printable characters. It returns an ErrInvalid error naming
// the field at fault.
func (s Silence) Validate(now time.Time) error {
	switch {
	case len(s.Matchers) == 0:
		return Invalid("matchers", "a silence needs at least one matcher")
	case len(s.Matchers) > MaxRuleMatchers:
		return Invalid("matchers", "at most %d matchers, got %d", MaxRuleMatchers, len(s.Matchers))
	}
	if !slices.ContainsFunc(s.Matchers, func(m *Matcher) bool { return !m.Matches("") }) {
		return Invalid("matchers", "at least one matcher must not match the empty value, or the silence would mute almost every alert")
	}
	if s.StartsAt.IsZero() {
		return Invalid("starts_at", "is required")
	}
	if !s.EndsAt.After(s.StartsAt) {
		return Invalid("ends_at", "must be after starts_at")
	}
	if !s.EndsAt.After(now) {
		return Invalid("ends_at", "must be in the future")
	}
	if s.Comment == "" {
		return Invalid("comment", "is required: say why the alerts are silenced")
	}
	if n := utf8.RuneCountInString(s.Comment); n > MaxCommentLen {
		return Invalid("comment", "at most %d characters, got %d", MaxCommentLen, n)
	}
	for _, r := range s.Comment {
		if r != '\n' && r != '\t' && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r)) {
			return Invalid("comment", "must not hold control or invisible formatting characters")
		}
	}
	return nil
}

// validateIDs checks a list of object IDs: positive, none twice, at most
// MaxRuleTargets.
func validateIDs(field string, ids []int64) error {
	if len(ids) > MaxRuleTargets {
		return Invalid(field, "at most %d, got %d", MaxRuleTargets, len(ids))
	}
	seen := make(map[int64]bool, len(ids))
	for i, id := range ids {
		at := field + "[" + strconv.Itoa(i) + "]"
		if id < 1 {
			return Invalid(at, "must be a positive ID, got %d", id)
		}
		if seen[id] {
			return Invalid(at, "%d is listed twice", id)
		}
		seen[id] = true
	}
	return nil
}

// ConfigChange is one committed change to the rules, as the config-update
// queue carries it to its worker and on to subscribers.
type ConfigChange struct {
	// Object is what changed: "team", "route", "silence", "source" or
	// "user".
	Object string `json:"object"`
	// ID is the changed object's ID; 0 for a change to many objects, such as
	// a reorder of the routes.
	ID int64 `json:"id"`
	// Action is "create", "update", "delete", "reorder" or "expire".
	Action string `json:"action"`
	// Version is the object's version after the change; 0 after a delete.
	Version int64 `json:"version"`
}
