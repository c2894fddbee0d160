package sources

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// userAgent is the User-Agent of the requests of http and prometheus
// pollers; an http poller's headers may set another.
const userAgent = "tocsin-poller/1"

// maxErrorText bounds the text of a CheckResult's Error.
const maxErrorText = 256

// CheckerOptions configure a Checker.
type CheckerOptions struct {
	// Logger receives the log lines of checks gone wrong inside tocsin (a
	// panic); nil discards them. A check that fails is no log line: its
	// result says why.
	Logger *slog.Logger
	// Now is the clock CheckResult.At is read from; nil means time.Now.
	// Latencies are measured on the time package's monotonic clock
	// whatever Now is.
	Now func() time.Time
}

// Checker runs the checks of pollers. It holds two HTTP clients, built
// once and shared by every check so that connections to a target are
// reused from one run to the next: one that verifies servers'
// certificates, and one, for the pollers that set tls_skip_verify, that
// does not. A Checker is safe for use by any number of goroutines.
//
// The clients follow no redirect: a 3xx response is the response an http
// poller's expectations judge, so that a health page that moved fails
// rather than passing as the login page it now redirects to. They use no
// proxy, whatever HTTP_PROXY and its kin say: a poller checks what this
// node reaches, and a proxy in the way would turn its failures and its
// latency into the target's.
type Checker struct {
	client   *http.Client // verifies certificates
	insecure *http.Client // for tls_skip_verify
	now      func() time.Time
	log      *slog.Logger
}

// NewChecker returns a Checker. It starts no goroutine; the connections its
// clients keep open are closed by CloseIdleConnections, or after 90 seconds
// idle.
func NewChecker(opts CheckerOptions) *Checker {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	transport := &http.Transport{
		Proxy: nil,
		// The check's context bounds the dial; KeepAlive probes idle
		// connections so that dead ones are noticed.
		DialContext: (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		// Pollers call a few targets each, once every few seconds at most:
		// a couple of idle connections per target carry them, kept long
		// enough to outlive the usual interval between runs.
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
	}
	insecure := transport.Clone()
	insecure.TLSClientConfig.InsecureSkipVerify = true
	return &Checker{
		client:   newPollClient(transport),
		insecure: newPollClient(insecure),
		now:      opts.Now,
		log:      opts.Logger,
	}
}

// newPollClient returns a client over t that follows no redirect; the
// check's context bounds its requests.
func newPollClient(t *http.Transport) *http.Client {
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// CloseIdleConnections closes the connections the Checker keeps open for
// reuse, and so the goroutines that serve them; checks may still run
// after, and open new ones.
func (c *Checker) CloseIdleConnections() {
	c.client.CloseIdleConnections()
	c.insecure.CloseIdleConnections()
}

// clientFor returns the client of poller p's requests.
func (c *Checker) clientFor(p Poller) *http.Client {
	if p.TLSSkipVerify {
		return c.insecure
	}
	return c.client
}

// Check runs poller p's check once, within p.Timeout (DefaultPollTimeout
// when it is not set), and returns what it saw. It never panics, and always
// returns a result with At (when the check began), Outcome and Latency set.
//
//   - http: the request goes out with User-Agent tocsin-poller/1 unless
//     the headers set another (a Host header sets the request's host).
//     The check fails on a status not in ExpectStatus, then on a body that
//     ExpectBody does not match or whose JSON field is not as ExpectJSON
//     says, then on a latency (the time to the response's headers) above
//     MaxLatency. At most 1 MiB of the body is read: ExpectBody matches
//     that much, and ExpectJSON fails on a longer body.
//   - tcp: the check fails when it cannot connect to Address; the latency
//     is the time to connect.
//   - prometheus: an instant query, GET {url}/api/v1/query?query=... (the
//     URL's own path and parameters kept; POSTed as a form when the URL
//     would be over 2 KiB). A query that returns no series is an
//     OutcomeSuccess; one that returns series is an OutcomeFailure whose
//     Series are their label sets, in the answer's order, and the latency
//     is the whole query's. It is an OutcomeError when the API is not
//     reached or does not answer in time; when the query fails (an answer
//     of status "error", whose errorType and error the result's Error
//     gives); when the answer is over 8 MiB, is not JSON of the right
//     shape, or holds more than MaxPrometheusSeries series; and when the
//     result is not an instant vector (a scalar, as of "1" or
//     "scalar(...)", would fire for ever: "vector(1)" is one series with
//     no labels).
//
// A check that ctx cancels before it is done is an OutcomeError
// ("canceled"), since it learned nothing of the target, as is the check of
// a poller that does not validate (an unknown kind, a bad URL or
// expect_body).
//
// The Error of a result is short and stable: the same fault gives the same
// text at every run ("connection refused", "status 503, want 200-299",
// "timed out after 5s"), with no latency, port or time in it.
func (c *Checker) Check(ctx context.Context, p Poller) (r CheckResult) {
	at, start := c.now(), time.Now()
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("poller check panicked", "poller", p.Name, "kind", p.Kind, "panic", v, "stack", string(debug.Stack()))
			r = CheckResult{Outcome: OutcomeError, Latency: Duration(time.Since(start)), Error: "internal error: the check panicked"}
		}
		r.At = at
	}()
	timeout := time.Duration(p.Timeout)
	if timeout <= 0 {
		timeout = DefaultPollTimeout
	}
	checkCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rn := run{parent: ctx, ctx: checkCtx, timeout: timeout, start: start}
	switch p.Kind {
	case PollerHTTP:
		return c.checkHTTP(rn, p)
	case PollerTCP:
		return checkTCP(rn, p)
	case PollerPrometheus:
		return c.checkPrometheus(rn, p)
	}
	return rn.broken(fmt.Sprintf("unknown poller kind %.32q", p.Kind))
}

// run is one run of a check.
type run struct {
	// parent is the caller's context; ctx is parent with the poller's
	// timeout, which is timeout.
	parent, ctx context.Context
	timeout     time.Duration
	// start is when the run began.
	start time.Time
}

// latency returns the time since the run began.
func (rn run) latency() Duration { return Duration(time.Since(rn.start)) }

// broken returns the OutcomeError result of a check that could not be run,
// for the reason msg.
func (rn run) broken(msg string) CheckResult {
	return CheckResult{Outcome: OutcomeError, Latency: rn.latency(), Error: msg}
}

// failed returns the result of a check that met err while doing what
// during says (" reading the body", or ""): an OutcomeError when the
// caller canceled the run, and an OutcomeFailure otherwise.
func (rn run) failed(err error, during string) CheckResult {
	switch {
	case rn.parent.Err() != nil:
		return rn.broken("canceled")
	case rn.ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return CheckResult{Outcome: OutcomeFailure, Latency: rn.latency(), Error: "timed out after " + rn.timeout.String() + during}
	}
	return CheckResult{Outcome: OutcomeFailure, Latency: rn.latency(), Error: describeError(err) + during}
}

// describeError says what went wrong in a request or a connection, in
// words that do not change from one run to the next: no addresses, ports
// or times.
func describeError(err error) string {
	var (
		dnsErr      *net.DNSError
		unknownCA   x509.UnknownAuthorityError
		wrongHost   x509.HostnameError
		invalidCert x509.CertificateInvalidError
		notTLS      tls.RecordHeaderError
		tlsAlert    tls.AlertError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by the server"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network is unreachable"
	case errors.As(err, &dnsErr):
		switch {
		case dnsErr.IsNotFound:
			return "no such host"
		case dnsErr.IsTimeout:
			return "DNS lookup timed out"
		}
		return "DNS lookup failed: " + shorten(dnsErr.Err, maxErrorText)
	case errors.As(err, &unknownCA):
		return "TLS: certificate signed by an unknown authority"
	case errors.As(err, &wrongHost):
		return "TLS: " + shorten(strings.TrimPrefix(wrongHost.Error(), "x509: "), maxErrorText)
	case errors.As(err, &invalidCert):
		if invalidCert.Reason == x509.Expired {
			// Its text says what time it is.
			return "TLS: certificate has expired or is not yet valid"
		}
		return "TLS: " + shorten(strings.TrimPrefix(invalidCert.Error(), "x509: "), maxErrorText)
	case errors.As(err, &notTLS):
		return "TLS: the server did not answer in TLS"
	case errors.As(err, &tlsAlert):
		return "TLS: the server refused the handshake: " + tlsAlert.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the server closed the connection"
	}
	// The text of a *url.Error names the request, and that of a
	// *net.OpError the addresses, local port included: keep what is left.
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Err != nil {
		return shorten(oe.Op+": "+oe.Err.Error(), maxErrorText)
	}
	return shorten(err.Error(), maxErrorText)
}

// shorten cuts s to at most n bytes, on a rune boundary, marking the cut
// with "...".
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
