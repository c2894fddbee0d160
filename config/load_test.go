package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env returns a getenv that reads from m.
func env(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

// lines joins the expected lines of an error.
func lines(ls ...string) string { return strings.Join(ls, "\n") }

func TestDefaultValidates(t *testing.T) {
	if ps := validate(Default()); len(ps) != 0 {
		t.Fatalf("Default() does not validate: %v", joinProblems(ps))
	}
}

// The example config.yaml at the repository root must load as is, set every
// key, and equal Default(), so that it cannot drift from the code.
func TestExampleConfig(t *testing.T) {
	const path = "../config.yaml"
	got, err := Load(path, nil)
	if err != nil {
		t.Fatalf("Load(%q): %v", path, err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Load(%q) =\n%+v\nwant Default() =\n%+v", path, got, want)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	l := newLoader(path)
	l.decodeFile(reflect.ValueOf(&cfg).Elem(), data)
	for _, lf := range leaves(reflect.TypeFor[Config]()) {
		if _, ok := l.origins[lf.path]; !ok {
			t.Errorf("%s does not set %s", path, lf.path)
		}
	}
}

func TestLoadNoFile(t *testing.T) {
	got, err := Load("", nil)
	if err != nil {
		t.Fatalf("Load(\"\", nil): %v", err)
	}
	if !reflect.DeepEqual(got, Default()) {
		t.Errorf("Load(\"\", nil) = %+v, want Default()", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	const path = "testdata/does-not-exist.yaml"
	_, err := Load(path, nil)
	if err == nil {
		t.Fatalf("Load(%q): no error", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(%q) = %v, want an error matching fs.ErrNotExist", path, err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("Load(%q) = %q, want the path in the message", path, err)
	}
}

func TestLoadDefaultsOnly(t *testing.T) {
	for _, path := range []string{"testdata/empty.yaml", "testdata/comments.yaml"} {
		t.Run(path, func(t *testing.T) {
			got, err := Load(path, nil)
			if err != nil {
				t.Fatalf("Load(%q): %v", path, err)
			}
			if !reflect.DeepEqual(got, Default()) {
				t.Errorf("Load(%q) = %+v, want Default()", path, got)
			}
		})
	}
	for _, data := range []string{"", "---\n", "~\n", "# nothing\n", "server:\n"} {
		t.Run(fmt.Sprintf("parse %q", data), func(t *testing.T) {
			got, err := Parse("config.yaml", []byte(data), nil)
			if err != nil {
				t.Fatalf("Parse(%q): %v", data, err)
			}
			if !reflect.DeepEqual(got, Default()) {
				t.Errorf("Parse(%q) = %+v, want Default()", data, got)
			}
		})
	}
}

func TestLoadFull(t *testing.T) {
	const path = "testdata/full.yaml"
	got, err := Load(path, nil)
	if err != nil {
		t.Fatalf("Load(%q): %v", path, err)
	}
	want := Config{
		Server: Server{Listen: "[::1]:9090", MaxBodyBytes: 2 << 20, ShutdownTimeout: 90 * time.Second, Debug: true},
		Log:    Log{Level: "debug", Format: "json"},
		Storage: Storage{Driver: "mysql", DSN: "tocsin:secret@tcp(db:3306)/tocsin?parseTime=true",
			MaxOpenConns: 50},
		Hooks:  Hooks{MaxAlerts: 50},
		Queues: Queues{Alert: AlertQueue{Size: 20000, Workers: 8, MaxBatch: 1000}, Config: ConfigQueue{Size: 10}},
		Push: Push{
			AllowedOrigins:  []string{"https://oncall.example.com", "http://localhost:3000"},
			SendQueue:       64,
			PingInterval:    500 * time.Millisecond,
			MaxMessageBytes: 65536,
		},
		Pollers: Pollers{MaxConcurrent: 4, ReloadInterval: time.Minute},
		Cluster: Cluster{NodeID: "tocsin-a.eu-west"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(%q) =\n%+v\nwant\n%+v", path, got, want)
	}
}

// Each bad file is rejected with exactly the messages listed, which name the
// file, the line and the key.
func TestParseBadFile(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"unknown top-level key", "server:\n  debug: true\nservr:\n  listen: :80\n",
			`config.yaml:3: servr: unknown key`},
		{"unknown nested key", "server:\n  debug: true\n  listn: :80\n",
			`config.yaml:3: server.listn: unknown key`},
		{"unknown deep key", "queues:\n  alert:\n    sizes: 10\n",
			`config.yaml:3: queues.alert.sizes: unknown key`},
		{"odd unknown key is quoted", "server:\n  \"a b\": 1\n",
			`config.yaml:2: server."a b": unknown key`},
		{"int not a number", "queues:\n  alert:\n    size: ten\n",
			`config.yaml:3: queues.alert.size: want an integer, got "ten"`},
		{"int is a float", "queues:\n  alert:\n    workers: 2.5\n",
			`config.yaml:3: queues.alert.workers: want an integer, got "2.5"`},
		{"int64 out of range", "server:\n  max_body_bytes: 99999999999999999999\n",
			`config.yaml:2: server.max_body_bytes: want an integer that fits in 64 bits, got "99999999999999999999"`},
		{"duration without unit", "server:\n  shutdown_timeout: 10\n",
			`config.yaml:2: server.shutdown_timeout: want a duration like "10s", got "10"`},
		{"duration nonsense", "push:\n  ping_interval: soon\n",
			`config.yaml:2: push.ping_interval: want a duration like "10s", got "soon"`},
		{"bool", "server:\n  debug: yes\n",
			`config.yaml:2: server.debug: want true or false, got "yes"`},
		{"list is a string", "push:\n  allowed_origins: https://a.example\n",
			`config.yaml:2: push.allowed_origins: want a list, got "https://a.example"`},
		{"list is a mapping", "push:\n  allowed_origins: {a: b}\n",
			`config.yaml:2: push.allowed_origins: want a list, got a mapping`},
		{"list item is a mapping", "push:\n  allowed_origins:\n    - https://a.example\n    - {a: b}\n",
			`config.yaml:4: push.allowed_origins[1]: want a string, got a mapping`},
		{"mapping where a string belongs", "server:\n  listen:\n    host: localhost\n",
			`config.yaml:2: server.listen: want a string, got a mapping`},
		{"list where an int belongs", "queues:\n  config:\n    size: [1]\n",
			`config.yaml:3: queues.config.size: want an integer, got a list`},
		{"scalar where a mapping belongs", "server: 127.0.0.1:8080\n",
			`config.yaml:1: server: want a mapping, got "127.0.0.1:8080"`},
		{"null leaf", "server:\n  listen:\n",
			`config.yaml:2: server.listen: want a string, got null`},
		{"duplicate key", "log:\n  level: debug\n  level: info\n",
			`config.yaml:3: log.level: duplicate key, first set at line 2`},
		{"merge key", "base: &b {debug: true}\nserver:\n  <<: *b\n",
			lines(`config.yaml:1: base: unknown key`, `config.yaml:3: server."<<": merge keys are not supported`)},
		{"top level is a list", "- server\n",
			`config.yaml:1: want a mapping of keys at the top level, got a list`},
		{"top level is a scalar", "tocsin\n",
			`config.yaml:1: want a mapping of keys at the top level, got "tocsin"`},
		{"two documents", "log:\n  level: debug\n---\nlog:\n  level: info\n",
			`config.yaml:3: a second YAML document; want exactly one`},
		{"syntax error", "server:\n  listen: [\n",
			`config.yaml:2: invalid YAML: did not find expected node content`},
		{"negative queue size", "queues:\n  alert:\n    size: -5\n",
			`config.yaml:3: queues.alert.size: must be at least 1, got -5`},
		{"zero workers", "queues:\n  alert:\n    workers: 0\n",
			`config.yaml:3: queues.alert.workers: must be at least 1, got 0`},
		{"queue smaller than a request", "hooks:\n  max_alerts: 200\nqueues:\n  alert:\n    size: 100\n",
			`config.yaml:5: queues.alert.size: must be at least hooks.max_alerts (200), got 100`},
		{"zero max alerts", "hooks:\n  max_alerts: 0\n",
			`config.yaml:2: hooks.max_alerts: must be at least 1, got 0`},
		{"zero send queue", "push:\n  send_queue: 0\n",
			`config.yaml:2: push.send_queue: must be at least 1, got 0`},
		{"negative shutdown timeout", "server:\n  shutdown_timeout: -1s\n",
			`config.yaml:2: server.shutdown_timeout: must not be negative, got -1s`},
		{"zero ping interval", "push:\n  ping_interval: 0s\n",
			`config.yaml:2: push.ping_interval: must be positive, got 0s`},
		{"listen without port", "server:\n  listen: localhost\n",
			`config.yaml:2: server.listen: must be host:port like "127.0.0.1:8080" or ":8080", got "localhost"`},
		{"listen with named port", "server:\n  listen: localhost:http\n",
			`config.yaml:2: server.listen: port must be a number from 0 to 65535, got "http"`},
		{"listen port too big", "server:\n  listen: 127.0.0.1:65536\n",
			`config.yaml:2: server.listen: port must be a number from 0 to 65535, got "65536"`},
		{"listen bad host", "server:\n  listen: 300.1.1.1:80\n",
			`config.yaml:2: server.listen: host must be an IP address or a host name, got "300.1.1.1"`},
		{"unknown storage driver", "storage:\n  driver: postgres\n",
			`config.yaml:2: storage.driver: must be one of sqlite, mysql; got "postgres"`},
		{"bad log level", "log:\n  level: verbose\n",
			`config.yaml:2: log.level: must be one of debug, info, warn, error; got "verbose"`},
		{"log level is case-sensitive", "log:\n  level: INFO\n",
			`config.yaml:2: log.level: must be one of debug, info, warn, error; got "INFO"`},
		{"bad log format", "log:\n  format: yaml\n",
			`config.yaml:2: log.format: must be one of text, json; got "yaml"`},
		{"empty dsn", "storage:\n  dsn: \"\"\n",
			`config.yaml:2: storage.dsn: must not be empty`},
		{"bad mysql dsn", "storage:\n  driver: mysql\n  dsn: tocsin:secret@db:3306\n",
			`config.yaml:3: storage.dsn: not a MySQL DSN like user:password@tcp(host:3306)/dbname: missing the slash separating the database name`},
		{"unterminated mysql address", "storage:\n  driver: mysql\n  dsn: tocsin:secret@tcp(db:3306/tocsin\n",
			`config.yaml:3: storage.dsn: not a MySQL DSN like user:password@tcp(host:3306)/dbname: network address not terminated (missing closing brace)`},
		{"mysql dsn without a database", "storage:\n  driver: mysql\n  dsn: root:secret@tcp(127.0.0.1:3306)/\n",
			`config.yaml:3: storage.dsn: names no database; want a MySQL DSN like user:password@tcp(host:3306)/dbname`},
		{"mysql dsn without a database, with params", "storage:\n  driver: mysql\n  dsn: root:secret@tcp(db)/?parseTime=true\n",
			`config.yaml:3: storage.dsn: names no database; want a MySQL DSN like user:password@tcp(host:3306)/dbname`},
		{"alias of a mapping is reported where it is used", "base: &a\n  level: loud\nlog: *a\n",
			lines(
				`config.yaml:1: base: unknown key`,
				`config.yaml:3: log.level: must be one of debug, info, warn, error; got "loud"`,
			)},
		{"alias reused under another key", "queues:\n  alert: &a\n    size: 0\n    workers: 2\n  config: *a\n",
			lines(
				`config.yaml:3: queues.alert.size: must be at least 1, got 0`,
				`config.yaml:5: queues.config.workers: unknown key`,
				`config.yaml:5: queues.config.size: must be at least 1, got 0`,
			)},
		{"alias of a list", "x: &o [https://a.example, bad]\npush:\n  allowed_origins: *o\n",
			lines(
				`config.yaml:1: x: unknown key`,
				`config.yaml:3: push.allowed_origins[1]: must be "*" or an origin like "https://example.com" or "http://host:8080" (no path), got "bad"`,
			)},
		{"alias on the line after its key", "base: &a\n  level: loud\nlog:\n  *a\n",
			lines(
				`config.yaml:1: base: unknown key`,
				`config.yaml:4: log.level: must be one of debug, info, warn, error; got "loud"`,
			)},
		{"mysql with the default sqlite dsn", "storage:\n  driver: mysql\n",
			`storage.dsn: must be set to a MySQL DSN like user:password@tcp(host:3306)/dbname when storage.driver is mysql`},
		{"bad origins", "push:\n  allowed_origins:\n    - https://ok.example\n    - ftp://files.example\n    - https://example.com/\n    - HTTPS://Example.com\n",
			lines(
				`config.yaml:4: push.allowed_origins[1]: must be "*" or an origin like "https://example.com" or "http://host:8080" (no path), got "ftp://files.example"`,
				`config.yaml:5: push.allowed_origins[2]: must be "*" or an origin like "https://example.com" or "http://host:8080" (no path), got "https://example.com/"`,
				`config.yaml:6: push.allowed_origins[3]: must be written as browsers send it, "https://example.com"; got "HTTPS://Example.com"`,
			)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("config.yaml", []byte(tt.data), nil)
			if err == nil {
				t.Fatalf("Parse(%q) accepted it, want error:\n%s", tt.data, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse(%q) error:\n%s\nwant:\n%s", tt.data, got, tt.want)
			}
			if !reflect.DeepEqual(cfg, Config{}) {
				t.Errorf("Parse(%q) returned %+v with its error, want the zero Config", tt.data, cfg)
			}
		})
	}
}

// All problems of a file and the environment come in one error, one line
// each, file lines in order, then environment variables in order.
func TestLoadReportsAllProblems(t *testing.T) {
	const path = "testdata/problems.yaml"
	getenv := env(map[string]string{
		"TOCSIN_STORAGE_MAX_OPEN_CONNS": "many",
		"TOCSIN_LOG_FORMAT":             "xml",
	})
	_, err := Load(path, getenv)
	want := lines(
		`testdata/problems.yaml:2: server.listen: must be host:port like "127.0.0.1:8080" or ":8080", got "localhost"`,
		`testdata/problems.yaml:3: server.listn: unknown key`,
		`testdata/problems.yaml:4: server.max_body_bytes: want an integer, got "1MB"`,
		`testdata/problems.yaml:6: log.level: must be one of debug, info, warn, error; got "verbose"`,
		`testdata/problems.yaml:9: storage.driver: must be one of sqlite, mysql; got "postgres"`,
		`testdata/problems.yaml:12: queues.alert.size: must be at least 1, got -5`,
		`testdata/problems.yaml:13: queues.alert.workers: want an integer, got a mapping`,
		`testdata/problems.yaml:15: queues.config.size: must be at least 1, got 0`,
		`testdata/problems.yaml:17: push.allowed_origins[1]: must be "*" or an origin like "https://example.com" or "http://host:8080" (no path), got "https://example.com/path"`,
		`testdata/problems.yaml:18: push.ping_interval: want a duration like "10s", got "25"`,
		`testdata/problems.yaml:19: extra: unknown key`,
		`TOCSIN_LOG_FORMAT: log.format: must be one of text, json; got "xml"`,
		`TOCSIN_STORAGE_MAX_OPEN_CONNS: storage.max_open_conns: want an integer, got "many"`,
	)
	if err == nil {
		t.Fatalf("Load(%q): no error, want:\n%s", path, want)
	}
	if got := err.Error(); got != want {
		t.Errorf("Load(%q) error:\n%s\nwant:\n%s", path, got, want)
	}
}

// The environment overrides the file for every kind of leaf.
func TestEnvOverrides(t *testing.T) {
	const file = `
server:
  listen: 127.0.0.1:9000
  max_body_bytes: 100
  debug: false
queues:
  alert:
    size: 5000
push:
  allowed_origins: [https://file.example]
  ping_interval: 5s
`
	tests := []struct {
		name  string
		env   map[string]string
		check func(Config) (got, want any)
	}{
		{"string", map[string]string{"TOCSIN_SERVER_LISTEN": ":9999"},
			func(c Config) (any, any) { return c.Server.Listen, ":9999" }},
		{"int", map[string]string{"TOCSIN_QUEUES_ALERT_SIZE": "4200"},
			func(c Config) (any, any) { return c.Queues.Alert.Size, 4200 }},
		{"int64", map[string]string{"TOCSIN_SERVER_MAX_BODY_BYTES": "2048"},
			func(c Config) (any, any) { return c.Server.MaxBodyBytes, int64(2048) }},
		{"duration", map[string]string{"TOCSIN_PUSH_PING_INTERVAL": "1m30s"},
			func(c Config) (any, any) { return c.Push.PingInterval, 90 * time.Second }},
		{"bool", map[string]string{"TOCSIN_SERVER_DEBUG": "true"},
			func(c Config) (any, any) { return c.Server.Debug, true }},
		{"list", map[string]string{"TOCSIN_PUSH_ALLOWED_ORIGINS": " https://a.example , http://b.example:8080,"},
			func(c Config) (any, any) {
				return c.Push.AllowedOrigins, []string{"https://a.example", "http://b.example:8080"}
			}},
		{"list of one", map[string]string{"TOCSIN_PUSH_ALLOWED_ORIGINS": "*"},
			func(c Config) (any, any) { return c.Push.AllowedOrigins, []string{"*"} }},
		{"comma is an empty list", map[string]string{"TOCSIN_PUSH_ALLOWED_ORIGINS": ","},
			func(c Config) (any, any) { return c.Push.AllowedOrigins, []string(nil) }},
		{"empty variable is unset", map[string]string{"TOCSIN_PUSH_ALLOWED_ORIGINS": "", "TOCSIN_SERVER_LISTEN": ""},
			func(c Config) (any, any) {
				return []any{c.Push.AllowedOrigins, c.Server.Listen},
					[]any{[]string{"https://file.example"}, "127.0.0.1:9000"}
			}},
		{"unset key keeps the default", map[string]string{"TOCSIN_LOG_LEVEL": "warn"},
			func(c Config) (any, any) {
				return []any{c.Log.Level, c.Log.Format}, []any{"warn", "text"}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("config.yaml", []byte(file), env(tt.env))
			if err != nil {
				t.Fatalf("Parse with env %v: %v", tt.env, err)
			}
			if got, want := tt.check(cfg); !reflect.DeepEqual(got, want) {
				t.Errorf("with env %v: got %#v, want %#v", tt.env, got, want)
			}
		})
	}
}

// The variables the design names work, with no file.
func TestEnvNames(t *testing.T) {
	getenv := env(map[string]string{
		"TOCSIN_SERVER_LISTEN":        "0.0.0.0:80",
		"TOCSIN_STORAGE_DRIVER":       "mysql",
		"TOCSIN_STORAGE_DSN":          "tocsin:pw@tcp(db:3306)/tocsin",
		"TOCSIN_QUEUES_ALERT_SIZE":    "7000",
		"TOCSIN_PUSH_ALLOWED_ORIGINS": "https://a.example,https://b.example",
	})
	got, err := Load("", getenv)
	if err != nil {
		t.Fatalf("Load with env: %v", err)
	}
	want := Default()
	want.Server.Listen = "0.0.0.0:80"
	want.Storage.Driver = "mysql"
	want.Storage.DSN = "tocsin:pw@tcp(db:3306)/tocsin"
	want.Queues.Alert.Size = 7000
	want.Push.AllowedOrigins = []string{"https://a.example", "https://b.example"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load with env =\n%+v\nwant\n%+v", got, want)
	}
}

// A bad environment value is reported with its variable and key, never the
// file line of the value it replaced.
func TestEnvBad(t *testing.T) {
	const file = "queues:\n  alert:\n    size: 5000\npush:\n  allowed_origins: [https://a.example, https://b.example]\n"
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"int", map[string]string{"TOCSIN_QUEUES_ALERT_SIZE": "x"},
			`TOCSIN_QUEUES_ALERT_SIZE: queues.alert.size: want an integer, got "x"`},
		{"int64", map[string]string{"TOCSIN_PUSH_MAX_MESSAGE_BYTES": "4k"},
			`TOCSIN_PUSH_MAX_MESSAGE_BYTES: push.max_message_bytes: want an integer, got "4k"`},
		{"duration", map[string]string{"TOCSIN_SERVER_SHUTDOWN_TIMEOUT": "10"},
			`TOCSIN_SERVER_SHUTDOWN_TIMEOUT: server.shutdown_timeout: want a duration like "10s", got "10"`},
		{"bool", map[string]string{"TOCSIN_SERVER_DEBUG": "on"},
			`TOCSIN_SERVER_DEBUG: server.debug: want true or false, got "on"`},
		{"invalid value", map[string]string{"TOCSIN_QUEUES_ALERT_SIZE": "-5"},
			`TOCSIN_QUEUES_ALERT_SIZE: queues.alert.size: must be at least 1, got -5`},
		{"invalid string", map[string]string{"TOCSIN_STORAGE_DRIVER": "sqlite3"},
			`TOCSIN_STORAGE_DRIVER: storage.driver: must be one of sqlite, mysql; got "sqlite3"`},
		{"invalid list item", map[string]string{"TOCSIN_PUSH_ALLOWED_ORIGINS": "https://c.example,c.example"},
			`TOCSIN_PUSH_ALLOWED_ORIGINS: push.allowed_origins[1]: must be "*" or an origin like "https://example.com" or "http://host:8080" (no path), got "c.example"`},
		{"mysql dsn without a database", map[string]string{"TOCSIN_STORAGE_DRIVER": "mysql", "TOCSIN_STORAGE_DSN": "root:secret@tcp(127.0.0.1:3306)/"},
			`TOCSIN_STORAGE_DSN: storage.dsn: names no database; want a MySQL DSN like user:password@tcp(host:3306)/dbname`},
		{"driver from env, dsn from default", map[string]string{"TOCSIN_STORAGE_DRIVER": "mysql"},
			`storage.dsn: must be set to a MySQL DSN like user:password@tcp(host:3306)/dbname when storage.driver is mysql`},
		{"sorted by variable", map[string]string{"TOCSIN_SERVER_LISTEN": "x", "TOCSIN_LOG_LEVEL": "loud"},
			lines(
				`TOCSIN_LOG_LEVEL: log.level: must be one of debug, info, warn, error; got "loud"`,
				`TOCSIN_SERVER_LISTEN: server.listen: must be host:port like "127.0.0.1:8080" or ":8080", got "x"`,
			)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("config.yaml", []byte(file), env(tt.env))
			if err == nil {
				t.Fatalf("Parse with env %v: no error, want:\n%s", tt.env, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse with env %v error:\n%s\nwant:\n%s", tt.env, got, tt.want)
			}
		})
	}
}

func TestSlogLevel(t *testing.T) {
	for _, name := range []string{"debug", "info", "warn", "error"} {
		t.Run(name, func(t *testing.T) {
			c := Default()
			c.Log.Level = name
			var want slog.Level
			if err := want.UnmarshalText([]byte(name)); err != nil {
				t.Fatal(err)
			}
			if got := c.Log.SlogLevel(); got != want {
				t.Errorf("SlogLevel() for %q = %v, want %v", name, got, want)
			}
		})
	}
}
