package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
)

// mysqlForm shows what a MySQL DSN looks like, in messages.
const mysqlForm = "user:password@tcp(host:3306)/dbname"

// checks collects the problems validation finds, by key; the loader then
// says where each value came from.
type checks []problem

func (cs *checks) add(key, format string, args ...any) {
	*cs = append(*cs, problem{key: key, msg: fmt.Sprintf(format, args...)})
}

func (cs *checks) atLeast(key string, got, lowest int64) {
	if got < lowest {
		cs.add(key, "must be at least %d, got %d", lowest, got)
	}
}

func (cs *checks) oneOf(key, got string, allowed ...string) {
	if !slices.Contains(allowed, got) {
		cs.add(key, "must be one of %s; got %q", strings.Join(allowed, ", "), got)
	}
}

// validate reports every impossible value in c, in key order.
func validate(c Config) []problem {
	var cs checks
	if msg := checkListen(c.Server.Listen); msg != "" {
		cs.add("server.listen", "%s", msg)
	}
	cs.atLeast("server.max_body_bytes", c.Server.MaxBodyBytes, 1)
	if c.Server.ShutdownTimeout < 0 {
		cs.add("server.shutdown_timeout", "must not be negative, got %s", c.Server.ShutdownTimeout)
	}

	cs.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	cs.oneOf("log.format", c.Log.Format, "text", "json")

	cs.oneOf("storage.driver", c.Storage.Driver, "sqlite", "mysql")
	switch {
	case c.Storage.DSN == "":
		cs.add("storage.dsn", "must not be empty")
	case c.Storage.Driver == "mysql" && c.Storage.DSN == Default().Storage.DSN:
		cs.add("storage.dsn", "must be set to a MySQL DSN like %s when storage.driver is mysql", mysqlForm)
	case c.Storage.Driver == "mysql":
		// The DSN holds a password: name what is wrong, never echo it.
		dsn, err := mysql.ParseDSN(c.Storage.DSN)
		switch {
		case err != nil:
			cs.add("storage.dsn", "not a MySQL DSN like %s: %s",
				mysqlForm, strings.TrimPrefix(err.Error(), "invalid DSN: "))
		case dsn.DBName == "":
			// Without one, the first query fails with "No database selected".
			cs.add("storage.dsn", "names no database; want a MySQL DSN like %s", mysqlForm)
		}
	}
	cs.atLeast("storage.max_open_conns", int64(c.Storage.MaxOpenConns), 1)

	cs.atLeast("hooks.max_alerts", int64(c.Hooks.MaxAlerts), 1)
	cs.atLeast("queues.alert.size", int64(c.Queues.Alert.Size), 1)
	cs.atLeast("queues.alert.workers", int64(c.Queues.Alert.Workers), 1)
	cs.atLeast("queues.alert.max_batch", int64(c.Queues.Alert.MaxBatch), 1)
	if c.Queues.Alert.Size >= 1 && c.Queues.Alert.Size < c.Hooks.MaxAlerts {
		// A request the queue can never hold would be refused for ever.
		cs.add("queues.alert.size", "must be at least hooks.max_alerts (%d), got %d", c.Hooks.MaxAlerts, c.Queues.Alert.Size)
	}
	cs.atLeast("queues.config.size", int64(c.Queues.Config.Size), 1)

	for i, o := range c.Push.AllowedOrigins {
		if msg := checkOrigin(o); msg != "" {
			cs.add(fmt.Sprintf("push.allowed_origins[%d]", i), "%s", msg)
		}
	}
	cs.atLeast("push.send_queue", int64(c.Push.SendQueue), 1)
	if c.Push.PingInterval <= 0 {
		cs.add("push.ping_interval", "must be positive, got %s", c.Push.PingInterval)
	}
	cs.atLeast("push.max_message_bytes", c.Push.MaxMessageBytes, 1)
	cs.atLeast("pollers.max_concurrent", int64(c.Pollers.MaxConcurrent), 1)
	if c.Pollers.ReloadInterval <= 0 {
		cs.add("pollers.reload_interval", "must be positive, got %s", c.Pollers.ReloadInterval)
	}
	if c.Cluster.NodeID != "" {
		if msg := checkNodeID(c.Cluster.NodeID); msg != "" {
			cs.add("cluster.node_id", "%s", msg)
		}
	}
	validateDeclared(c, &cs)
	validatePollers(c, &cs)
	return cs
}

// checkListen returns what is wrong with a listen address, or "".
func checkListen(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf(`must be host:port like "127.0.0.1:8080" or ":8080", got %q`, s)
	}
	if !isPort(port) {
		return fmt.Sprintf("port must be a number from 0 to 65535, got %q", port)
	}
	if host != "" && !isHost(host) {
		return fmt.Sprintf("host must be an IP address or a host name, got %q", host)
	}
	return ""
}

// checkOrigin returns what is wrong with an allowed WebSocket origin, or "".
// An origin is compared with the Origin header browsers send, so it must be
// written as they write it: lower-case, no path, no default port.
func checkOrigin(s string) string {
	if s == "*" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || strings.Contains(s, "#") ||
		strings.HasSuffix(u.Host, ":") || (u.Port() != "" && !isPort(u.Port())) || !isHost(u.Hostname()) {
		return fmt.Sprintf(`must be "*" or an origin like "https://example.com" or "http://host:8080" (no path), got %q`, s)
	}
	host := strings.ToLower(u.Host)
	if (u.Scheme == "https" && u.Port() == "443") || (u.Scheme == "http" && u.Port() == "80") {
		host = strings.TrimSuffix(host, ":"+u.Port())
	}
	if canonical := u.Scheme + "://" + host; canonical != s {
		return fmt.Sprintf("must be written as browsers send it, %q; got %q", canonical, s)
	}
	return ""
}

// checkNodeID returns what is wrong with a node name, or "".
func checkNodeID(id string) string {
	ok := id != "" && len(id) <= 64 && utf8.ValidString(id)
	for _, r := range id {
		ok = ok && unicode.IsPrint(r) && !unicode.IsSpace(r)
	}
	if !ok {
		return fmt.Sprintf("must be 1 to 64 bytes of printable characters without spaces, got %q", id)
	}
	return ""
}

// isPort reports whether s is a decimal port number, 0 to 65535.
func isPort(s string) bool {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return false
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return err == nil && n <= 65535
}

// isHost reports whether s is an IP address or a DNS host name.
func isHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	name := strings.TrimSuffix(s, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	for _, label := range labels {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	// A name whose last label is all digits is a mistyped IP address.
	return strings.TrimLeft(labels[len(labels)-1], "0123456789") != ""
}
