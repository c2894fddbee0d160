package alerts_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
)

// mustMatchers parses s, in the list form, or fails the test.
func mustMatchers(t testing.TB, s string) alerts.Matchers {
	t.Helper()
	ms, err := alerts.ParseMatchers(s)
	if err != nil {
		t.Fatalf("ParseMatchers(%q): %v", s, err)
	}
	return ms
}

// manyMatchers returns n matchers, a0="x" to a<n-1>="x".
func manyMatchers(t testing.TB, n int) alerts.Matchers {
	t.Helper()
	ms := alerts.Matchers{}
	for i := range n {
		m, err := alerts.NewMatcher("a"+strings.Repeat("b", i), alerts.MatchEqual, "x")
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return ms
}

// ids returns the IDs 1 to n.
func ids(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out
}

// checkField checks that err is an ErrInvalid *alerts.Error about field;
// want "" means err must be nil.
func checkField(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Errorf("error %q, want none", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one about %q", field)
	}
	if !errors.Is(err, alerts.ErrInvalid) {
		t.Errorf("error %q is not ErrInvalid", err)
	}
	e, ok := errors.AsType[*alerts.Error](err)
	if !ok {
		t.Fatalf("error %q is %T, want *alerts.Error", err, err)
	}
	if e.Field != field {
		t.Errorf("error %q is about field %q, want %q", err, e.Field, field)
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"ops", true},
		{"a", true},
		{"9", true},
		{"db-primary.eu_west", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{"Ops", false},
		{"-ops", false},
		{".ops", false},
		{"_ops", false},
		{"on call", false},
		{"ops/db", false},
		{"équipe", false},
	}
	for _, tt := range tests {
		err := alerts.ValidateName("name", tt.name)
		if tt.ok && err != nil {
			t.Errorf("ValidateName(%q): %v", tt.name, err)
		}
		if !tt.ok {
			if err == nil {
				t.Errorf("ValidateName(%q): no error", tt.name)
				continue
			}
			if e, ok := errors.AsType[*alerts.Error](err); !ok || e.Field != "name" || !errors.Is(err, alerts.ErrInvalid) {
				t.Errorf("ValidateName(%q) = %q, want an ErrInvalid about name", tt.name, err)
			}
		}
	}
}

func TestTeamValidate(t *testing.T) {
	tests := []struct {
		name  string
		team  alerts.Team
		field string // "" for valid
	}{
		{"valid", alerts.Team{Name: "ops", Members: []int64{1, 2, 3}}, ""},
		{"no members", alerts.Team{Name: "ops"}, ""},
		{"most members", alerts.Team{Name: "ops", Members: ids(alerts.MaxRuleTargets)}, ""},
		{"no name", alerts.Team{Members: []int64{1}}, "name"},
		{"bad name", alerts.Team{Name: "On Call"}, "name"},
		{"zero member", alerts.Team{Name: "ops", Members: []int64{0}}, "members[0]"},
		{"negative member", alerts.Team{Name: "ops", Members: []int64{1, -2}}, "members[1]"},
		{"member twice", alerts.Team{Name: "ops", Members: []int64{1, 2, 1}}, "members[2]"},
		{"too many members", alerts.Team{Name: "ops", Members: ids(alerts.MaxRuleTargets + 1)}, "members"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkField(t, tt.team.Validate(), tt.field)
		})
	}
}

func TestRouteValidate(t *testing.T) {
	critical := mustMatchers(t, `{severity="critical"}`)
	tests := []struct {
		name  string
		route alerts.Route
		field string // "" for valid
	}{
		{"valid", alerts.Route{Name: "db", Matchers: critical, Users: []int64{1}, Teams: []int64{2}, Position: 3}, ""},
		{"no matchers matches all", alerts.Route{Name: "all", Users: []int64{1}}, ""},
		{"teams only", alerts.Route{Name: "db", Teams: []int64{2}}, ""},
		{"most matchers", alerts.Route{Name: "db", Matchers: manyMatchers(t, alerts.MaxRuleMatchers), Users: []int64{1}}, ""},
		{"no name", alerts.Route{Users: []int64{1}}, "name"},
		{"bad name", alerts.Route{Name: "DB!", Users: []int64{1}}, "name"},
		{"too many matchers", alerts.Route{Name: "db", Matchers: manyMatchers(t, alerts.MaxRuleMatchers+1), Users: []int64{1}}, "matchers"},
		{"zero user", alerts.Route{Name: "db", Users: []int64{0}}, "users[0]"},
		{"user twice", alerts.Route{Name: "db", Users: []int64{4, 5, 4}}, "users[2]"},
		{"too many users", alerts.Route{Name: "db", Users: ids(alerts.MaxRuleTargets + 1)}, "users"},
		{"negative team", alerts.Route{Name: "db", Users: []int64{1}, Teams: []int64{-1}}, "teams[0]"},
		{"team twice", alerts.Route{Name: "db", Teams: []int64{3, 3}}, "teams[1]"},
		{"too many teams", alerts.Route{Name: "db", Teams: ids(alerts.MaxRuleTargets + 1)}, "teams"},
		{"no targets", alerts.Route{Name: "db", Users: []int64{}, Teams: []int64{}}, "users"},
		{"negative position", alerts.Route{Name: "db", Users: []int64{1}, Position: -1}, "position"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkField(t, tt.route.Validate(), tt.field)
		})
	}
}

func TestSilenceValidate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	valid := alerts.Silence{
		Matchers: mustMatchers(t, `{alertname="DiskFull", host=~"db.*"}`),
		StartsAt: now,
		EndsAt:   now.Add(time.Hour),
		Comment:  "replacing the disk",
	}
	with := func(change func(*alerts.Silence)) alerts.Silence {
		s := valid
		change(&s)
		return s
	}
	tests := []struct {
		name    string
		silence alerts.Silence
		field   string // "" for valid
	}{
		{"valid", valid, ""},
		{"started in the past", with(func(s *alerts.Silence) { s.StartsAt = now.Add(-24 * time.Hour) }), ""},
		{"starts in the future", with(func(s *alerts.Silence) { s.StartsAt, s.EndsAt = now.Add(time.Hour), now.Add(2*time.Hour) }), ""},
		{"one matcher not matching empty is enough", with(func(s *alerts.Silence) { s.Matchers = mustMatchers(t, `{env=~".*", job="api"}`) }), ""},
		{"longest comment", with(func(s *alerts.Silence) { s.Comment = strings.Repeat("é", alerts.MaxCommentLen) }), ""},
		{"newline and tab in comment", with(func(s *alerts.Silence) { s.Comment = "line one\n\tline two" }), ""},
		{"most matchers", with(func(s *alerts.Silence) { s.Matchers = manyMatchers(t, alerts.MaxRuleMatchers) }), ""},
		{"no matchers", with(func(s *alerts.Silence) { s.Matchers = nil }), "matchers"},
		{"too many matchers", with(func(s *alerts.Silence) { s.Matchers = manyMatchers(t, alerts.MaxRuleMatchers+1) }), "matchers"},
		{"matches everything", with(func(s *alerts.Silence) { s.Matchers = mustMatchers(t, `{env=~".*"}`) }), "matchers"},
		{"matches the empty value", with(func(s *alerts.Silence) { s.Matchers = mustMatchers(t, `{env="", job!="api"}`) }), "matchers"},
		{"no start", with(func(s *alerts.Silence) { s.StartsAt = time.Time{} }), "starts_at"},
		{"ends at start", with(func(s *alerts.Silence) { s.EndsAt = s.StartsAt }), "ends_at"},
		{"ends before start", with(func(s *alerts.Silence) { s.EndsAt = s.StartsAt.Add(-time.Minute) }), "ends_at"},
		{"ends now", with(func(s *alerts.Silence) { s.StartsAt, s.EndsAt = now.Add(-time.Hour), now }), "ends_at"},
		{"ended", with(func(s *alerts.Silence) { s.StartsAt, s.EndsAt = now.Add(-2*time.Hour), now.Add(-time.Hour) }), "ends_at"},
		{"no comment", with(func(s *alerts.Silence) { s.Comment = "" }), "comment"},
		{"comment too long", with(func(s *alerts.Silence) { s.Comment = strings.Repeat("é", alerts.MaxCommentLen+1) }), "comment"},
		{"control character in comment", with(func(s *alerts.Silence) { s.Comment = "disk\x00" }), "comment"},
		{"invisible character in comment", with(func(s *alerts.Silence) { s.Comment = "disk\u200b" }), "comment"},
		{"bidi override in comment", with(func(s *alerts.Silence) { s.Comment = "disk\u202e" }), "comment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkField(t, tt.silence.Validate(now), tt.field)
		})
	}
}

func TestSilenceStateAt(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := alerts.Silence{StartsAt: start, EndsAt: start.Add(time.Hour)}
	tests := []struct {
		at   time.Time
		want alerts.SilenceState
	}{
		{start.Add(-time.Nanosecond), alerts.SilencePending},
		{start, alerts.SilenceActive},
		{start.Add(time.Hour - time.Nanosecond), alerts.SilenceActive},
		{start.Add(time.Hour), alerts.SilenceExpired},
		{start.Add(48 * time.Hour), alerts.SilenceExpired},
	}
	for _, tt := range tests {
		if got := s.StateAt(tt.at); got != tt.want {
			t.Errorf("StateAt(start%+v) = %q, want %q", tt.at.Sub(start), got, tt.want)
		}
	}
}
