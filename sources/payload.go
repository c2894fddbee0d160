package sources

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tocsinhq/tocsin/alerts"
)

// DefaultMaxAlerts is how many alerts one webhook request may carry when
// Limits.MaxAlerts is 0.
const DefaultMaxAlerts = 1000

// Limits bound what one webhook request may carry.
type Limits struct {
	// MaxAlerts is the most alerts one request may carry; 0 (or less)
	// means DefaultMaxAlerts.
	MaxAlerts int
}

// maxAlerts returns the cap on alerts, with the default applied.
func (l Limits) maxAlerts() int {
	if l.MaxAlerts <= 0 {
		return DefaultMaxAlerts
	}
	return l.MaxAlerts
}

// Endpoint is the path a webhook request came to.
type Endpoint int

// The endpoints a source receives alerts at.
const (
	// EndpointHook is /hooks/NAME, which takes every kind of payload.
	EndpointHook Endpoint = iota
	// EndpointPrometheus is /hooks/NAME/api/v2/alerts, the Alertmanager v2
	// API path Prometheus posts to; only prometheus sources take it.
	EndpointPrometheus
)

// Bounds on what one alert may carry.
const (
	maxLabels           = 128
	maxLabelNameLen     = 256
	maxLabelValueLen    = 4096
	maxAnnotations      = 128
	maxAnnotationLen    = 65536
	maxGeneratorURLLen  = 4096
	maxStartsAtInFuture = time.Hour            // said "an hour" in errors
	maxEndsAtInFuture   = 366 * 24 * time.Hour // said "366 days" in errors
	// maxQuoted bounds how much of a bad value an error message repeats.
	maxQuoted = 64
)

// earliest is the earliest time an alert may claim: anything before is a
// clock or a sender gone wrong.
var earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Parse turns the body of a webhook request that came to ep into the alert
// events it reports, at now, as s.Kind says to read it:
//
//   - alertmanager and grafana: the webhook payload, a JSON object whose
//     "alerts" array holds alerts with status ("firing" or "resolved"),
//     labels, annotations, startsAt, endsAt and generatorURL. Every other
//     member, of the payload or of an alert (groupKey, receiver,
//     notification_reason, routeLabels, values, dashboardURL, ...), is
//     ignored, and so is the alert's "fingerprint": tocsin computes its own
//     from the labels, as Alertmanager does.
//   - prometheus: the Alertmanager v2 API body, a JSON array of alerts with
//     labels, annotations, startsAt, endsAt and generatorURL. An alert is
//     resolved when its endsAt is set and not after now, and firing
//     otherwise, as Alertmanager judges it.
//   - generic: any JSON object, read through s.Mapping (see Mapping):
//     strings are taken as they are, numbers and booleans as their JSON
//     text; a null or missing value leaves its label or annotation out, and
//     an object or array where a value is wanted is an error. The members of
//     LabelsFrom and AnnotationsFrom that are objects, arrays or null are
//     left out, and Labels and Annotations win over them. An alert's status
//     is resolved when its text is one of ResolvedValues (exactly), and
//     firing otherwise; with no Status path, every alert fires.
//
// Labels with an empty value are dropped, as Prometheus and Alertmanager
// drop them: a label with an empty value is the label absent. An alert
// needs at least one label left, and at most 128, with valid names of up
// to 256 bytes and values of up to 4096 bytes. It may have up to 128
// annotations, with values of up to 65536 bytes, named as labels are
// (generic payloads: any name of 1 to 256 bytes); and a generatorURL of up
// to 4096 bytes. Times are RFC 3339; a zero or absent startsAt
// (Alertmanager writes 0001-01-01T00:00:00Z) leaves Event.StartsAt zero,
// for the receive time. Absurd times are refused: any before 2000, a
// startsAt more than an hour after now, an endsAt more than 366 days after
// now or before startsAt. Event.EndsAt is set for resolved events only,
// and Event.Annotations is nil when an alert has none.
//
// A payload is taken whole or not at all: on any error Parse returns no
// events, and an alerts.ErrInvalid *alerts.Error whose Field names the
// part of the body at fault as the sender wrote it: "alerts" (none, or
// more than lim.MaxAlerts), "alerts[2].labels", "alerts[0].startsAt",
// "alerts[1].labels[\"bad-name\"]" (the alerts of a prometheus array are
// named the same way), or "" for a body that is not JSON of the right
// shape (the message gives the byte offset). It returns an
// alerts.ErrNotFound *alerts.Error when ep is EndpointPrometheus and s is
// not of kind prometheus, and a plain error when s is not a valid source
// (an unknown kind, or a generic source without a mapping).
func (s *Source) Parse(ep Endpoint, body []byte, now time.Time, lim Limits) ([]alerts.Event, error) {
	if ep == EndpointPrometheus && s.Kind != KindPrometheus {
		return nil, &alerts.Error{Kind: alerts.ErrNotFound, Message: fmt.Sprintf("source %s is not of kind prometheus", s.Name)}
	}
	// Each parser returns every event, or nil and an error.
	switch s.Kind {
	case KindAlertmanager, KindGrafana:
		return s.parseWebhook(body, now, lim)
	case KindPrometheus:
		return s.parsePrometheus(body, now, lim)
	case KindGeneric:
		if s.Mapping == nil {
			return nil, fmt.Errorf("generic source %q has no mapping", s.Name)
		}
		return s.parseGeneric(body, lim)
	}
	return nil, fmt.Errorf("source %q has unknown kind %q", s.Name, s.Kind)
}

// wireAlert is one alert as Alertmanager's webhook, Grafana's webhook and
// the Alertmanager v2 API write it; members it does not name are ignored.
type wireAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

// parseWebhook reads an Alertmanager or Grafana webhook payload.
func (s *Source) parseWebhook(body []byte, now time.Time, lim Limits) ([]alerts.Event, error) {
	if firstByte(body) != '{' {
		return nil, alerts.Invalid("", "the body must be a JSON object with an \"alerts\" array")
	}
	var payload struct {
		Alerts []wireAlert `json:"alerts"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		return nil, jsonError(body, err, false)
	}
	if err := checkCount(len(payload.Alerts), lim); err != nil {
		return nil, err
	}
	events := make([]alerts.Event, len(payload.Alerts))
	for i, a := range payload.Alerts {
		field := alertField(i)
		var status alerts.Status
		switch a.Status {
		case string(alerts.StatusFiring), string(alerts.StatusResolved):
			status = alerts.Status(a.Status)
		case "":
			return nil, alerts.Invalid(field+".status", "is missing: want \"firing\" or \"resolved\"")
		default:
			return nil, alerts.Invalid(field+".status", "must be \"firing\" or \"resolved\", got %s", quoteShort(a.Status))
		}
		ev, err := s.wireEvent(field, a, status, now)
		if err != nil {
			return nil, err
		}
		events[i] = ev
	}
	return events, nil
}

// parsePrometheus reads the Alertmanager v2 API body Prometheus sends.
func (s *Source) parsePrometheus(body []byte, now time.Time, lim Limits) ([]alerts.Event, error) {
	if firstByte(body) != '[' {
		return nil, alerts.Invalid("", "the body must be a JSON array of alerts")
	}
	var list []wireAlert
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, jsonError(body, err, true)
	}
	if err := checkCount(len(list), lim); err != nil {
		return nil, err
	}
	events := make([]alerts.Event, len(list))
	for i, a := range list {
		field := alertField(i)
		// Any status member is ignored: Alertmanager judges by endsAt.
		ev, err := s.wireEvent(field, a, "", now)
		if err != nil {
			return nil, err
		}
		events[i] = ev
	}
	return events, nil
}

// wireEvent validates alert a, named field, and makes it an event of the
// given status; with status "" the event is resolved when its endsAt is set
// and not after now, and firing otherwise, as Alertmanager judges.
func (s *Source) wireEvent(field string, a wireAlert, status alerts.Status, now time.Time) (alerts.Event, error) {
	labels := alerts.Labels(a.Labels)
	if err := checkLabels(field+".labels", labels); err != nil {
		return alerts.Event{}, err
	}
	if err := checkAnnotations(field+".annotations", a.Annotations, alerts.ValidLabelName); err != nil {
		return alerts.Event{}, err
	}
	if len(a.GeneratorURL) > maxGeneratorURLLen {
		return alerts.Event{}, alerts.Invalid(field+".generatorURL", "is %d bytes, over the limit of %d", len(a.GeneratorURL), maxGeneratorURLLen)
	}
	startsAt, err := parseTime(field+".startsAt", a.StartsAt)
	if err != nil {
		return alerts.Event{}, err
	}
	endsAt, err := parseTime(field+".endsAt", a.EndsAt)
	if err != nil {
		return alerts.Event{}, err
	}
	switch {
	case startsAt.After(now.Add(maxStartsAtInFuture)):
		return alerts.Event{}, alerts.Invalid(field+".startsAt", "is more than an hour after now: check the sender's clock")
	case endsAt.After(now.Add(maxEndsAtInFuture)):
		return alerts.Event{}, alerts.Invalid(field+".endsAt", "is more than 366 days after now")
	case !startsAt.IsZero() && !endsAt.IsZero() && endsAt.Before(startsAt):
		return alerts.Event{}, alerts.Invalid(field+".endsAt", "is before startsAt")
	}
	if status == "" {
		status = alerts.StatusFiring
		if !endsAt.IsZero() && !endsAt.After(now) {
			status = alerts.StatusResolved
		}
	}
	ev := newEvent(s.Name, labels, a.Annotations, status)
	ev.StartsAt, ev.GeneratorURL = startsAt, a.GeneratorURL
	if status == alerts.StatusResolved {
		// A firing alert's endsAt (Prometheus sets one) says only when it
		// would expire.
		ev.EndsAt = endsAt
	}
	return ev, nil
}

// newEvent makes the event of a checked alert from source, with no times.
func newEvent(source string, labels alerts.Labels, annotations map[string]string, status alerts.Status) alerts.Event {
	if len(annotations) == 0 {
		annotations = nil
	}
	return alerts.Event{
		Fingerprint: labels.Fingerprint(),
		Labels:      labels,
		Annotations: annotations,
		Status:      status,
		Source:      source,
	}
}

// checkCount checks the number of alerts in a payload.
func checkCount(n int, lim Limits) error {
	switch {
	case n == 0:
		return alerts.Invalid("alerts", "no alerts")
	case n > lim.maxAlerts():
		return alerts.Invalid("alerts", "%d alerts, over the limit of %d per request", n, lim.maxAlerts())
	}
	return nil
}

// checkLabels drops the labels with an empty value from ls, then checks
// that some are left, within bounds, with valid names.
func checkLabels(field string, ls alerts.Labels) error {
	maps.DeleteFunc(ls, func(_, v string) bool { return v == "" })
	switch {
	case len(ls) == 0:
		return alerts.Invalid(field, "missing: an alert needs at least one label")
	case len(ls) > maxLabels:
		return alerts.Invalid(field, "%d labels, over the limit of %d", len(ls), maxLabels)
	}
	if err := ls.Validate(field); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(ls)) {
		switch {
		case len(name) > maxLabelNameLen:
			return alerts.Invalid(field+"["+strconv.Quote(name)+"]", "name is over the limit of %d bytes", maxLabelNameLen)
		case len(ls[name]) > maxLabelValueLen:
			return alerts.Invalid(field+"["+strconv.Quote(name)+"]", "value is %d bytes, over the limit of %d", len(ls[name]), maxLabelValueLen)
		}
	}
	return nil
}

// checkAnnotations checks an alert's annotations (which may be nil): within
// bounds, and every name one that validName accepts.
func checkAnnotations(field string, as map[string]string, validName func(string) bool) error {
	if len(as) > maxAnnotations {
		return alerts.Invalid(field, "%d annotations, over the limit of %d", len(as), maxAnnotations)
	}
	for _, name := range slices.Sorted(maps.Keys(as)) {
		switch {
		case !validName(name):
			return alerts.Invalid(field+"["+strconv.Quote(name)+"]", "is not a valid annotation name")
		case len(as[name]) > maxAnnotationLen:
			return alerts.Invalid(field+"["+strconv.Quote(name)+"]", "value is %d bytes, over the limit of %d", len(as[name]), maxAnnotationLen)
		}
	}
	return nil
}

// parseTime parses an RFC 3339 time; "" and Alertmanager's zero time are
// the zero time. A non-zero time before 2000 is refused.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	switch {
	case err != nil:
		return time.Time{}, alerts.Invalid(field, "must be an RFC 3339 time such as 2026-11-24T08:01:12Z, got %s", quoteShort(s))
	case t.IsZero():
		return time.Time{}, nil
	case t.Before(earliest):
		return time.Time{}, alerts.Invalid(field, "is before 2000-01-01: check the sender's clock")
	}
	return t, nil
}

// alertField names the i-th alert of a payload.
func alertField(i int) string { return "alerts[" + strconv.Itoa(i) + "]" }

// firstByte returns the first byte of body that is not JSON white space,
// or 0 when there is none.
func firstByte(body []byte) byte {
	body = bytes.TrimLeft(body, " \t\r\n")
	if len(body) == 0 {
		return 0
	}
	return body[0]
}

// jsonError turns an error of json.Unmarshal of body into an
// alerts.ErrInvalid error; malformed JSON is named by byte offset and JSON
// pointer (RFC 6901), with no field. arrayRoot says the payload is the
// prometheus array, whose elements are named "alerts[i]" all the same.
func jsonError(body []byte, err error, arrayRoot bool) error {
	if _, ok := errors.AsType[*json.SemanticError](err); ok {
		// Unmarshal stops at the first value of the wrong type, which
		// may come before malformed JSON: that is the error to report.
		var v jsontext.Value
		if malformed := json.Unmarshal(body, &v); malformed != nil {
			err = malformed
		}
	}
	if syntax, ok := errors.AsType[*jsontext.SyntacticError](err); ok {
		where := ""
		if syntax.JSONPointer != "" {
			where = " (in " + quoteShort(string(syntax.JSONPointer)) + ")"
		}
		return alerts.Invalid("", "malformed JSON at byte %d%s: %v", syntax.ByteOffset, where, syntax.Err)
	}
	if semantic, ok := errors.AsType[*json.SemanticError](err); ok && semantic.GoType != nil {
		return alerts.Invalid(fieldOf(semantic.JSONPointer, arrayRoot), "want %s, got %s", goKindName(semantic.GoType), kindName(semantic.JSONKind))
	}
	return alerts.Invalid("", "malformed JSON: %v", err)
}

// fieldOf names the member of a payload that a JSON pointer points at:
// /alerts/2/labels/bad-name is alerts[2].labels["bad-name"]. With
// arrayRoot the pointer starts at the index: /2/labels is alerts[2].labels.
func fieldOf(p jsontext.Pointer, arrayRoot bool) string {
	tokens := slices.Collect(p.Tokens())
	if arrayRoot {
		tokens = append([]string{"alerts"}, tokens...)
	}
	var b strings.Builder
	for i, t := range tokens {
		switch i {
		case 0:
			b.WriteString(t)
		case 1:
			b.WriteString("[" + t + "]")
		case 2:
			b.WriteString("." + t)
		default:
			b.WriteString("[" + strconv.Quote(t) + "]")
		}
	}
	return b.String()
}

// kindName says what JSON of kind k is, for messages.
func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "something else"
}

// goKindName says which JSON a payload's Go type t is read from.
func goKindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "an array"
	}
	return "an object"
}

// quoteShort quotes s for an error message, cut to maxQuoted bytes.
func quoteShort(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}
