package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/sources"
	"github.com/tocsinhq/tocsin/storage"
)

// Store is what the API needs of the store; *storage.DB implements it. The
// methods' errors are those storage documents.
type Store interface {
	Ping(ctx context.Context) error
	Authenticate(ctx context.Context, token string) (auth.User, auth.Token, error)

	CreateUser(ctx context.Context, actor storage.Actor, u auth.User) (auth.User, error)
	User(ctx context.Context, id int64) (auth.User, error)
	Users(ctx context.Context, page storage.Page) ([]auth.User, error)
	UpdateUser(ctx context.Context, actor storage.Actor, u auth.User) (auth.User, error)
	DeleteUser(ctx context.Context, actor storage.Actor, id, version int64) error

	CreateToken(ctx context.Context, actor storage.Actor, t auth.Token) (auth.Token, error)
	Token(ctx context.Context, id int64) (auth.Token, error)
	Tokens(ctx context.Context, userID int64, page storage.Page) ([]auth.Token, error)
	UpdateToken(ctx context.Context, actor storage.Actor, t auth.Token) (auth.Token, error)
	DeleteToken(ctx context.Context, actor storage.Actor, id, version int64) error

	CreateTeam(ctx context.Context, actor storage.Actor, t alerts.Team) (alerts.Team, error)
	Team(ctx context.Context, id int64) (alerts.Team, error)
	Teams(ctx context.Context, f storage.TeamFilter, page storage.Page) ([]alerts.Team, error)
	UpdateTeam(ctx context.Context, actor storage.Actor, t alerts.Team) (alerts.Team, error)
	DeleteTeam(ctx context.Context, actor storage.Actor, id, version int64) error

	CreateRoute(ctx context.Context, actor storage.Actor, r alerts.Route) (alerts.Route, error)
	Route(ctx context.Context, id int64) (alerts.Route, error)
	Routes(ctx context.Context, f storage.RouteFilter, page storage.Page) ([]alerts.Route, error)
	UpdateRoute(ctx context.Context, actor storage.Actor, r alerts.Route) (alerts.Route, error)
	DeleteRoute(ctx context.Context, actor storage.Actor, id, version int64) error
	ReorderRoutes(ctx context.Context, actor storage.Actor, ids []int64) ([]alerts.Route, error)

	CreateSilence(ctx context.Context, actor storage.Actor, s alerts.Silence) (alerts.Silence, error)
	Silence(ctx context.Context, id int64) (alerts.Silence, error)
	Silences(ctx context.Context, f storage.SilenceFilter, page storage.Page) ([]alerts.Silence, error)
	UpdateSilence(ctx context.Context, actor storage.Actor, s alerts.Silence) (alerts.Silence, error)
	ExpireSilence(ctx context.Context, actor storage.Actor, id, version int64) (alerts.Silence, error)
	DeleteSilence(ctx context.Context, actor storage.Actor, id, version int64) error

	CreateSource(ctx context.Context, actor storage.Actor, s sources.Source) (sources.Source, error)
	Source(ctx context.Context, id int64) (sources.Source, error)
	Sources(ctx context.Context, f storage.SourceFilter, page storage.Page) ([]sources.Source, error)
	UpdateSource(ctx context.Context, actor storage.Actor, s sources.Source) (sources.Source, error)
	DeleteSource(ctx context.Context, actor storage.Actor, id, version int64) error
	SourceByName(ctx context.Context, name string) (sources.Source, error)

	CreatePoller(ctx context.Context, actor storage.Actor, p sources.Poller) (sources.Poller, error)
	Poller(ctx context.Context, id int64) (sources.Poller, error)
	Pollers(ctx context.Context, page storage.Page) ([]sources.Poller, error)
	UpdatePoller(ctx context.Context, actor storage.Actor, p sources.Poller) (sources.Poller, error)
	DeletePoller(ctx context.Context, actor storage.Actor, id, version int64) error
	// PollerStates returns the states of the pollers of ids, those that
	// have one; nil ids means every state.
	PollerStates(ctx context.Context, ids []int64) ([]sources.PollerState, error)

	Alerts(ctx context.Context, f storage.AlertFilter, page storage.Page) (list []alerts.Alert, next int64, err error)
	Alert(ctx context.Context, id int64) (alerts.Alert, error)
	Inbox(ctx context.Context, userID, since int64, limit int) ([]alerts.Notification, error)

	AuditLog(ctx context.Context, page storage.Page) ([]storage.AuditEntry, error)
}

// Rules is the live routing configuration: the config-update queue, which
// *alerts.ConfigQueue implements.
type Rules interface {
	// Apply hands over a committed change and returns once a snapshot that
	// includes it is in effect, or with ctx's error when ctx ends first.
	Apply(ctx context.Context, change alerts.ConfigChange) error
	// Snapshot returns the routing snapshot in effect; never nil.
	Snapshot() *alerts.Snapshot
}

// Options configures a Server.
type Options struct {
	Store  Store
	Logger *slog.Logger
	// Metrics is the registry the server adds its HTTP metrics to and serves
	// at /metrics.
	Metrics *prometheus.Registry
	// MaxBodyBytes caps request bodies.
	MaxBodyBytes int64
	// Debug serves pprof under /debug/pprof/ to admins.
	Debug bool
	// Rules is told of every committed change to the rules (and to users,
	// which teams expand to) before the change is answered, and answers
	// POST /routes/test. Nil makes changes take effect nowhere and tests
	// run against empty rules: for servers that route no alerts.
	Rules Rules
	// Alerts takes the alerts webhooks carry, and people's acknowledgements
	// and resolves. Nil refuses them with 503: for servers that take no
	// alerts.
	Alerts AlertQueue
	// MaxAlertsPerRequest caps the alerts of one webhook request; 0 means
	// sources.DefaultMaxAlerts.
	MaxAlertsPerRequest int
	// Now is the clock silences' states are judged by, and webhooks'
	// timestamps checked against; it should be the store's. Nil means
	// time.Now.
	Now func() time.Time
	// Push serves GET /api/v1/ws and is told of revoked tokens and of
	// users deleted or given another role, whose connections it closes.
	// Nil answers /api/v1/ws with 503: for servers that push nothing.
	Push PushHub
	// AllowedOrigins are the origins, besides the server's own, whose
	// browser pages may open a WebSocket (push.allowed_origins); "*" allows
	// any. They are written as browsers send them: https://example.com.
	AllowedOrigins []string
	// Pollers runs the checks of POST /api/v1/pollers/{id}/run. Nil answers
	// it with 503: for servers that run no checks.
	Pollers PollerChecker
	// Leadership says which node runs the pollers, in /readyz. Nil leaves
	// the pollers out of /readyz.
	Leadership Leadership
}

// Server is tocsin's HTTP API. Its Handler is served by an http.Server that
// the caller owns.
type Server struct {
	echo   *echo.Echo
	store  Store
	rules  Rules
	alerts AlertQueue
	// sources are the sources webhooks name, kept for a few seconds.
	sources   *sourceCache
	maxAlerts int
	hooks     *hookMetrics
	now       func() time.Time
	log       *slog.Logger
	push      PushHub
	// origins are the allowed WebSocket origins, canonical; anyOrigin is
	// true when push.allowed_origins holds "*".
	origins   map[string]bool
	anyOrigin bool
	// pollers and leadership are nil when the server runs no checks and
	// knows of no election.
	pollers    PollerChecker
	leadership Leadership
}

// New builds the API's routes and middleware.
func New(opts Options) *Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// The client's address is the peer's: X-Forwarded-For and X-Real-IP are
	// the client's to forge until tocsin is told which proxies to trust.
	e.IPExtractor = echo.ExtractIPDirect()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		echo: e, store: opts.Store, rules: opts.Rules, alerts: opts.Alerts, maxAlerts: opts.MaxAlertsPerRequest,
		hooks: newHookMetrics(opts.Metrics), now: opts.Now, log: log, push: opts.Push,
		pollers: opts.Pollers, leadership: opts.Leadership,
	}
	s.origins, s.anyOrigin = allowedOrigins(opts.AllowedOrigins)
	if s.rules == nil {
		s.rules = noRules{}
	}
	if s.alerts == nil {
		s.alerts = noAlerts{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.sources = newSourceCache(opts.Store.SourceByName, time.Now)
	e.HTTPErrorHandler = s.handleError

	e.Pre(dropBadRequestID)
	e.Use(middleware.RequestID())
	e.Use(httpMetrics(opts.Metrics))
	e.Use(s.logRequests())
	e.Use(s.recoverPanics())
	e.Use(limitBody(opts.MaxBodyBytes))

	probe := []string{http.MethodGet, http.MethodHead}
	e.Match(probe, "/healthz", s.healthz)
	e.Match(probe, "/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(opts.Metrics, promhttp.HandlerOpts{})))

	// Middleware goes on each route, not on the group: Echo answers 404
	// instead of 405 under a group that has middleware of its own.
	user, admin := s.authenticate, requireAdmin
	v1 := e.Group("/api/v1")
	v1.GET("/users", s.listUsers, user, admin)
	v1.POST("/users", s.createUser, user, admin)
	v1.GET("/users/:id", s.getUser, user)
	v1.PUT("/users/:id", s.updateUser, user, admin)
	v1.DELETE("/users/:id", s.deleteUser, user, admin)
	v1.GET("/tokens", s.listTokens, user)
	v1.POST("/tokens", s.createToken, user)
	v1.GET("/tokens/:id", s.getToken, user)
	v1.PUT("/tokens/:id", s.updateToken, user)
	v1.DELETE("/tokens/:id", s.deleteToken, user)
	v1.GET("/teams", s.listTeams, user)
	v1.POST("/teams", s.createTeam, user, admin)
	v1.GET("/teams/:id", s.getTeam, user)
	v1.PUT("/teams/:id", s.updateTeam, user, admin)
	v1.DELETE("/teams/:id", s.deleteTeam, user, admin)
	v1.GET("/routes", s.listRoutes, user)
	v1.POST("/routes", s.createRoute, user, admin)
	v1.POST("/routes/order", s.reorderRoutes, user, admin)
	v1.POST("/routes/test", s.testRoutes, user, admin)
	v1.GET("/routes/:id", s.getRoute, user)
	v1.PUT("/routes/:id", s.updateRoute, user, admin)
	v1.DELETE("/routes/:id", s.deleteRoute, user, admin)
	// Responders may silence, as they are the ones paged at night; only
	// admins delete a silence, which erases it where expiring keeps it.
	v1.GET("/silences", s.listSilences, user)
	v1.POST("/silences", s.createSilence, user)
	v1.GET("/silences/:id", s.getSilence, user)
	v1.PUT("/silences/:id", s.updateSilence, user)
	v1.POST("/silences/:id/expire", s.expireSilence, user)
	v1.DELETE("/silences/:id", s.deleteSilence, user, admin)
	v1.GET("/sources", s.listSources, user, admin)
	v1.POST("/sources", s.createSource, user, admin)
	v1.GET("/sources/:id", s.getSource, user, admin)
	v1.PUT("/sources/:id", s.updateSource, user, admin)
	v1.DELETE("/sources/:id", s.deleteSource, user, admin)
	v1.GET("/pollers", s.listPollers, user, admin)
	v1.POST("/pollers", s.createPoller, user, admin)
	v1.GET("/pollers/:id", s.getPoller, user, admin)
	v1.PUT("/pollers/:id", s.updatePoller, user, admin)
	v1.DELETE("/pollers/:id", s.deletePoller, user, admin)
	v1.POST("/pollers/:id/run", s.runPoller, user, admin)
	v1.GET("/audit", s.listAudit, user, admin)
	// Any user may read and act on alerts: responders are the ones paged.
	v1.GET("/alerts", s.listAlerts, user)
	v1.GET("/alerts/:id", s.getAlert, user)
	v1.POST("/alerts/:id/ack", s.ackAlert, user)
	v1.POST("/alerts/:id/resolve", s.resolveAlert, user)
	v1.GET("/inbox", s.listInbox, user)
	// The WebSocket authenticates itself: its token may also come in the
	// query, since browsers cannot set headers on an upgrade.
	v1.GET("/ws", s.serveWS)

	// Webhooks authenticate as their source, not as a user.
	e.POST("/hooks/:source", s.receiveHook)
	e.POST("/hooks/:source/api/v2/alerts", s.receivePrometheus)

	if opts.Debug {
		pprofRoutes := map[string]http.HandlerFunc{
			"/*": pprof.Index, "/cmdline": pprof.Cmdline, "/profile": pprof.Profile,
			"/symbol": pprof.Symbol, "/trace": pprof.Trace,
		}
		for path, h := range pprofRoutes {
			e.GET("/debug/pprof"+path, echo.WrapHandler(h), user, admin)
		}
	}
	return s
}

// Handler returns the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// requestID is the shape of a request ID tocsin accepts from a client.
var requestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// dropBadRequestID removes a client's X-Request-Id that is not a short
// token, so that the request gets an ID of tocsin's own instead of carrying
// arbitrary text into the logs.
func dropBadRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if id := c.Request().Header.Get(echo.HeaderXRequestID); id != "" && !requestID.MatchString(id) {
			c.Request().Header.Del(echo.HeaderXRequestID)
		}
		return next(c)
	}
}

// recoverPanics turns a handler's panic into a 500 and logs it with the
// request's ID. It sits inside the request log and metrics, so that a panic
// is counted and logged like any other failed request.
func (s *Server) recoverPanics() echo.MiddlewareFunc {
	return middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("handler panicked", "method", c.Request().Method, "path", c.Request().URL.Path,
				"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err, "stack", string(stack))
			return err
		},
	})
}

// logRequests writes one log line per request, after its error (if any) has
// been turned into a response, so that the status logged is the one sent:
// at debug level for a request that worked, at info for a client's error,
// at error for the server's. At thousands of webhooks a second, a line per
// accepted request would cost a write each for little news.
func (s *Server) logRequests() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		HandleError:  true,
		LogMethod:    true,
		LogURIPath:   true,
		LogStatus:    true,
		LogLatency:   true,
		LogRequestID: true,
		LogRemoteIP:  true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelDebug
			switch {
			case v.Status >= 500:
				level = slog.LevelError
			case v.Status >= 400:
				level = slog.LevelInfo
			}
			s.log.LogAttrs(c.Request().Context(), level, "request",
				slog.String("method", v.Method),
				slog.String("path", v.URIPath),
				slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency),
				slog.String("request_id", v.RequestID),
				slog.String("remote_ip", v.RemoteIP),
			)
			return nil
		},
	})
}

// healthz answers 200 while the process runs.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the store answers, and 503 saying why when not.
// With a Leadership, it says which node runs the pollers too; whether this
// node leads has no bearing on its readiness.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("not ready: store unreachable", "err", err)
		return &alerts.Error{Kind: alerts.ErrUnavailable, Message: "not ready: the store does not answer"}
	}
	ready := map[string]any{"status": "ready", "checks": map[string]string{"store": "ok"}}
	if s.leadership != nil {
		ready["pollers"] = s.pollersReadiness(ctx)
	}
	return c.JSON(http.StatusOK, ready)
}
