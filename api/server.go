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

	AuditLog(ctx context.Context, page storage.Page) ([]storage.AuditEntry, error)
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
}

// Server is tocsin's HTTP API. Its Handler is served by an http.Server that
// the caller owns.
type Server struct {
	echo  *echo.Echo
	store Store
	log   *slog.Logger
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
	s := &Server{echo: e, store: opts.Store, log: log}
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
	v1.GET("/audit", s.listAudit, user, admin)

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
// been turned into a response, so that the status logged is the one sent.
// Server errors are logged at error level.
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
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
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
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("not ready: store unreachable", "err", err)
		return &alerts.Error{Kind: alerts.ErrUnavailable, Message: "not ready: the store does not answer"}
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ready", "checks": map[string]string{"store": "ok"}})
}
