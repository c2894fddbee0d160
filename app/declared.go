package app

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/config"
	"github.com/tocsinhq/tocsin/sources"
	"github.com/tocsinhq/tocsin/storage"
)

// declared brings the store in line with the teams, routes, sources and
// pollers that config.yaml declares: it creates the missing ones, updates those that
// differ (taking over an object of the same name made through the API),
// and deletes the ones it once created that the file no longer declares.
// Every change is made as storage.ConfigActor(), which marks the objects as
// managed by the file, and is audited. Objects that already match are left
// alone, so that a restart changes nothing.
//
// It is applied object by object: on an error (a named user or team that
// does not exist, a team still used by a route made through the API) the
// objects before it keep their change, and tocsin does not start.
type declared struct {
	store *storage.DB
	log   *slog.Logger
	cfg   config.Config
	actor storage.Actor
}

// applyDeclared runs declared for cfg.
func applyDeclared(ctx context.Context, store *storage.DB, cfg config.Config, log *slog.Logger) error {
	d := &declared{store: store, log: log, cfg: cfg, actor: storage.ConfigActor()}
	teams, err := d.teams(ctx)
	if err != nil {
		return err
	}
	if err := d.routes(ctx, teams); err != nil {
		return err
	}
	if err := d.removeTeams(ctx, teams); err != nil {
		return err
	}
	if err := d.sources(ctx); err != nil {
		return err
	}
	return d.pollers(ctx)
}

// teams creates and updates the declared teams, and returns every team by
// name, as they now are.
func (d *declared) teams(ctx context.Context) (map[string]alerts.Team, error) {
	existing, err := listAll(ctx, func(ctx context.Context, p storage.Page) ([]alerts.Team, error) {
		return d.store.Teams(ctx, storage.TeamFilter{}, p)
	}, func(t alerts.Team) int64 { return t.ID })
	if err != nil {
		return nil, err
	}
	byName := make(map[string]alerts.Team, len(existing))
	for _, t := range existing {
		byName[t.Name] = t
	}
	for i, want := range d.cfg.Teams {
		members, err := d.userIDs(ctx, fmt.Sprintf("teams[%d].members", i), want.Members)
		if err != nil {
			return nil, err
		}
		team := alerts.Team{Name: want.Name, Members: members}
		have, ok := byName[want.Name]
		switch {
		case !ok:
			team, err = d.store.CreateTeam(ctx, d.actor, team)
		case have.ManagedBy == alerts.ManagedByConfig && slices.Equal(have.Members, members):
			continue
		default:
			team.ID, team.Version = have.ID, have.Version
			team, err = d.store.UpdateTeam(ctx, d.actor, team)
		}
		if err != nil {
			return nil, fmt.Errorf("config teams[%d] (%s): %w", i, want.Name, err)
		}
		d.log.Info("applied a team declared in the config file", "team", team.Name, "version", team.Version)
		byName[team.Name] = team
	}
	return byName, nil
}

// routes creates and updates the declared routes, in the file's order, and
// deletes the file's routes that it no longer declares.
func (d *declared) routes(ctx context.Context, teams map[string]alerts.Team) error {
	existing, err := listAll(ctx, func(ctx context.Context, p storage.Page) ([]alerts.Route, error) {
		return d.store.Routes(ctx, storage.RouteFilter{}, p)
	}, func(r alerts.Route) int64 { return r.Position })
	if err != nil {
		return err
	}
	byName := make(map[string]alerts.Route, len(existing))
	for _, r := range existing {
		byName[r.Name] = r
	}
	for i, want := range d.cfg.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		route, err := d.route(ctx, key, want, teams)
		if err != nil {
			return err
		}
		have, ok := byName[want.Name]
		switch {
		case !ok:
			route, err = d.store.CreateRoute(ctx, d.actor, route)
		case have.ManagedBy == alerts.ManagedByConfig && sameRoute(have, route):
			continue
		default:
			route.ID, route.Version = have.ID, have.Version
			route, err = d.store.UpdateRoute(ctx, d.actor, route)
		}
		if err != nil {
			return fmt.Errorf("config %s (%s): %w", key, want.Name, err)
		}
		d.log.Info("applied a route declared in the config file", "route", route.Name, "version", route.Version)
	}
	for _, r := range existing {
		if r.ManagedBy != alerts.ManagedByConfig || slices.ContainsFunc(d.cfg.Routes, func(c config.Route) bool { return c.Name == r.Name }) {
			continue
		}
		if err := d.store.DeleteRoute(ctx, d.actor, r.ID, r.Version); err != nil {
			return fmt.Errorf("delete route %s, no longer in the config file: %w", r.Name, err)
		}
		d.log.Info("deleted a route no longer in the config file", "route", r.Name)
	}
	return nil
}

// route returns the route a declared one describes, its users and teams
// looked up by name.
func (d *declared) route(ctx context.Context, key string, want config.Route, teams map[string]alerts.Team) (alerts.Route, error) {
	matchers, err := alerts.ParseMatcherList("matchers", want.Matchers)
	if err != nil { // config.Load checked them: this is a bug
		return alerts.Route{}, fmt.Errorf("config %s: %w", key, err)
	}
	users, err := d.userIDs(ctx, key+".users", want.Users)
	if err != nil {
		return alerts.Route{}, err
	}
	teamIDs := make([]int64, 0, len(want.Teams))
	for i, name := range want.Teams {
		t, ok := teams[name]
		if !ok {
			return alerts.Route{}, fmt.Errorf("config %s.teams[%d]: there is no team %q: declare it under teams, or create it through the API", key, i, name)
		}
		teamIDs = append(teamIDs, t.ID)
	}
	slices.Sort(teamIDs)
	enabled := want.Enabled == nil || *want.Enabled
	return alerts.Route{
		Name: want.Name, Matchers: matchers, Users: users, Teams: teamIDs,
		Continue: want.Continue, Enabled: enabled,
	}, nil
}

// sameRoute reports whether a stored route already is what a declared one
// describes. The position is the API's to set, not the file's.
func sameRoute(have, want alerts.Route) bool {
	return have.Matchers.String() == want.Matchers.String() &&
		slices.Equal(have.Users, want.Users) && slices.Equal(have.Teams, want.Teams) &&
		have.Continue == want.Continue && have.Enabled == want.Enabled
}

// removeTeams deletes the file's teams that it no longer declares.
func (d *declared) removeTeams(ctx context.Context, teams map[string]alerts.Team) error {
	for _, name := range slices.Sorted(maps.Keys(teams)) {
		t := teams[name]
		if t.ManagedBy != alerts.ManagedByConfig || slices.ContainsFunc(d.cfg.Teams, func(c config.Team) bool { return c.Name == name }) {
			continue
		}
		if err := d.store.DeleteTeam(ctx, d.actor, t.ID, t.Version); err != nil {
			return fmt.Errorf("delete team %s, no longer in the config file: %w", name, err)
		}
		d.log.Info("deleted a team no longer in the config file", "team", name)
	}
	return nil
}

// sources creates and updates the declared sources, and deletes the file's
// sources that it no longer declares.
func (d *declared) sources(ctx context.Context) error {
	existing, err := listAll(ctx, func(ctx context.Context, p storage.Page) ([]sources.Source, error) {
		return d.store.Sources(ctx, storage.SourceFilter{}, p)
	}, func(s sources.Source) int64 { return s.ID })
	if err != nil {
		return err
	}
	byName := make(map[string]sources.Source, len(existing))
	for _, s := range existing {
		byName[s.Name] = s
	}
	for i, decl := range d.cfg.Sources {
		want := decl.Source()
		if err := want.Validate(); err != nil { // fills in defaults; config.Load checked the rest
			return fmt.Errorf("config sources[%d]: %w", i, err)
		}
		have, ok := byName[want.Name]
		switch {
		case !ok:
			_, err = d.store.CreateSource(ctx, d.actor, want)
		case have.ManagedBy == alerts.ManagedByConfig && sameSource(have, want):
			continue
		default:
			want.ID, want.Version = have.ID, have.Version
			_, err = d.store.UpdateSource(ctx, d.actor, want)
		}
		if err != nil {
			return fmt.Errorf("config sources[%d] (%s): %w", i, want.Name, err)
		}
		d.log.Info("applied a source declared in the config file", "source", want.Name)
	}
	for _, s := range existing {
		if s.ManagedBy != alerts.ManagedByConfig || slices.ContainsFunc(d.cfg.Sources, func(c config.Source) bool { return c.Name == s.Name }) {
			continue
		}
		if err := d.store.DeleteSource(ctx, d.actor, s.ID, s.Version); err != nil {
			return fmt.Errorf("delete source %s, no longer in the config file: %w", s.Name, err)
		}
		d.log.Info("deleted a source no longer in the config file", "source", s.Name)
	}
	return nil
}

// sameSource reports whether a stored source already is what a declared one
// describes, its secret included.
func sameSource(have, want sources.Source) bool {
	return have.Kind == want.Kind && have.Auth == want.Auth && have.Username == want.Username &&
		have.SignatureHeader == want.SignatureHeader && sameMapping(have.Mapping, want.Mapping) &&
		bytes.Equal(have.Credential, sources.Credential(want.Auth, want.Secret))
}

// sameMapping compares two mappings, either of which may be nil.
func sameMapping(a, b *sources.Mapping) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Alerts == b.Alerts && maps.Equal(a.Labels, b.Labels) && a.LabelsFrom == b.LabelsFrom &&
		maps.Equal(a.Annotations, b.Annotations) && a.AnnotationsFrom == b.AnnotationsFrom &&
		a.Status == b.Status && slices.Equal(a.ResolvedValues, b.ResolvedValues)
}

// pollers creates and updates the declared pollers, and deletes the file's
// pollers that it no longer declares. The scheduler reads the pollers when
// it starts, after this.
func (d *declared) pollers(ctx context.Context) error {
	existing, err := d.store.AllPollers(ctx)
	if err != nil {
		return err
	}
	byName := make(map[string]sources.Poller, len(existing))
	for _, p := range existing {
		byName[p.Name] = p
	}
	for i, decl := range d.cfg.Pollers.Checks {
		want, err := decl.Poller()
		if err != nil { // config.Load checked it: this is a bug
			return fmt.Errorf("config pollers.checks[%d]: %w", i, err)
		}
		have, ok := byName[want.Name]
		switch {
		case !ok:
			want, err = d.store.CreatePoller(ctx, d.actor, want)
		case have.ManagedBy == alerts.ManagedByConfig && samePoller(have, want):
			continue
		default:
			want.ID, want.Version = have.ID, have.Version
			want, err = d.store.UpdatePoller(ctx, d.actor, want)
		}
		if err != nil {
			return fmt.Errorf("config pollers.checks[%d] (%s): %w", i, decl.Name, err)
		}
		d.log.Info("applied a poller declared in the config file", "poller", want.Name, "version", want.Version)
	}
	for _, p := range existing {
		if p.ManagedBy != alerts.ManagedByConfig || slices.ContainsFunc(d.cfg.Pollers.Checks, func(c config.Poller) bool { return c.Name == p.Name }) {
			continue
		}
		if err := d.store.DeletePoller(ctx, d.actor, p.ID, p.Version); err != nil {
			return fmt.Errorf("delete poller %s, no longer in the config file: %w", p.Name, err)
		}
		d.log.Info("deleted a poller no longer in the config file", "poller", p.Name)
	}
	return nil
}

// samePoller reports whether a stored poller already is what a declared one
// describes, field by field: everything but the ID, version, owner and
// times.
func samePoller(have, want sources.Poller) bool {
	return have.Name == want.Name && have.Kind == want.Kind && have.Schedule == want.Schedule &&
		have.Timeout == want.Timeout && have.URL == want.URL && have.Method == want.Method &&
		maps.Equal(have.Headers, want.Headers) && have.Body == want.Body &&
		slices.Equal(have.ExpectStatus, want.ExpectStatus) && have.ExpectBody == want.ExpectBody &&
		sameJSONExpectation(have.ExpectJSON, want.ExpectJSON) && have.MaxLatency == want.MaxLatency &&
		have.TLSSkipVerify == want.TLSSkipVerify && have.Address == want.Address && have.Query == want.Query &&
		maps.Equal(have.Labels, want.Labels) && maps.Equal(have.Annotations, want.Annotations) &&
		have.FailAfter == want.FailAfter && have.RecoverAfter == want.RecoverAfter && have.Enabled == want.Enabled
}

// sameJSONExpectation compares two expectations, either of which may be nil.
func sameJSONExpectation(a, b *sources.JSONExpectation) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// userIDs looks up users by name, and returns their IDs in ascending order.
func (d *declared) userIDs(ctx context.Context, key string, names []string) ([]int64, error) {
	ids := make([]int64, 0, len(names))
	for i, name := range names {
		u, err := d.store.UserByName(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("config %s[%d]: user %q: %w (create it first: tocsin user add %s --role responder)", key, i, name, err, name)
		}
		ids = append(ids, u.ID)
	}
	slices.Sort(ids)
	return ids, nil
}

// listAll reads every page of a list, cursor by cursor.
func listAll[T any](ctx context.Context, list func(context.Context, storage.Page) ([]T, error), cursor func(T) int64) ([]T, error) {
	var all []T
	page := storage.Page{Limit: 500}
	for {
		items, err := list(ctx, page)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if len(items) < page.Limit {
			return all, nil
		}
		page.Cursor = cursor(items[len(items)-1])
	}
}
