package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/api"
	"github.com/tocsinhq/tocsin/config"
	"github.com/tocsinhq/tocsin/push"
	"github.com/tocsinhq/tocsin/sources"
	"github.com/tocsinhq/tocsin/storage"
)

// App is a running tocsin: create it with New, then call Run once.
type App struct {
	cfg    config.Config
	log    *slog.Logger
	store  *storage.DB
	rules  *alerts.ConfigQueue
	alerts *alerts.AlertQueue
	hub    *push.Hub
	// pollers run while election says this node leads; checker makes
	// their checks, and /run's.
	pollers  *sources.Scheduler
	election *storage.Election
	checker  *sources.Checker
	server   *http.Server
	listener net.Listener
	// handlers counts the HTTP handlers running, so that a forced shutdown
	// can wait for them before it closes the store under them.
	handlers inflight
	// cancelRequests cancels every request's context: a forced shutdown
	// calls it so that handlers stop waiting on the store and return.
	cancelRequests context.CancelFunc
}

// New opens and migrates the store, applies the rules that config.yaml
// declares, binds server.listen, and then creates the first admin if the
// store has no users (logging its token, once). On error it releases
// whatever it had acquired.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	store, err := OpenStore(ctx, cfg.Storage, log)
	if err != nil {
		return nil, err
	}
	if err := applyDeclared(ctx, store, cfg, log); err != nil {
		store.Close()
		return nil, fmt.Errorf("apply the rules declared in the config file: %w", err)
	}

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// The hub hears of committed inbox rows from the alert queue and of
	// rule changes from the config queue, and acts on alerts for people
	// through the alert queue; the pollers hear of poller changes from the
	// config queue and hand their alerts to the alert queue. The alert
	// queue, built last since it routes by the config queue, is given to
	// them once built.
	queue := &alertQueueRef{}
	hub := push.NewHub(push.Options{
		Store:           store,
		Alerts:          queue,
		SendQueue:       cfg.Push.SendQueue,
		PingInterval:    cfg.Push.PingInterval,
		MaxMessageBytes: cfg.Push.MaxMessageBytes,
		Logger:          log,
		Metrics:         metrics,
	})
	node, err := nodeID(cfg.Cluster)
	if err != nil {
		store.Close()
		return nil, err
	}
	checker := sources.NewChecker(sources.CheckerOptions{Logger: log})
	pollers := sources.NewScheduler(sources.SchedulerOptions{
		Store:         store,
		Alerts:        queue,
		Checker:       checker,
		MaxConcurrent: cfg.Pollers.MaxConcurrent,
		Node:          node,
		Reload:        cfg.Pollers.ReloadInterval,
		Logger:        log,
		Metrics:       metrics,
	})
	election := store.NewElection(storage.ElectionOptions{Name: pollerLock, Node: node, Logger: log})
	rules := alerts.NewConfigQueue(alerts.ConfigQueueOptions{
		Store:      store,
		Size:       cfg.Queues.Config.Size,
		Subscriber: configSubscribers{hub, pollers},
		Logger:     log,
		Metrics:    metrics,
	})
	if err := rules.Load(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("read the routing rules: %w", err)
	}
	alertQueue := alerts.NewAlertQueue(alerts.AlertQueueOptions{
		Store:    store,
		Routing:  rules,
		Notifier: hub,
		Size:     cfg.Queues.Alert.Size,
		Workers:  cfg.Queues.Alert.Workers,
		MaxBatch: cfg.Queues.Alert.MaxBatch,
		Logger:   log,
		Metrics:  metrics,
	})
	queue.AlertQueue = alertQueue
	handler := api.New(api.Options{
		Store:               store,
		Rules:               rules,
		Alerts:              alertQueue,
		MaxAlertsPerRequest: cfg.Hooks.MaxAlerts,
		Logger:              log,
		Metrics:             metrics,
		MaxBodyBytes:        cfg.Server.MaxBodyBytes,
		Debug:               cfg.Server.Debug,
		Push:                hub,
		AllowedOrigins:      cfg.Push.AllowedOrigins,
		Pollers:             checker,
		Leadership:          election,
	}).Handler()

	listener, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("server.listen: %w", err)
	}
	// Bootstrap only once nothing else can fail: a start that fails after
	// creating the admin would show its token in a failed run's output, and
	// the start that works would show none.
	token, created, err := store.Bootstrap(ctx)
	if err != nil {
		listener.Close()
		store.Close()
		return nil, fmt.Errorf("create the first admin: %w", err)
	}
	if created {
		announce(ctx, log, "created the first admin user; its token is shown this once, keep it now",
			slog.String("user", "admin"), slog.String("token", token))
	}
	requestCtx, cancelRequests := context.WithCancel(context.Background())
	a := &App{
		cfg: cfg, log: log, store: store, rules: rules, alerts: alertQueue, hub: hub,
		pollers: pollers, election: election, checker: checker,
		listener: listener, cancelRequests: cancelRequests,
	}
	a.server = &http.Server{
		Handler:           a.handlers.track(handler),
		BaseContext:       func(net.Listener) context.Context { return requestCtx },
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return a, nil
}

// pollerLock is the name of the lock whose holder runs the pollers.
const pollerLock = "tocsin.pollers"

// alertQueueRef is the alert queue as the hub (push.Actor) and the pollers
// (sources.AlertSubmitter) use it. The queue is built after them, since it
// notifies the hub and routes by the config queue they subscribe to: New
// sets it before it returns, and neither uses it before Run.
type alertQueueRef struct{ *alerts.AlertQueue }

// configSubscribers tells each of its subscribers of every applied change.
type configSubscribers []alerts.ConfigSubscriber

// ConfigApplied tells every subscriber, in order.
func (subs configSubscribers) ConfigApplied(change alerts.ConfigChange, snapshot *alerts.Snapshot) {
	for _, s := range subs {
		s.ConfigApplied(change, snapshot)
	}
}

// nodeID returns the name of this node: cluster.node_id, or the host name.
func nodeID(cfg config.Cluster) (string, error) {
	if cfg.NodeID != "" {
		return cfg.NodeID, nil
	}
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("cluster.node_id is unset and the host name is unknown: %w", err)
	}
	return host, nil
}

// OpenStore opens the configured store and brings its schema up to date.
func OpenStore(ctx context.Context, cfg config.Storage, log *slog.Logger) (*storage.DB, error) {
	store, err := storage.Open(ctx, storage.Options{
		Driver:       cfg.Driver,
		DSN:          cfg.DSN,
		MaxOpenConns: cfg.MaxOpenConns,
		Logger:       log,
	})
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

// Addr returns the address the server listens on.
func (a *App) Addr() net.Addr { return a.listener.Addr() }

// Run serves until ctx is cancelled or the server fails, then shuts down
// in phases: it stops accepting, closes every WebSocket with 1001 (going
// away) and gives in-flight requests server.shutdown_timeout to finish;
// then it stops the pollers (releasing the leadership for another node);
// then it stops the alert workers and the config-update worker, which
// finish what they hold; then it stops the push hub, and closes the store.
// It returns nil after a clean shutdown.
func (a *App) Run(ctx context.Context) error {
	a.log.Info("tocsin listening", "addr", a.Addr().String(), "store", a.store.Driver())
	g, ctx := errgroup.WithContext(ctx)
	// The workers outlive the HTTP server: a webhook waits for its alerts
	// to be committed, and a request that changed a rule for the change to
	// take effect, before it answers. The hub outlives the workers, which
	// hand it what they commit until they stop.
	workersCtx, stopWorkers := context.WithCancel(context.Background())
	hubCtx, stopHub := context.WithCancel(context.Background())
	// The pollers run while this node leads, until the HTTP server has
	// stopped; they stop before the workers they hand alerts to.
	pollersCtx, stopPollers := context.WithCancel(context.Background())
	var pollers sync.WaitGroup
	pollers.Add(1)
	g.Go(func() error {
		defer pollers.Done()
		err := a.election.Run(pollersCtx, func(ctx context.Context) {
			if err := a.pollers.Run(ctx); err != nil {
				a.log.Error("pollers stopped", "err", err)
			}
		})
		if err != nil {
			return fmt.Errorf("poller leader election: %w", err)
		}
		return nil
	})
	var workers sync.WaitGroup
	workers.Add(2)
	g.Go(func() error {
		defer workers.Done()
		if err := a.rules.Run(workersCtx); err != nil {
			return fmt.Errorf("config-update worker: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		defer workers.Done()
		if err := a.alerts.Run(workersCtx); err != nil {
			return fmt.Errorf("alert workers: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := a.hub.Run(hubCtx); err != nil {
			return fmt.Errorf("push hub: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := a.server.Serve(a.listener); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		err := a.shutdown()
		stopPollers()
		pollers.Wait()
		a.checker.CloseIdleConnections()
		stopWorkers()
		workers.Wait()
		stopHub()
		return err
	})
	err := g.Wait()
	if cerr := a.store.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close the store: %w", cerr))
	}
	a.log.Info("tocsin stopped")
	return err
}

// shutdown stops the HTTP server and the WebSockets, waiting up to
// server.shutdown_timeout for in-flight requests and for the WebSockets'
// close handshakes. Past that it cancels the requests still running and cuts
// their connections. Either way it returns once every handler has returned,
// WebSockets' included.
func (a *App) shutdown() error {
	a.log.Info("shutting down", "timeout", a.cfg.Server.ShutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Server.ShutdownTimeout)
	defer cancel()
	// http.Server.Shutdown neither closes nor waits for hijacked
	// connections: the hub closes the WebSockets, at the same time and
	// within the same limit, on a goroutine this waits for. (Registering it
	// with RegisterOnShutdown would run it on a goroutine nobody waits for.)
	var sockets sync.WaitGroup
	sockets.Go(func() { a.hub.Shutdown(ctx) })
	err := a.server.Shutdown(ctx)
	sockets.Wait()
	if err != nil {
		a.log.Warn("in-flight requests did not finish in time; cancelling them", "err", err)
		a.cancelRequests()
		err = a.server.Close()
	}
	// What is left are the handlers of closed WebSockets on their way out,
	// or those of cancelled requests: wait for them, so that none outlives
	// the store.
	a.cancelRequests()
	a.handlers.closeAndWait()
	return err
}

// announce logs a warning whatever the logger's level: the first admin's
// token is shown once, and a level that filtered it out would lose it.
func announce(ctx context.Context, log *slog.Logger, msg string, attrs ...slog.Attr) {
	r := slog.NewRecord(time.Now(), slog.LevelWarn, msg, 0)
	r.AddAttrs(attrs...)
	if err := log.Handler().Handle(ctx, r); err != nil {
		log.Error("could not write the first admin's token to the log; create one with tocsin token create --user admin", "err", err)
	}
}

// NewLogger returns the process logger that cfg describes, writing to w.
func NewLogger(w io.Writer, cfg config.Log) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
