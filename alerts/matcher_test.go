package alerts_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/alerts"
)

// want is a matcher's parsed parts.
type want struct {
	name  string
	typ   alerts.MatchType
	value string
}

func parts(ms alerts.Matchers) []want {
	ws := []want{}
	for _, m := range ms {
		ws = append(ws, want{m.Name, m.Type, m.Value})
	}
	return ws
}

func TestMatchTypeString(t *testing.T) {
	for typ, op := range map[alerts.MatchType]string{
		alerts.MatchEqual:     "=",
		alerts.MatchNotEqual:  "!=",
		alerts.MatchRegexp:    "=~",
		alerts.MatchNotRegexp: "!~",
		alerts.MatchType(9):   "MatchType(9)",
	} {
		if got := typ.String(); got != op {
			t.Errorf("MatchType(%d).String() = %q, want %q", int(typ), got, op)
		}
	}
}

func TestParseMatcher(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want want
	}{
		{"equal", `job="api"`, want{"job", alerts.MatchEqual, "api"}},
		{"not equal", `job!="api"`, want{"job", alerts.MatchNotEqual, "api"}},
		{"regexp", `job=~"api|web"`, want{"job", alerts.MatchRegexp, "api|web"}},
		{"not regexp", `job!~"api.*"`, want{"job", alerts.MatchNotRegexp, "api.*"}},
		{"empty value", `job=""`, want{"job", alerts.MatchEqual, ""}},
		{"underscore name", `__name__="up"`, want{"__name__", alerts.MatchEqual, "up"}},
		{"escaped quote", `msg="say \"hi\""`, want{"msg", alerts.MatchEqual, `say "hi"`}},
		{"escaped backslash", `path="C:\\tmp"`, want{"path", alerts.MatchEqual, `C:\tmp`}},
		{"escaped newline", `msg="a\nb"`, want{"msg", alerts.MatchEqual, "a\nb"}},
		{"unicode escape", `city="Z\u00fcrich"`, want{"city", alerts.MatchEqual, "Zürich"}},
		{"unicode value", `city="Zürich 東京 🚨"`, want{"city", alerts.MatchEqual, "Zürich 東京 🚨"}},
		{"regexp escape", `ip=~"10\\.0\\..*"`, want{"ip", alerts.MatchRegexp, `10\.0\..*`}},
		{"delimiters in value", `v="{a=\"1\", b}"`, want{"v", alerts.MatchEqual, `{a="1", b}`}},
		{"spaces around", "  job=\"api\"\t", want{"job", alerts.MatchEqual, "api"}},
		{"spaces between", "job \t=~\n \"api\"", want{"job", alerts.MatchRegexp, "api"}},
		{"spaces in value kept", `job=" api "`, want{"job", alerts.MatchEqual, " api "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := alerts.ParseMatcher(tt.in)
			if err != nil {
				t.Fatalf("ParseMatcher(%q): %v", tt.in, err)
			}
			if got := (want{m.Name, m.Type, m.Value}); got != tt.want {
				t.Errorf("ParseMatcher(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseMatchers(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []want
	}{
		{"empty string", "", []want{}},
		{"only spaces", " \t\n", []want{}},
		{"empty braces", "{}", []want{}},
		{"empty braces spaced", " { } ", []want{}},
		{"one braced", `{job="api"}`, []want{{"job", alerts.MatchEqual, "api"}}},
		{"one bare", `job="api"`, []want{{"job", alerts.MatchEqual, "api"}}},
		{"list braced", `{a="1", b=~"x|y"}`, []want{
			{"a", alerts.MatchEqual, "1"}, {"b", alerts.MatchRegexp, "x|y"},
		}},
		{"list bare", `a!="1",b!~"x|y"`, []want{
			{"a", alerts.MatchNotEqual, "1"}, {"b", alerts.MatchNotRegexp, "x|y"},
		}},
		{"trailing comma braced", `{a="1",}`, []want{{"a", alerts.MatchEqual, "1"}}},
		{"trailing comma bare", `a="1", `, []want{{"a", alerts.MatchEqual, "1"}}},
		{"whitespace everywhere", " {\n a = \"1\" ,\tb =~ \"2\" , \n} ", []want{
			{"a", alerts.MatchEqual, "1"}, {"b", alerts.MatchRegexp, "2"},
		}},
		{"same name twice", `{a=~"x.*", a!="xy"}`, []want{
			{"a", alerts.MatchRegexp, "x.*"}, {"a", alerts.MatchNotEqual, "xy"},
		}},
		{"comma and brace in value", `{a=",}", b="{"}`, []want{
			{"a", alerts.MatchEqual, ",}"}, {"b", alerts.MatchEqual, "{"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := alerts.ParseMatchers(tt.in)
			if err != nil {
				t.Fatalf("ParseMatchers(%q): %v", tt.in, err)
			}
			if got := parts(ms); !slices.Equal(got, tt.want) {
				t.Errorf("ParseMatchers(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseMatcherErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the whole message
	}{
		{"empty", "", `expected label name at column 1 (end of input)`},
		{"unknown operator", `severity=>"x"`, `unknown operator "=>" at column 9: want =, !=, =~ or !~`},
		{"double equals", `a == "x"`, `unknown operator "==" at column 3: want =, !=, =~ or !~`},
		{"missing operator", `job "api"`, `expected operator (=, !=, =~ or !~) at column 5: found "\""`},
		{"name only", `job`, `expected operator (=, !=, =~ or !~) at column 4 (end of input)`},
		{"missing value", `job=`, `expected double-quoted value at column 5 (end of input)`},
		{"missing quotes", `job=api`, `expected double-quoted value at column 5: found "a"`},
		{"single quotes", `job='api'`, `single-quoted value at column 5: use double quotes`},
		{"unterminated quote", `job="abc`, `unterminated quoted value starting at column 5`},
		{"unterminated after backslash", `job="abc\`, `unterminated quoted value starting at column 5`},
		{"escaped closing quote", `job="abc\"`, `unterminated quoted value starting at column 5`},
		{"bad escape", `job="a\qb"`, "invalid escape sequence `\\q` at column 7: want Go escapes such as \\\" \\\\ \\n \\t \\u00e9"},
		{"short hex escape", `job="\x4"`, "invalid escape sequence `\\x` at column 6: want Go escapes such as \\\" \\\\ \\n \\t \\u00e9"},
		{"raw newline", "job=\"a\nb\"", `newline in quoted value at column 7: write it as \n`},
		{"invalid utf8", "job=\"a\xffb\"", `invalid UTF-8 in quoted value at column 7`},
		{"invalid utf8 escape", `job="\xff"`, `value is not valid UTF-8 at column 5`},
		{"name starts with digit", ` 9x="a"`, `invalid label name "9x" at column 2: want [a-zA-Z_][a-zA-Z0-9_]*`},
		{"name with dash", `a-b="a"`, `invalid label name "a-b" at column 1: want [a-zA-Z_][a-zA-Z0-9_]*`},
		{"unicode name", `é="a"`, `invalid label name "é" at column 1: want [a-zA-Z_][a-zA-Z0-9_]*`},
		{"column counts characters", `é="a" x`, `invalid label name "é" at column 1: want [a-zA-Z_][a-zA-Z0-9_]*`},
		{"bad regexp", `a=~"a("`, `invalid regexp "a(" at column 4: missing closing )`},
		{"bad regexp escape", `a=~"x\\q"`, "invalid regexp \"x\\\\q\" at column 4: invalid escape sequence: `\\q`"},
		{"regexp escaping anchors", `a=~"x)|(y"`, `invalid regexp "x)|(y" at column 4: unexpected )`},
		{"bad negated regexp", `a!~"*"`, "invalid regexp \"*\" at column 4: missing argument to repetition operator"},
		{"braces", `{a="1"}`, `expected label name at column 1: found "{"`},
		{"trailing garbage", `a="1" x`, `unexpected "x" at column 7: want end of matcher`},
		{"two matchers", `a="1",b="2"`, `unexpected "," at column 6: want end of matcher`},
		{"too long", `a="` + strings.Repeat("x", alerts.MaxMatchersLen) + `"`, `matchers too long: 4100 bytes, the limit is 4096`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := alerts.ParseMatcher(tt.in)
			if err == nil {
				t.Fatalf("ParseMatcher(%q) = %v, want error %q", tt.in, m, tt.want)
			}
			checkInvalid(t, err, tt.want)
		})
	}
}

func TestParseMatchersErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"missing comma", `{a="1" b="2"}`, `expected "," or "}" at column 8: found "b"`},
		{"missing comma bare", `a="1" b="2"`, `expected "," at column 7: found "b"`},
		{"unclosed brace", `{a="1"`, `expected "," or "}" at column 7 (end of input)`},
		{"unclosed after comma", `{a="1",`, `expected label name or "}" at column 8 (end of input)`},
		{"only open brace", `{`, `expected label name or "}" at column 2 (end of input)`},
		{"double comma", `{a="1",,b="2"}`, `expected label name at column 8: found ","`},
		{"leading comma", `{,a="1"}`, `expected label name at column 2: found ","`},
		{"lone comma", `,`, `expected label name at column 1: found ","`},
		{"close without open", `a="1"}`, `expected "," at column 6: found "}"`},
		{"garbage after brace", `{a="1"} x`, `unexpected "x" after "}" at column 9`},
		{"two lists", `{a="1"}{b="2"}`, `unexpected "{" after "}" at column 8`},
		{"error in second matcher", `{a="1", b=>"2"}`, `unknown operator "=>" at column 10: want =, !=, =~ or !~`},
		{"bad regexp in list", `{a="1", b=~"a("}`, `invalid regexp "a(" at column 12: missing closing )`},
		{"unterminated in list", `{a="1", b="2}`, `unterminated quoted value starting at column 11`},
		{"columns count characters", `{é="1"}`, `invalid label name "é" at column 2: want [a-zA-Z_][a-zA-Z0-9_]*`},
		{"column after unicode", `{a="éé" b}`, `expected "," or "}" at column 9: found "b"`},
		{"too long", strings.Repeat(`a="1",`, 683), `matchers too long: 4098 bytes, the limit is 4096`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := alerts.ParseMatchers(tt.in)
			if err == nil {
				t.Fatalf("ParseMatchers(%q) = %v, want error %q", tt.in, ms, tt.want)
			}
			checkInvalid(t, err, tt.want)
		})
	}
}

// checkInvalid checks that err is an *alerts.Error of class ErrInvalid with
// no field and message want.
func checkInvalid(t *testing.T, err error, want string) {
	t.Helper()
	if !errors.Is(err, alerts.ErrInvalid) {
		t.Errorf("error %q is not ErrInvalid", err)
	}
	e, ok := errors.AsType[*alerts.Error](err)
	if !ok {
		t.Fatalf("error %q is %T, want *alerts.Error", err, err)
	}
	if e.Field != "" {
		t.Errorf("error %q has field %q, want none", err, e.Field)
	}
	if e.Message != want {
		t.Errorf("message:\n got %s\nwant %s", e.Message, want)
	}
}

func TestLengthLimit(t *testing.T) {
	// Exactly at the limit parses; one byte more does not.
	in := `a="` + strings.Repeat("x", alerts.MaxMatchersLen-4) + `"`
	if _, err := alerts.ParseMatcher(in); err != nil {
		t.Errorf("ParseMatcher of %d bytes: %v", len(in), err)
	}
	if _, err := alerts.ParseMatchers(in); err != nil {
		t.Errorf("ParseMatchers of %d bytes: %v", len(in), err)
	}
	if _, err := alerts.ParseMatchers(in + " "); err == nil {
		t.Errorf("ParseMatchers of %d bytes: no error", len(in)+1)
	}
}

func TestNewMatcher(t *testing.T) {
	m, err := alerts.NewMatcher("job", alerts.MatchRegexp, "api|web")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.String(), `job=~"api|web"`; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
	for _, tt := range []struct {
		name  string
		label string
		typ   alerts.MatchType
		value string
		want  string
	}{
		{"bad name", "9x", alerts.MatchEqual, "a", `invalid label name "9x": want [a-zA-Z_][a-zA-Z0-9_]*`},
		{"empty name", "", alerts.MatchEqual, "a", `invalid label name "": want [a-zA-Z_][a-zA-Z0-9_]*`},
		{"bad type", "a", alerts.MatchType(7), "a", `unknown match type 7`},
		{"bad utf8", "a", alerts.MatchEqual, "\xff", `value is not valid UTF-8`},
		{"bad regexp", "a", alerts.MatchRegexp, "a(", `invalid regexp "a(": missing closing )`},
		{"regexp too long", "a", alerts.MatchNotRegexp, strings.Repeat("a", alerts.MaxMatchersLen+1), `regexp too long: 4097 bytes, the limit is 4096`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := alerts.NewMatcher(tt.label, tt.typ, tt.value)
			if err == nil {
				t.Fatalf("NewMatcher = %v, want error %q", m, tt.want)
			}
			checkInvalid(t, err, tt.want)
		})
	}
	// A long equality value is only compared, never compiled: no limit.
	if _, err := alerts.NewMatcher("a", alerts.MatchEqual, strings.Repeat("a", 2*alerts.MaxMatchersLen)); err != nil {
		t.Errorf("long equality value: %v", err)
	}
}

func TestMatcherMatches(t *testing.T) {
	tests := []struct {
		matcher string
		value   string
		want    bool
	}{
		{`job="api"`, "api", true},
		{`job="api"`, "api-2", false},
		{`job="api"`, "", false},
		{`job!="api"`, "api", false},
		{`job!="api"`, "web", true},
		{`job!="api"`, "", true},
		// Regexps are anchored at both ends.
		{`job=~"api"`, "api", true},
		{`job=~"api"`, "api-2", false},
		{`job=~"api"`, "my-api", false},
		{`job=~"api.*"`, "api-2", true},
		{`job=~"api|web"`, "web", true},
		{`job=~"api|web"`, "api|web", false},
		{`job=~"a|b"`, "ab", false},
		{`job=~".*"`, "", true},
		{`job=~".+"`, "", false},
		{`job!~"api"`, "api", false},
		{`job!~"api"`, "api-2", true},
		{`job!~"api.*"`, "api-2", false},
		{`job!~".+"`, "", true},
		{`msg=~"a.b"`, "a\nb", false}, // . does not match a newline
		{`msg=~"(?s)a.b"`, "a\nb", true},
		{`msg=~"(?i)CRIT.*"`, "critical", true},
		{`city=~"Z.rich"`, "Zürich", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%q", tt.matcher, tt.value), func(t *testing.T) {
			m, err := alerts.ParseMatcher(tt.matcher)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Matches(tt.value); got != tt.want {
				t.Errorf("%s.Matches(%q) = %v, want %v", tt.matcher, tt.value, got, tt.want)
			}
		})
	}
}

func TestMatcherLiteral(t *testing.T) {
	// Equality matchers work as struct literals; regexp ones, with no
	// compiled regexp, match nothing rather than everything.
	if !(&alerts.Matcher{Name: "a", Type: alerts.MatchEqual, Value: "x"}).Matches("x") {
		t.Error("literal a=\"x\" does not match x")
	}
	for _, typ := range []alerts.MatchType{alerts.MatchRegexp, alerts.MatchNotRegexp, alerts.MatchType(9)} {
		m := &alerts.Matcher{Name: "a", Type: typ, Value: "x"}
		if m.Matches("x") || m.Matches("y") {
			t.Errorf("literal %v matches", m)
		}
	}
}

func TestMatchersMatches(t *testing.T) {
	ls := alerts.Labels{"alertname": "HighLatency", "job": "api", "severity": "critical", "env": "prod"}
	tests := []struct {
		name     string
		matchers string
		labels   alerts.Labels
		want     bool
	}{
		{"empty list matches all", `{}`, ls, true},
		{"empty list matches no labels", ``, nil, true},
		{"all match", `{job="api", severity=~"critical|page", env!="dev"}`, ls, true},
		{"one fails", `{job="api", severity=~"warning|info"}`, ls, false},
		{"last fails", `{job="api", env!~"prod|staging"}`, ls, false},
		{"absent equals empty", `{team=""}`, ls, true},
		{"absent not empty", `{team!=""}`, ls, false},
		{"present not empty", `{job!=""}`, ls, true},
		{"present equals empty", `{job=""}`, ls, false},
		{"absent regexp empty", `{team=~"|db"}`, ls, true},
		{"absent regexp any", `{team=~".+"}`, ls, false},
		{"absent not regexp", `{team!~"db"}`, ls, true},
		{"nil labels", `{job!="api"}`, nil, true},
		{"nil labels need job", `{job="api"}`, nil, false},
		{"contradiction", `{job="api", job!="api"}`, ls, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := alerts.ParseMatchers(tt.matchers)
			if err != nil {
				t.Fatal(err)
			}
			if got := ms.Matches(tt.labels); got != tt.want {
				t.Errorf("%s.Matches(%v) = %v, want %v", tt.matchers, tt.labels, got, tt.want)
			}
		})
	}
	var none alerts.Matchers
	if !none.Matches(ls) {
		t.Error("nil Matchers does not match")
	}
}

func TestMatchersString(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{``, `{}`},
		{`a="1"`, `{a="1"}`},
		{` { a = "1" ,b=~"x|y", } `, `{a="1", b=~"x|y"}`},
		{`{a!="say \"hi\"", b!~"\\d+", c="a\nb", d="Zürich\t"}`, `{a!="say \"hi\"", b!~"\\d+", c="a\nb", d="Zürich\t"}`},
		{`{a="\u00e9\x41"}`, `{a="éA"}`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ms, err := alerts.ParseMatchers(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := ms.String(); got != tt.want {
				t.Errorf("String() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseMatcherList(t *testing.T) {
	ms, err := alerts.ParseMatcherList("matchers", []string{`severity="critical"`, ` team =~ "db|infra" `})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ms.String(), `{severity="critical", team=~"db|infra"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}

	for _, exprs := range [][]string{nil, {}} {
		ms, err := alerts.ParseMatcherList("matchers", exprs)
		if err != nil || ms == nil || len(ms) != 0 {
			t.Errorf("ParseMatcherList(%#v) = %#v, %v; want an empty list", exprs, ms, err)
		}
	}

	_, err = alerts.ParseMatcherList("matchers", []string{`alertname="Down"`, `severity=>"x"`, `bad`})
	if !errors.Is(err, alerts.ErrInvalid) {
		t.Fatalf("error %v is not ErrInvalid", err)
	}
	if got, want := err.Error(), `matchers[1]: unknown operator "=>" at column 9: want =, !=, =~ or !~`; got != want {
		t.Errorf("error:\n got %s\nwant %s", got, want)
	}
	if e, ok := errors.AsType[*alerts.Error](err); !ok || e.Field != "matchers[1]" {
		t.Errorf("error %#v: want *alerts.Error with Field matchers[1]", err)
	}

	// Each element is one matcher: list syntax is an error there.
	_, err = alerts.ParseMatcherList("silence.matchers", []string{`{a="1"}`})
	if got, want := fmt.Sprint(err), `silence.matchers[0]: expected label name at column 1: found "{"`; got != want {
		t.Errorf("error:\n got %s\nwant %s", got, want)
	}
}

// fuzzLabels are the label sets FuzzParseMatchers checks matching against.
var fuzzLabels = []alerts.Labels{
	nil,
	{"a": "1", "b": "x", "job": "api", "severity": "critical"},
	{"a": "", "b": "y|z", "job": "api-2", "msg": "a\nb", "city": "Zürich"},
}

func FuzzParseMatchers(f *testing.F) {
	for _, s := range []string{
		``,
		`{}`,
		`{a="1", b=~"x|y"}`,
		`a!="1",b!~"x.*",`,
		` { job = "api" , severity=~"crit.*|page" , } `,
		`{msg="say \"hi\"\n", path="C:\\tmp", city="Z\u00fcrich", e="東京"}`,
		`{a=~"(?i)x+", b!~"", c=""}`,
		`{a=~"a(", b="x"}`,
		`{a=>"1"}`,
		`{9x="1"}`,
		`{a='1'}`,
		`{a="1" b="2"}`,
		`{a="\q"}`,
		`{a="\xff"}`,
		`a=~"x)|(y"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := alerts.ParseMatchers(s)
		if err != nil {
			if e, ok := errors.AsType[*alerts.Error](err); !ok || !errors.Is(err, alerts.ErrInvalid) || e.Field != "" {
				t.Fatalf("ParseMatchers(%q): error %#v is not an *alerts.Error of ErrInvalid with no field", s, err)
			}
			return
		}
		out := ms.String()
		if len(out) > alerts.MaxMatchersLen {
			// Quoting can make the canonical form longer than the input;
			// beyond the limit it must be refused, and each matcher must
			// still round-trip on its own.
			if _, err := alerts.ParseMatchers(out); err == nil {
				t.Fatalf("ParseMatchers of %d bytes: no error", len(out))
			}
			for _, m := range ms {
				if len(m.String()) > alerts.MaxMatchersLen {
					continue
				}
				m2, err := alerts.ParseMatcher(m.String())
				if err != nil {
					t.Fatalf("ParseMatcher(%q) of %q: %v", m.String(), s, err)
				}
				if (want{m2.Name, m2.Type, m2.Value}) != (want{m.Name, m.Type, m.Value}) {
					t.Fatalf("ParseMatcher(%q) = %v, want %v", m.String(), m2, m)
				}
			}
			return
		}
		ms2, err := alerts.ParseMatchers(out)
		if err != nil {
			t.Fatalf("ParseMatchers(%q) parses, but not its String %q: %v", s, out, err)
		}
		if got, want := parts(ms2), parts(ms); !slices.Equal(got, want) {
			t.Fatalf("ParseMatchers(%q) = %+v, but reparsed from %q = %+v", s, want, out, got)
		}
		if out2 := ms2.String(); out2 != out {
			t.Fatalf("String not stable: %q, then %q", out, out2)
		}
		for i, m := range ms {
			m2, err := alerts.ParseMatcher(m.String())
			if err != nil {
				t.Fatalf("ParseMatcher(%q): %v", m.String(), err)
			}
			for _, ls := range fuzzLabels {
				v := ls[m.Name]
				if a, b := m.Matches(v), m2.Matches(v); a != b {
					t.Fatalf("%v.Matches(%q) = %v, but reparsed %v", m, v, a, b)
				}
				if a, b := m.Matches(v), ms2[i].Matches(v); a != b {
					t.Fatalf("%v.Matches(%q) = %v, but reparsed %v", m, v, a, b)
				}
			}
		}
		for _, ls := range fuzzLabels {
			if a, b := ms.Matches(ls), ms2.Matches(ls); a != b {
				t.Fatalf("%s.Matches(%v) = %v, but reparsed %v", out, ls, a, b)
			}
		}
	})
}

// BenchmarkMatchers evaluates matchers against a typical label set of 10
// labels: each match type alone, and a route's worth of matchers that uses
// all four and matches.
func BenchmarkMatchers(b *testing.B) {
	ls := alerts.Labels{
		"alertname": "HighLatency",
		"severity":  "critical",
		"env":       "prod",
		"team":      "platform",
		"region":    "eu-west-1",
		"instance":  "10.0.0.7:9100",
		"job":       "node",
		"service":   "checkout",
		"cluster":   "prod-eu-1",
		"pod":       "checkout-7d9f8b6c5-x2k4p",
	}
	for _, c := range []struct{ name, matchers string }{
		{"equal", `{alertname="HighLatency"}`},
		{"not_equal", `{severity!="info"}`},
		{"regexp", `{team=~"db|infra|platform"}`},
		{"not_regexp", `{instance!~"10\\.1\\..*"}`},
		{"all_types", `{alertname="HighLatency", severity!="info", env="prod", team=~"db|infra|platform", region!="", instance!~"10\\.1\\..*"}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			ms, err := alerts.ParseMatchers(c.matchers)
			if err != nil {
				b.Fatal(err)
			}
			if !ms.Matches(ls) {
				b.Fatalf("%s does not match the label set", c.matchers)
			}
			b.ReportAllocs()
			for b.Loop() {
				if !ms.Matches(ls) {
					b.Fatal("no match")
				}
			}
		})
	}
}
