package alerts_test

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
)

// routingNow is the time routingRules' silences are judged at.
var routingNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// routingRules are the rules the routing tests evaluate:
//
//	route 1 "disabled"  {service="api"}         -> user 9            disabled
//	route 2 "critical"  {severity="critical"}   -> user 1, team 10   continue
//	route 3 "api"       {service="api"}         -> user 2, teams 10, 11
//	route 4 "frontend"  {service=~"api|web"}    -> user 6, team 11
//	team 10 "db"  = users 3, 4
//	team 11 "web" = users 4, 5
//	silence 100 {service="web"}       active  (now-1h, now+1h)
//	silence 101 {service="api"}       pending (now+30m, now+2h)
//	silence 102 {severity="critical"} expired (now-2h, now-1h)
//	silence 103 {host="db1"}          active  (now-1h, now+3h)
func routingRules(t testing.TB) alerts.Rules {
	return alerts.Rules{
		Routes: []alerts.Route{
			{ID: 1, Name: "disabled", Matchers: mustMatchers(t, `{service="api"}`), Users: []int64{9}, Enabled: false, Position: 1},
			{ID: 2, Name: "critical", Matchers: mustMatchers(t, `{severity="critical"}`), Users: []int64{1}, Teams: []int64{10}, Continue: true, Enabled: true, Position: 2},
			{ID: 3, Name: "api", Matchers: mustMatchers(t, `{service="api"}`), Users: []int64{2}, Teams: []int64{10, 11}, Enabled: true, Position: 3},
			{ID: 4, Name: "frontend", Matchers: mustMatchers(t, `{service=~"api|web"}`), Users: []int64{6}, Teams: []int64{11}, Enabled: true, Position: 4},
		},
		Teams: []alerts.Team{
			{ID: 10, Name: "db", Members: []int64{3, 4}},
			{ID: 11, Name: "web", Members: []int64{4, 5}},
		},
		Silences: []alerts.Silence{
			{ID: 100, Matchers: mustMatchers(t, `{service="web"}`), StartsAt: routingNow.Add(-time.Hour), EndsAt: routingNow.Add(time.Hour)},
			{ID: 101, Matchers: mustMatchers(t, `{service="api"}`), StartsAt: routingNow.Add(30 * time.Minute), EndsAt: routingNow.Add(2 * time.Hour)},
			{ID: 102, Matchers: mustMatchers(t, `{severity="critical"}`), StartsAt: routingNow.Add(-2 * time.Hour), EndsAt: routingNow.Add(-time.Hour)},
			{ID: 103, Matchers: mustMatchers(t, `{host="db1"}`), StartsAt: routingNow.Add(-time.Hour), EndsAt: routingNow.Add(3 * time.Hour)},
		},
	}
}

func TestSnapshotRouting(t *testing.T) {
	s := alerts.NewSnapshot(7, routingRules(t), routingNow)
	tests := []struct {
		name     string
		labels   alerts.Labels
		routes   []string // names, in the order evaluated
		users    []int64
		silences []int64
	}{
		{
			name:   "first match wins; disabled route skipped; teams expanded, a user in two teams once",
			labels: alerts.Labels{"service": "api"},
			routes: []string{"api"},
			users:  []int64{2, 3, 4, 5},
		},
		{
			name:   "continue goes on to the next match; a user in two routes once; expired silence ignored",
			labels: alerts.Labels{"service": "api", "severity": "critical"},
			routes: []string{"critical", "api"},
			users:  []int64{1, 2, 3, 4, 5},
		},
		{
			name:   "continue with no later match",
			labels: alerts.Labels{"severity": "critical", "service": "db"},
			routes: []string{"critical"},
			users:  []int64{1, 3, 4},
		},
		{
			name:     "later route, silenced by an active silence",
			labels:   alerts.Labels{"service": "web"},
			routes:   []string{"frontend"},
			users:    []int64{4, 5, 6},
			silences: []int64{100},
		},
		{
			name:     "two active silences",
			labels:   alerts.Labels{"service": "web", "host": "db1"},
			routes:   []string{"frontend"},
			users:    []int64{4, 5, 6},
			silences: []int64{100, 103},
		},
		{
			name:   "no route matches",
			labels: alerts.Labels{"service": "batch"},
		},
		{
			name:     "no route matches, but silenced",
			labels:   alerts.Labels{"service": "batch", "host": "db1"},
			silences: []int64{103},
		},
		{
			name: "empty label set",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, silenced := s.Resolve(tt.labels)
			if !slices.Equal(users, tt.users) {
				t.Errorf("Resolve(%v) users = %v, want %v", tt.labels, users, tt.users)
			}
			if want := len(tt.silences) > 0; silenced != want {
				t.Errorf("Resolve(%v) silenced = %v, want %v", tt.labels, silenced, want)
			}

			res := s.Explain(tt.labels)
			names := []string{}
			for _, r := range res.Routes {
				names = append(names, r.Name)
			}
			if !slices.Equal(names, orEmpty(tt.routes)) {
				t.Errorf("Explain(%v) routes = %v, want %v", tt.labels, names, tt.routes)
			}
			if !slices.Equal(res.Users, orEmpty(tt.users)) || res.Users == nil {
				t.Errorf("Explain(%v) users = %#v, want %v", tt.labels, res.Users, tt.users)
			}
			if !slices.Equal(res.Silences, orEmpty(tt.silences)) || res.Silences == nil {
				t.Errorf("Explain(%v) silences = %#v, want %v", tt.labels, res.Silences, tt.silences)
			}
			if res.Silenced != silenced {
				t.Errorf("Explain(%v) silenced = %v, Resolve says %v", tt.labels, res.Silenced, silenced)
			}
		})
	}
}

// orEmpty returns s, or an empty non-nil slice for nil.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func TestSnapshotExplainDetails(t *testing.T) {
	s := alerts.NewSnapshot(1, routingRules(t), routingNow)
	res := s.Explain(alerts.Labels{"service": "api", "severity": "critical"})
	want := []alerts.RouteMatch{{ID: 2, Name: "critical", Continue: true}, {ID: 3, Name: "api"}}
	if !slices.Equal(res.Routes, want) {
		t.Errorf("routes = %+v, want %+v", res.Routes, want)
	}

	// A label set nothing matches answers empty lists, never null.
	data, err := json.Marshal(s.Explain(alerts.Labels{"service": "batch"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), `{"routes":[],"users":[],"silenced":false,"silences":[]}`; got != want {
		t.Errorf("JSON = %s, want %s", got, want)
	}
}

func TestSnapshotSilenceWindow(t *testing.T) {
	start := routingNow
	rules := alerts.Rules{
		Routes: []alerts.Route{{ID: 1, Name: "all", Users: []int64{1}, Enabled: true}},
		Silences: []alerts.Silence{{
			ID: 5, Matchers: mustMatchers(t, `{alertname="DiskFull"}`),
			StartsAt: start, EndsAt: start.Add(time.Hour),
		}},
	}
	disk := alerts.Labels{"alertname": "DiskFull"}
	other := alerts.Labels{"alertname": "Down"}
	tests := []struct {
		name     string
		at       time.Time
		silenced bool
	}{
		{"pending", start.Add(-time.Minute), false},
		{"just pending", start.Add(-time.Nanosecond), false},
		{"starts", start, true},
		{"active", start.Add(30 * time.Minute), true},
		{"last moment", start.Add(time.Hour - time.Nanosecond), true},
		{"ends", start.Add(time.Hour), false},
		{"expired", start.Add(2 * time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := alerts.NewSnapshot(1, rules, tt.at)
			users, silenced := s.Resolve(disk)
			if silenced != tt.silenced || !slices.Equal(users, []int64{1}) {
				t.Errorf("Resolve(DiskFull) = %v, %v; want [1], %v", users, silenced, tt.silenced)
			}
			if _, silenced := s.Resolve(other); silenced {
				t.Error("an alert the silence does not match is silenced")
			}
		})
	}
}

func TestSnapshotNextChange(t *testing.T) {
	rules := routingRules(t)
	tests := []struct {
		name string
		at   time.Time
		want time.Duration // after routingNow; 0 for none
	}{
		{"pending silence starts first", routingNow, 30 * time.Minute},
		{"then an active one ends", routingNow.Add(30 * time.Minute), time.Hour},
		{"then the next end", routingNow.Add(time.Hour), 2 * time.Hour},
		{"last end", routingNow.Add(2 * time.Hour), 3 * time.Hour},
		{"nothing left", routingNow.Add(3 * time.Hour), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, ok := alerts.NewSnapshot(1, rules, tt.at).NextChange()
			switch {
			case tt.want == 0 && ok:
				t.Errorf("NextChange() = %v, want none", at)
			case tt.want != 0 && (!ok || !at.Equal(routingNow.Add(tt.want))):
				t.Errorf("NextChange() = %v, %v; want now+%v", at.Sub(routingNow), ok, tt.want)
			}
		})
	}
}

func TestSnapshotBasics(t *testing.T) {
	empty := alerts.NewSnapshot(0, alerts.Rules{}, routingNow)
	if users, silenced := empty.Resolve(alerts.Labels{"a": "b"}); len(users) != 0 || silenced {
		t.Errorf("empty snapshot: Resolve = %v, %v; want nobody, not silenced", users, silenced)
	}
	if _, ok := empty.NextChange(); ok {
		t.Error("empty snapshot: NextChange ok")
	}

	s := alerts.NewSnapshot(42, routingRules(t), routingNow)
	if s.Version() != 42 || !s.BuiltAt().Equal(routingNow) {
		t.Errorf("Version, BuiltAt = %d, %v; want 42, %v", s.Version(), s.BuiltAt(), routingNow)
	}
	// The users Resolve answers are the caller's: changing them changes no
	// later answer.
	ls := alerts.Labels{"service": "api"}
	users, _ := s.Resolve(ls)
	users[0] = 999
	if again, _ := s.Resolve(ls); again[0] != 2 {
		t.Errorf("after changing an answer, Resolve = %v", again)
	}
	res := s.Explain(ls)
	res.Users[0] = 999
	if again, _ := s.Resolve(ls); again[0] != 2 {
		t.Errorf("after changing Explain's answer, Resolve = %v", again)
	}
	// Nor do the rules it was built from, once built.
	rules := routingRules(t)
	s = alerts.NewSnapshot(1, rules, routingNow)
	rules.Routes[2].Users[0] = 999
	rules.Teams[0].Members[0] = 999
	if again, _ := s.Resolve(ls); !slices.Equal(again, []int64{2, 3, 4, 5}) {
		t.Errorf("after changing the rules, Resolve = %v", again)
	}
}

func TestSnapshotTeamEdgeCases(t *testing.T) {
	rules := alerts.Rules{
		Routes: []alerts.Route{
			{ID: 1, Name: "ghost", Teams: []int64{77}, Continue: true, Enabled: true},
			{ID: 2, Name: "empty", Teams: []int64{78}, Users: []int64{3}, Continue: true, Enabled: true},
			{ID: 3, Name: "both", Users: []int64{1, 2}, Teams: []int64{79}, Enabled: true},
		},
		Teams: []alerts.Team{
			{ID: 78, Name: "empty", Members: []int64{}},
			{ID: 79, Name: "dup", Members: []int64{2, 1}},
		},
	}
	s := alerts.NewSnapshot(1, rules, routingNow)
	res := s.Explain(alerts.Labels{})
	if got := len(res.Routes); got != 3 {
		t.Errorf("%d routes matched, want 3", got)
	}
	// A team the rules do not hold (deleted meanwhile) adds nobody; the
	// users of every route are listed once each, ascending.
	if want := []int64{1, 2, 3}; !slices.Equal(res.Users, want) {
		t.Errorf("users = %v, want %v", res.Users, want)
	}
}

// BenchmarkResolve evaluates a typical label set against the routes of a
// snapshot: 100 routes, most of which do not match, and 50 silences; then
// 1,000 routes of 2 or 3 matchers each, one per team, with no silences,
// where the alert's route is near the end, and where no route matches.
func BenchmarkResolve(b *testing.B) {
	b.Run("100_routes_50_silences", func(b *testing.B) {
		rules := alerts.Rules{}
		for i := range 100 {
			name := "svc" + strings.Repeat("x", i%10)
			rules.Routes = append(rules.Routes, alerts.Route{
				ID: int64(i + 1), Name: name, Users: []int64{int64(i + 1)}, Enabled: true, Continue: i%7 == 0,
				Matchers: mustMatchers(b, `{service="`+name+`", severity=~"critical|page"}`),
			})
		}
		for i := range 50 {
			rules.Silences = append(rules.Silences, alerts.Silence{
				ID: int64(i + 1), Matchers: mustMatchers(b, `{host="h`+strings.Repeat("x", i)+`"}`),
				StartsAt: routingNow.Add(-time.Hour), EndsAt: routingNow.Add(time.Hour),
			})
		}
		s := alerts.NewSnapshot(1, rules, routingNow)
		ls := alerts.Labels{"service": "svcxxxxxxxxx", "severity": "page", "host": "web1"}
		b.ReportAllocs()
		for b.Loop() {
			s.Resolve(ls)
		}
	})
	s := alerts.NewSnapshot(1, thousandRoutes(b), routingNow)
	for _, c := range []struct {
		name  string
		team  string
		users []int64
	}{
		{"1000_routes_match_near_end", "team-990", []int64{991}},
		{"1000_routes_no_match", "team-none", nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			ls := alerts.Labels{
				"alertname": "HighLatency", "service": "checkout", "severity": "page", "team": c.team,
				"env": "prod", "instance": "checkout-7f9c:8080", "job": "checkout", "cluster": "prod-eu-1",
			}
			if users, _ := s.Resolve(ls); !slices.Equal(users, c.users) {
				b.Fatalf("Resolve = %v, want %v", users, c.users)
			}
			b.ReportAllocs()
			for b.Loop() {
				s.Resolve(ls)
			}
		})
	}
}

// thousandRoutes returns 1,000 enabled routes, route i for team-i's alerts
// and user i+1, with 2 or 3 matchers of every match type but !=.
func thousandRoutes(b *testing.B) alerts.Rules {
	rules := alerts.Rules{}
	for i := range 1000 {
		team := "team-" + strconv.Itoa(i)
		ms := `{team="` + team + `", severity=~"critical|page"}`
		if i%2 == 1 {
			ms = `{team="` + team + `", severity=~"critical|page", env!~"dev|staging"}`
		}
		rules.Routes = append(rules.Routes, alerts.Route{
			ID: int64(i + 1), Name: team, Users: []int64{int64(i + 1)}, Enabled: true,
			Matchers: mustMatchers(b, ms),
		})
	}
	return rules
}
