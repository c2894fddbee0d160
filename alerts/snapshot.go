package alerts

import (
	"slices"
	"time"
)

// Rules are what a routing snapshot is built from: the rules as the store
// held them at one moment.
type Rules struct {
	// Routes are every route in ascending position, disabled ones too.
	Routes []Route
	// Teams are every team, to expand the routes' team targets.
	Teams []Team
	// Silences are the silences that had not expired when the rules were
	// read: active ones and pending ones.
	Silences []Silence
}

// Snapshot is one whole version of the routing rules: the enabled routes in
// order with their teams expanded to users, and the silences active when it
// was built. It is never changed once built, so any number of goroutines may
// evaluate it while a newer one is built.
type Snapshot struct {
	version uint64
	builtAt time.Time
	routes  []snapshotRoute
	// silences are those not expired at builtAt; active marks the ones in
	// their window.
	silences []Silence
	active   []bool
}

// snapshotRoute is an enabled route and the users it notifies.
type snapshotRoute struct {
	route Route
	users []int64 // ascending, each once
}

// NewSnapshot builds the snapshot of rules as version, with the silences
// active at now.
func NewSnapshot(version uint64, rules Rules, now time.Time) *Snapshot {
	members := make(map[int64][]int64, len(rules.Teams))
	for _, t := range rules.Teams {
		members[t.ID] = t.Members
	}
	s := &Snapshot{version: version, builtAt: now}
	for _, r := range rules.Routes {
		if !r.Enabled {
			continue
		}
		users := slices.Clone(r.Users)
		for _, team := range r.Teams {
			users = append(users, members[team]...)
		}
		slices.Sort(users)
		s.routes = append(s.routes, snapshotRoute{route: r, users: slices.Compact(users)})
	}
	for _, sil := range rules.Silences {
		state := sil.StateAt(now)
		if state == SilenceExpired {
			continue
		}
		s.silences = append(s.silences, sil)
		s.active = append(s.active, state == SilenceActive)
	}
	return s
}

// Version returns the snapshot's version: each snapshot a process builds has
// a higher one than the last.
func (s *Snapshot) Version() uint64 { return s.version }

// BuiltAt returns the time the snapshot's silences were judged at.
func (s *Snapshot) BuiltAt() time.Time { return s.builtAt }

// RouteMatch is a route that matched a label set.
type RouteMatch struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Continue bool   `json:"continue"`
}

// Resolution is what the rules decide for one label set.
type Resolution struct {
	// Routes are the routes that matched, in the order evaluated.
	Routes []RouteMatch `json:"routes"`
	// Users are the IDs of the users those routes notify, ascending.
	Users []int64 `json:"users"`
	// Silenced is whether an active silence covers the label set: then
	// nobody is notified, though Users says who would have been.
	Silenced bool `json:"silenced"`
	// Silences are the IDs of the active silences that cover it.
	Silences []int64 `json:"silences"`
}

// Resolve returns the users that an alert with labels ls notifies, and
// whether it is silenced. An alert no route matches notifies nobody.
func (s *Snapshot) Resolve(ls Labels) (users []int64, silenced bool) {
	users = s.route(ls, nil)
	for i, sil := range s.silences {
		if s.active[i] && sil.Matchers.Matches(ls) {
			return users, true
		}
	}
	return users, false
}

// Explain returns the whole resolution of ls: which routes matched, who is
// notified, and which silences cover it. It is Resolve with its reasons.
func (s *Snapshot) Explain(ls Labels) Resolution {
	res := Resolution{Routes: []RouteMatch{}, Silences: []int64{}}
	res.Users = s.route(ls, func(r Route) {
		res.Routes = append(res.Routes, RouteMatch{ID: r.ID, Name: r.Name, Continue: r.Continue})
	})
	if res.Users == nil {
		res.Users = []int64{}
	}
	for i, sil := range s.silences {
		if s.active[i] && sil.Matchers.Matches(ls) {
			res.Silences = append(res.Silences, sil.ID)
		}
	}
	res.Silenced = len(res.Silences) > 0
	return res
}

// route walks the routes in order, calling matched (when not nil) for each
// that matches ls, and returns the users of those routes, ascending, each once.
func (s *Snapshot) route(ls Labels, matched func(Route)) []int64 {
	var users []int64
	many := false
	for _, r := range s.routes {
		if !r.route.Matchers.Matches(ls) {
			continue
		}
		if matched != nil {
			matched(r.route)
		}
		if users == nil {
			users = r.users
		} else {
			users = append(slices.Clip(users), r.users...)
			many = true
		}
		if !r.route.Continue {
			break
		}
	}
	if many {
		slices.Sort(users)
		users = slices.Compact(users)
	}
	return slices.Clone(users)
}

// NextChange returns the first time after the snapshot was built at which a
// silence it holds starts or ends, when the snapshot must be rebuilt for
// Resolve to stay right; ok is false when no silence will change.
func (s *Snapshot) NextChange() (at time.Time, ok bool) {
	for i, sil := range s.silences {
		edge := sil.EndsAt
		if !s.active[i] {
			edge = sil.StartsAt
		}
		if !ok || edge.Before(at) {
			at, ok = edge, true
		}
	}
	return at, ok
}
