package sources

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/tocsinhq/tocsin/alerts"
)

// PollerKind is what a poller checks.
type PollerKind string

// The kinds of poller.
const (
	// PollerHTTP sends a request and checks the response: its status, and
	// optionally its body, a JSON field and its latency.
	PollerHTTP PollerKind = "http"
	// PollerTCP connects to host:port.
	PollerTCP PollerKind = "tcp"
	// PollerPrometheus runs an instant query against a Prometheus-compatible
	// API: every series it returns is an alert.
	PollerPrometheus PollerKind = "prometheus"
)

// pollerKinds lists the kinds in the order error messages name them.
var pollerKinds = []PollerKind{PollerHTTP, PollerTCP, PollerPrometheus}

// Defaults and bounds of a poller's fields.
const (
	// DefaultFailAfter and DefaultRecoverAfter are what a poller that does
	// not set fail_after and recover_after gets: a check must fail three
	// runs in a row to fire, and pass two in a row to resolve.
	DefaultFailAfter    = 3
	DefaultRecoverAfter = 2
	// MaxStreak bounds fail_after and recover_after.
	MaxStreak = 100
	// DefaultPollTimeout is the timeout of a check that sets none.
	DefaultPollTimeout = 10 * time.Second
	// MaxPollTimeout bounds a check's timeout.
	MaxPollTimeout = 5 * time.Minute
	// MinPollInterval is the shortest schedule a poller may have.
	MinPollInterval = time.Second
	// MaxPollerHeaders bounds the headers of an http poller.
	MaxPollerHeaders = 64
	// MaxPollerBody bounds the body an http poller sends.
	MaxPollerBody = 64 << 10
)

// PollerLabel is the label every alert of a poller carries, set to the
// poller's name: routes can select a poller's alerts with poller="NAME". A
// poller's own labels may not set it.
const PollerLabel = "poller"

// PollerSourcePrefix begins the Source of a poller's alerts: "poller:NAME".
// A webhook source's name cannot hold ':', so the two never mix.
const PollerSourcePrefix = "poller:"

// Poller is a check that tocsin runs on a schedule: it fires an alert when
// the check has failed FailAfter runs in a row, and resolves it when the
// check has passed RecoverAfter runs in a row.
type Poller struct {
	ID   int64      `json:"id"`
	Name string     `json:"name"`
	Kind PollerKind `json:"kind"`
	// Schedule is a cron spec with an optional seconds field
	// ("*/30 * * * * *", "0 */5 * * * *", "*/5 * * * *") or a descriptor
	// ("@every 30s", "@hourly"), in UTC.
	Schedule string `json:"schedule"`
	// Timeout bounds one run of the check.
	Timeout Duration `json:"timeout"`

	// URL is what an http poller requests, and the base URL of a
	// prometheus poller's API (its /api/v1/query is appended).
	URL string `json:"url,omitempty"`
	// Method, Headers and Body make an http poller's request. Method is
	// GET when empty.
	Method  string            `json:"method,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	// ExpectStatus are the response statuses that pass; empty means
	// 200-299. Redirects are not followed: a 3xx is the response judged.
	ExpectStatus []StatusRange `json:"expect_status,omitempty"`
	// ExpectBody, when set, is a regular expression (RE2) the response body
	// must match.
	ExpectBody string `json:"expect_body,omitempty"`
	// ExpectJSON, when set, is a field the JSON response body must have,
	// with a given value.
	ExpectJSON *JSONExpectation `json:"expect_json,omitempty"`
	// MaxLatency, when set, fails a response slower than it.
	MaxLatency Duration `json:"max_latency,omitempty"`
	// TLSSkipVerify turns off the verification of the server's
	// certificate; it is on unless this is set.
	TLSSkipVerify bool `json:"tls_skip_verify,omitempty"`

	// Address is the host:port a tcp poller connects to.
	Address string `json:"address,omitempty"`

	// Query is a prometheus poller's PromQL expression.
	Query string `json:"query,omitempty"`

	// Labels and Annotations go on every alert the poller makes.
	Labels      alerts.Labels     `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	// FailAfter is how many failed runs in a row fire an alert, and
	// RecoverAfter how many passed runs in a row resolve it.
	FailAfter    int  `json:"fail_after"`
	RecoverAfter int  `json:"recover_after"`
	Enabled      bool `json:"enabled"`

	ManagedBy string    `json:"managed_by"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// JSONExpectation is a field an http poller's JSON response must have.
type JSONExpectation struct {
	// Path is the field's path: member names and array indexes joined by
	// dots, "status" or "checks.0.healthy".
	Path string `json:"path" yaml:"path"`
	// Equals is the value the field must have, as text: a string's value,
	// or the JSON of a number, boolean or null ("42", "true", "null").
	Equals string `json:"equals" yaml:"equals"`
}

// Duration is a time.Duration written as Go writes durations: "1m30s".
type Duration time.Duration

// MarshalText writes the duration as "1m30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a duration written as "1m30s".
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("want a duration such as 500ms, 10s or 1m30s, got %q", text)
	}
	*d = Duration(v)
	return nil
}

// StatusRange is an inclusive range of HTTP statuses, written "200" or
// "200-299".
type StatusRange struct {
	Min, Max int
}

// Contains reports whether status is in the range.
func (r StatusRange) Contains(status int) bool { return status >= r.Min && status <= r.Max }

// String writes the range as "200" or "200-299".
func (r StatusRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return strconv.Itoa(r.Min) + "-" + strconv.Itoa(r.Max)
}

// MarshalText writes the range as "200" or "200-299".
func (r StatusRange) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads "200" or "200-299": statuses from 100 to 599, the
// first not above the second.
func (r *StatusRange) UnmarshalText(text []byte) error {
	lo, hi, isRange := strings.Cut(string(text), "-")
	if !isRange {
		hi = lo
	}
	minStatus, err1 := strconv.Atoi(lo)
	maxStatus, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || minStatus < 100 || maxStatus > 599 || minStatus > maxStatus {
		return fmt.Errorf(`want a status or a range of statuses from 100 to 599, such as "200" or "200-299", got %q`, text)
	}
	*r = StatusRange{Min: minStatus, Max: maxStatus}
	return nil
}

// DefaultExpectStatus is what an http poller that expects no status passes.
var DefaultExpectStatus = []StatusRange{{Min: 200, Max: 299}}

// scheduleParser reads schedules: cron specs with an optional seconds field,
// and descriptors such as @every 30s.
var scheduleParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule reads a poller's schedule. It returns an alerts.ErrInvalid
// error naming field "schedule" for a spec that does not parse, that names a
// time zone, or whose runs would come less than MinPollInterval apart.
func ParseSchedule(spec string) (cron.Schedule, error) {
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, alerts.Invalid("schedule", "schedules run in UTC and may not name a time zone")
	}
	sched, err := scheduleParser.Parse(spec)
	if err != nil {
		return nil, alerts.Invalid("schedule", `must be a cron spec such as "*/30 * * * * *" or "*/5 * * * *", or "@every 30s": %v`, err)
	}
	// cron rounds an @every delay under a second up to one: judge the
	// delay written.
	if every, ok := strings.CutPrefix(spec, "@every "); ok {
		if delay, _ := time.ParseDuration(every); delay < MinPollInterval {
			return nil, alerts.Invalid("schedule", "runs must be at least %s apart", MinPollInterval)
		}
	}
	return sched, nil
}

// methodName is the shape of an HTTP method tocsin sends.
var methodName = regexp.MustCompile(`^[A-Z][A-Z-]{0,19}$`)

// Validate checks the fields a client sets and fills in defaults: the timeout
// and, for an http poller, the method and expected statuses. It returns an
// alerts.ErrInvalid error naming the field at fault. FailAfter and
// RecoverAfter have no defaults here: a client that leaves them out gets
// DefaultFailAfter and DefaultRecoverAfter from the API or the config file,
// and one that sends 0 gets an error.
func (p *Poller) Validate() error {
	if err := alerts.ValidateName("name", p.Name); err != nil {
		return err
	}
	if !slices.Contains(pollerKinds, p.Kind) {
		return alerts.Invalid("kind", "must be one of %s, got %q", quoteAll(pollerKinds), p.Kind)
	}
	if _, err := ParseSchedule(p.Schedule); err != nil {
		return err
	}
	if p.Timeout == 0 {
		p.Timeout = Duration(DefaultPollTimeout)
	}
	if p.Timeout < 0 || time.Duration(p.Timeout) > MaxPollTimeout {
		return alerts.Invalid("timeout", "must be more than 0 and at most %s", MaxPollTimeout)
	}
	if err := p.validateKind(); err != nil {
		return err
	}
	if err := validatePollerLabels(p.Labels); err != nil {
		return err
	}
	if err := checkAnnotations("annotations", p.Annotations, alerts.ValidLabelName); err != nil {
		return err
	}
	if p.FailAfter < 1 || p.FailAfter > MaxStreak {
		return alerts.Invalid("fail_after", "must be 1 to %d, got %d", MaxStreak, p.FailAfter)
	}
	if p.RecoverAfter < 1 || p.RecoverAfter > MaxStreak {
		return alerts.Invalid("recover_after", "must be 1 to %d, got %d", MaxStreak, p.RecoverAfter)
	}
	return nil
}

// kindFields are the fields that belong to one kind of poller.
var kindFields = map[PollerKind][]string{
	PollerHTTP: {"url", "method", "headers", "body", "expect_status", "expect_body", "expect_json",
		"max_latency", "tls_skip_verify"},
	PollerTCP:        {"address"},
	PollerPrometheus: {"url", "query"},
}

// setKindFields returns, in kindFields' order, the kind-specific fields
// that p sets.
func (p *Poller) setKindFields() []string {
	set := map[string]bool{
		"url": p.URL != "", "method": p.Method != "", "headers": len(p.Headers) > 0, "body": p.Body != "",
		"expect_status": len(p.ExpectStatus) > 0, "expect_body": p.ExpectBody != "",
		"expect_json": p.ExpectJSON != nil, "max_latency": p.MaxLatency != 0, "tls_skip_verify": p.TLSSkipVerify,
		"address": p.Address != "", "query": p.Query != "",
	}
	var fields []string
	for _, kind := range pollerKinds {
		for _, f := range kindFields[kind] {
			if set[f] && !slices.Contains(fields, f) {
				fields = append(fields, f)
			}
		}
	}
	return fields
}

// validateKind checks the fields of the poller's kind, and that it sets none
// of the other kinds'.
func (p *Poller) validateKind() error {
	for _, field := range p.setKindFields() {
		if !slices.Contains(kindFields[p.Kind], field) {
			return alerts.Invalid(field, "is not a field of %s pollers", p.Kind)
		}
	}
	switch p.Kind {
	case PollerHTTP:
		return p.validateHTTP()
	case PollerTCP:
		return validateAddress(p.Address)
	default:
		if err := validateURL("url", p.URL); err != nil {
			return err
		}
		if strings.TrimSpace(p.Query) == "" || len(p.Query) > 16<<10 {
			return alerts.Invalid("query", "must be a PromQL expression of at most 16 KiB")
		}
		return nil
	}
}

// validateHTTP checks an http poller's request and expectations.
func (p *Poller) validateHTTP() error {
	if err := validateURL("url", p.URL); err != nil {
		return err
	}
	if p.Method == "" {
		p.Method = http.MethodGet
	}
	if !methodName.MatchString(p.Method) {
		return alerts.Invalid("method", "must be an HTTP method in capitals, such as GET or POST, got %q", p.Method)
	}
	if len(p.Headers) > MaxPollerHeaders {
		return alerts.Invalid("headers", "at most %d headers, got %d", MaxPollerHeaders, len(p.Headers))
	}
	for _, name := range slices.Sorted(maps.Keys(p.Headers)) {
		if !headerName.MatchString(name) {
			return alerts.Invalid("headers["+strconv.Quote(name)+"]", "is not an HTTP header name")
		}
		if strings.ContainsAny(p.Headers[name], "\r\n\x00") || len(p.Headers[name]) > 8<<10 {
			return alerts.Invalid("headers["+strconv.Quote(name)+"]", "must be at most 8 KiB, without line breaks or NUL")
		}
	}
	if len(p.Body) > MaxPollerBody {
		return alerts.Invalid("body", "must be at most %d bytes, got %d", MaxPollerBody, len(p.Body))
	}
	if len(p.ExpectStatus) == 0 {
		p.ExpectStatus = slices.Clone(DefaultExpectStatus)
	}
	for i, r := range p.ExpectStatus {
		if r.Min < 100 || r.Max > 599 || r.Min > r.Max {
			return alerts.Invalid("expect_status["+strconv.Itoa(i)+"]", "must be a status or a range of statuses from 100 to 599")
		}
	}
	if p.ExpectBody != "" {
		if len(p.ExpectBody) > 4<<10 {
			return alerts.Invalid("expect_body", "must be at most 4 KiB")
		}
		if _, err := regexp.Compile(p.ExpectBody); err != nil {
			return alerts.Invalid("expect_body", "is not a regular expression (RE2 syntax): %v", err)
		}
	}
	if e := p.ExpectJSON; e != nil {
		if e.Path == "" || len(e.Path) > 1024 || slices.Contains(strings.Split(e.Path, "."), "") {
			return alerts.Invalid("expect_json.path", `must be member names and array indexes joined by dots, such as "status" or "checks.0.ok"`)
		}
	}
	if p.MaxLatency < 0 || (p.MaxLatency > 0 && p.MaxLatency >= p.Timeout) {
		return alerts.Invalid("max_latency", "must be more than 0 and less than the timeout (%s)", time.Duration(p.Timeout))
	}
	return nil
}

// validateURL checks an absolute http or https URL.
func validateURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(raw) > 2048 {
		return alerts.Invalid(field, "must be an absolute http or https URL of at most 2048 characters, got %.100q", raw)
	}
	if u.User != nil {
		return alerts.Invalid(field, "may not hold credentials: send them in headers")
	}
	return nil
}

// validateAddress checks a tcp poller's host:port.
func validateAddress(address string) error {
	host, port, err := net.SplitHostPort(address)
	n, perr := strconv.Atoi(port)
	if err != nil || host == "" || perr != nil || n < 1 || n > 65535 || len(address) > 300 {
		return alerts.Invalid("address", "must be host:port, such as db.internal:5432, got %.100q", address)
	}
	return nil
}

// validatePollerLabels checks a poller's own labels: by the rules a
// webhook's alert meets, less the empty values that a webhook's are
// dropped for: a poller's are refused, so that its alerts carry what it
// says.
func validatePollerLabels(ls alerts.Labels) error {
	for _, name := range slices.Sorted(maps.Keys(ls)) {
		if ls[name] == "" {
			return alerts.Invalid("labels["+strconv.Quote(name)+"]", "value is empty: leave the label out instead")
		}
	}
	if _, ok := ls[PollerLabel]; ok {
		return alerts.Invalid("labels["+strconv.Quote(PollerLabel)+"]", "is set by tocsin to the poller's name")
	}
	// Checked with the labels tocsin adds, which count toward the limit.
	return checkLabels("labels", Poller{Name: "x", Labels: ls}.AlertLabels(nil))
}

// Source is the Source of the poller's alerts, "poller:NAME".
func (p Poller) Source() string { return PollerSourcePrefix + p.Name }

// AlertLabels returns the labels of an alert the poller makes from a series
// (nil for http and tcp pollers, which make one alert): the series' labels
// without __name__, then alertname set to the poller's name unless the
// series or the poller's labels set it, then the poller's labels (which
// win), then PollerLabel.
func (p Poller) AlertLabels(series alerts.Labels) alerts.Labels {
	ls := make(alerts.Labels, len(series)+len(p.Labels)+2)
	for name, value := range series {
		if name != "__name__" {
			ls[name] = value
		}
	}
	if ls["alertname"] == "" {
		ls["alertname"] = p.Name
	}
	maps.Copy(ls, p.Labels)
	ls[PollerLabel] = p.Name
	return ls
}
