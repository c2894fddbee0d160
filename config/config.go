package config

import (
	"time"

	"github.com/tocsinhq/tocsin/sources"
)

// Config is tocsin's whole configuration, as read from config.yaml and
// TOCSIN_* environment variables. The yaml tags are the keys of the file; the
// environment variable of a key is TOCSIN_ followed by its path upper-cased
// and joined by underscores (storage.dsn is TOCSIN_STORAGE_DSN).
type Config struct {
	Server  Server  `yaml:"server"`
	Log     Log     `yaml:"log"`
	Storage Storage `yaml:"storage"`
	Hooks   Hooks   `yaml:"hooks"`
	Queues  Queues  `yaml:"queues"`
	Push    Push    `yaml:"push"`
	Pollers Pollers `yaml:"pollers"`
	Cluster Cluster `yaml:"cluster"`

	// Teams, Routes and Sources are rules declared in the file. tocsin
	// applies them at start and the API may not change them; see
	// docs/configuration.md. They cannot be set from the environment.
	Teams   []Team   `yaml:"teams"`
	Routes  []Route  `yaml:"routes"`
	Sources []Source `yaml:"sources"`
}

// Server configures the HTTP listener.
type Server struct {
	// Listen is the host:port the HTTP server binds.
	Listen string `yaml:"listen"`
	// MaxBodyBytes caps every request body; a larger one gets 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ShutdownTimeout bounds how long in-flight requests may run after SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Debug serves Go's pprof profiles under /debug/pprof/, to admins only.
	Debug bool `yaml:"debug"`
}

// Log configures the process logger.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Storage selects and configures the store.
type Storage struct {
	// Driver is sqlite or mysql.
	Driver string `yaml:"driver"`
	// DSN is a file path for sqlite, a go-sql-driver/mysql DSN for mysql.
	DSN string `yaml:"dsn"`
	// MaxOpenConns caps the connection pool.
	MaxOpenConns int `yaml:"max_open_conns"`
}

// Hooks bounds what the webhook receivers take.
type Hooks struct {
	// MaxAlerts is the most alerts one webhook request may carry; a request
	// with more gets 400.
	MaxAlerts int `yaml:"max_alerts"`
}

// Queues sizes the two pipeline queues.
type Queues struct {
	// Alert is the queue of incoming alert events.
	Alert AlertQueue `yaml:"alert"`
	// Config is the queue of admin rule changes.
	Config ConfigQueue `yaml:"config"`
}

// AlertQueue sizes the alert queue and its workers.
type AlertQueue struct {
	// Size is how many events the queue holds before webhooks get 503.
	Size int `yaml:"size"`
	// Workers is how many goroutines drain the queue.
	Workers int `yaml:"workers"`
	// MaxBatch is how many events a worker gathers into one transaction;
	// a request's events are never split, so a batch may pass it by one
	// request.
	MaxBatch int `yaml:"max_batch"`
}

// ConfigQueue sizes the config-update queue.
type ConfigQueue struct {
	// Size is how many rule changes the queue holds before a change waits
	// for room.
	Size int `yaml:"size"`
}

// Push configures live push over WebSocket (GET /api/v1/ws).
type Push struct {
	// AllowedOrigins lists the browser origins, besides tocsin's own, that
	// may open a WebSocket; "*" allows any.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// SendQueue is the per-connection send queue length; a full queue
	// closes the connection.
	SendQueue int `yaml:"send_queue"`
	// PingInterval is how often the server pings; a peer silent for two
	// intervals is closed.
	PingInterval time.Duration `yaml:"ping_interval"`
	// MaxMessageBytes caps an inbound WebSocket message.
	MaxMessageBytes int64 `yaml:"max_message_bytes"`
}

// Pollers configures the background checks, and declares pollers.
type Pollers struct {
	// MaxConcurrent is how many checks may run at once on the node that
	// runs the pollers; a check that would pass it waits for room.
	MaxConcurrent int `yaml:"max_concurrent"`
	// ReloadInterval is how often the node that runs the pollers reads them
	// from the store with no change signalled, to pick up changes made
	// through another node.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// Checks are pollers declared in the file. tocsin applies them at start
	// and the API may not change them; they cannot be set from the
	// environment.
	Checks []Poller `yaml:"checks"`
}

// Cluster configures this node among the tocsin nodes that share a store.
type Cluster struct {
	// NodeID names this node, in /readyz and in the pollers' state; empty
	// means the host name.
	NodeID string `yaml:"node_id"`
}

// Team is a team declared in the file.
type Team struct {
	// Name is the team's unique name.
	Name string `yaml:"name"`
	// Members are the names of its users, who must exist when tocsin starts.
	Members []string `yaml:"members"`
}

// Route is a route declared in the file. Declared routes keep the order of
// the file among themselves, after the routes that already exist.
type Route struct {
	// Name is the route's unique name.
	Name string `yaml:"name"`
	// Matchers select the alerts the route takes, each in matcher syntax
	// such as severity="critical"; none selects every alert.
	Matchers []string `yaml:"matchers"`
	// Users and Teams are the names of the users and teams it notifies.
	Users []string `yaml:"users"`
	Teams []string `yaml:"teams"`
	// Continue goes on to the next route after this one matched.
	Continue bool `yaml:"continue"`
	// Enabled is true when unset.
	Enabled *bool `yaml:"enabled"`
}

// Source is an alert source declared in the file.
type Source struct {
	// Name is the source's unique name, the NAME of /hooks/NAME.
	Name string `yaml:"name"`
	// Kind is alertmanager, grafana, prometheus or generic.
	Kind string `yaml:"kind"`
	// Auth is bearer, basic or hmac.
	Auth string `yaml:"auth"`
	// Username is the basic-auth user name, for auth basic.
	Username string `yaml:"username"`
	// SignatureHeader is the header of the HMAC signature, for auth hmac.
	SignatureHeader string `yaml:"signature_header"`
	// Secret is the bearer token, basic password or HMAC key. Prefer
	// SecretEnv, which keeps it out of the file.
	Secret string `yaml:"secret"`
	// SecretEnv names the environment variable that holds the secret. Load
	// reads it into Secret.
	SecretEnv string `yaml:"secret_env"`
	// Mapping says how to read a generic source's JSON.
	Mapping *sources.Mapping `yaml:"mapping"`
}

// Poller is a poller declared in the file. Its keys are the fields of the
// API's poller, with the same defaults; see docs/api.md.
type Poller struct {
	// Name is the poller's unique name, and the alertname of its alerts
	// unless its labels set one.
	Name string `yaml:"name"`
	// Kind is http, tcp or prometheus.
	Kind string `yaml:"kind"`
	// Schedule is a cron spec, seconds optional, or "@every 30s", in UTC.
	Schedule string `yaml:"schedule"`
	// Timeout bounds one run; 0 means 10s.
	Timeout time.Duration `yaml:"timeout"`

	// URL is what an http poller requests, or a prometheus poller's API.
	URL string `yaml:"url"`
	// Method, Headers and Body make an http poller's request.
	Method  string            `yaml:"method"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"`
	// ExpectStatus are the statuses that pass, each "200" or "200-299";
	// none means 200-299.
	ExpectStatus []string `yaml:"expect_status"`
	// ExpectBody is a regular expression the response body must match.
	ExpectBody string `yaml:"expect_body"`
	// ExpectJSON is a field the JSON response body must have.
	ExpectJSON *sources.JSONExpectation `yaml:"expect_json"`
	// MaxLatency, when set, fails a slower response.
	MaxLatency time.Duration `yaml:"max_latency"`
	// TLSSkipVerify turns off the verification of the server's certificate.
	TLSSkipVerify bool `yaml:"tls_skip_verify"`

	// Address is the host:port a tcp poller connects to.
	Address string `yaml:"address"`
	// Query is a prometheus poller's PromQL expression.
	Query string `yaml:"query"`

	// Labels and Annotations go on every alert the poller makes.
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
	// FailAfter and RecoverAfter are 3 and 2 when unset, Enabled true.
	FailAfter    *int  `yaml:"fail_after"`
	RecoverAfter *int  `yaml:"recover_after"`
	Enabled      *bool `yaml:"enabled"`
}

// Default returns the configuration tocsin runs with when a key is not set.
func Default() Config {
	return Config{
		Server: Server{
			Listen:          "127.0.0.1:8080",
			MaxBodyBytes:    1 << 20,
			ShutdownTimeout: 10 * time.Second,
		},
		Log:     Log{Level: "info", Format: "text"},
		Hooks:   Hooks{MaxAlerts: 1000},
		Storage: Storage{Driver: "sqlite", DSN: "./data/tocsin.db", MaxOpenConns: 20},
		Queues: Queues{
			Alert:  AlertQueue{Size: 10000, Workers: 2, MaxBatch: 500},
			Config: ConfigQueue{Size: 1000},
		},
		Push: Push{
			SendQueue:       256,
			PingInterval:    25 * time.Second,
			MaxMessageBytes: 4096,
		},
		Pollers: Pollers{MaxConcurrent: 16, ReloadInterval: 15 * time.Second},
	}
}
