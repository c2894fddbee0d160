package sources

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tocsinhq/tocsin/alerts"
)

// MaxPrometheusSeries is the most series a prometheus poller's query may
// return: an answer with more is an OutcomeError, not that many alerts.
const MaxPrometheusSeries = 1000

// maxPrometheusAnswer bounds the answer of a prometheus poller's query that
// is read; a longer one is an OutcomeError.
const maxPrometheusAnswer = 8 << 20 // said "8 MiB" in errors

// maxQueryURL is the longest URL a query is sent in, with GET; a query that
// would make a longer one is POSTed as a form.
const maxQueryURL = 2048

// notAnswer begins the errors about an answer that is not a query result.
const notAnswer = "the answer is not a Prometheus query result"

// checkPrometheus runs a prometheus poller's check, as Checker.Check says.
func (c *Checker) checkPrometheus(rn run, p Poller) CheckResult {
	req, err := newQueryRequest(rn, p)
	if err != nil {
		return rn.broken(err.Error())
	}
	resp, err := c.client.Do(req)
	if err != nil {
		r := rn.failed(err, "")
		r.Outcome = OutcomeError
		return r
	}
	defer closeBody(resp)
	body, cut, err := readCapped(resp.Body, maxPrometheusAnswer)
	if err != nil {
		r := rn.failed(err, " reading the answer")
		r.Outcome, r.StatusCode = OutcomeError, resp.StatusCode
		return r
	}
	r := CheckResult{Outcome: OutcomeError, Latency: rn.latency(), StatusCode: resp.StatusCode}
	if cut {
		r.Error = "the answer is over 8 MiB"
		return r
	}
	series, err := parsePrometheusAnswer(body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Prometheus answers a query it could not run with a 4xx or 5xx
		// status and says why in the body; a proxy in front may not.
		if _, ok := errors.AsType[*queryError](err); !ok {
			err = errors.New("status " + strconv.Itoa(resp.StatusCode) + ", want 200-299")
		}
	}
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Outcome = OutcomeSuccess
	if len(series) > 0 {
		r.Outcome, r.Series = OutcomeFailure, series
	}
	return r
}

// newQueryRequest makes the request of a prometheus poller's query: a GET
// of {url}/api/v1/query?query=..., or a POST of the query as a form when the
// URL would be longer than maxQueryURL.
func newQueryRequest(rn run, p Poller) (*http.Request, error) {
	base, err := url.Parse(p.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, errors.New("url is not an http or https URL")
	}
	endpoint := base.JoinPath("api", "v1", "query")
	params := endpoint.Query()
	params.Set("query", p.Query)
	get := *endpoint
	get.RawQuery = params.Encode()

	var req *http.Request
	if u := get.String(); len(u) <= maxQueryURL {
		req, err = http.NewRequestWithContext(rn.ctx, http.MethodGet, u, nil)
	} else {
		form := url.Values{"query": {p.Query}}.Encode()
		req, err = http.NewRequestWithContext(rn.ctx, http.MethodPost, endpoint.String(), strings.NewReader(form))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return nil, errors.New("url is not valid")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

// queryError is an answer of status "error": Prometheus could not run the
// query.
type queryError struct {
	errorType, message string
}

// Error says "prometheus: bad_data: parse error: ...", on one line and
// cut to maxErrorText bytes.
func (e *queryError) Error() string {
	msg := e.errorType + ": " + e.message
	switch {
	case e.errorType == "" && e.message == "":
		msg = "the query failed, and the answer does not say why"
	case e.errorType == "":
		msg = e.message
	}
	return shorten("prometheus: "+strings.Join(strings.Fields(msg), " "), maxErrorText)
}

// promSample is one series of an instant vector: its labels, and its value
// as a [time, "value"] pair, or a [time, {...}] pair for a native
// histogram.
type promSample struct {
	Metric    *map[string]*string `json:"metric"`
	Value     []jsontext.Value    `json:"value"`
	Histogram []jsontext.Value    `json:"histogram"`
}

// parsePrometheusAnswer reads the answer of an instant query to the
// Prometheus HTTP API:
//
//	{"status":"success","data":{"resultType":"vector","result":[
//	  {"metric":{"job":"api"},"value":[1700000000.5,"1"]}, ...]}}
//
// and returns the label sets of its series, in its order; labels with an
// empty value are left out, as Prometheus means them absent. Members it
// does not name (warnings, infos, stats) are ignored.
//
// It refuses anything else: JSON that is malformed (invalid UTF-8 and
// duplicate member names included), or not of that shape; a result that is
// not a vector; more than MaxPrometheusSeries series; a series without its
// metric or its value, or whose labels break the rules of an alert's
// labels. An answer of status "error" gives a *queryError, with its
// errorType and error.
func parsePrometheusAnswer(body []byte) ([]alerts.Labels, error) {
	var answer struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      *struct {
			ResultType string         `json:"resultType"`
			Result     jsontext.Value `json:"result"`
		} `json:"data"`
	}
	if firstByte(body) != '{' {
		return nil, errors.New(notAnswer + ": want a JSON object")
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, answerError(body, "", err)
	}
	switch answer.Status {
	case "success":
	case "error":
		return nil, &queryError{errorType: answer.ErrorType, message: answer.Error}
	default:
		return nil, fmt.Errorf(`%s: status %s, want "success" or "error"`, notAnswer, quoteShort(answer.Status))
	}
	data := answer.Data
	switch {
	case data == nil:
		return nil, errors.New(notAnswer + ": no data")
	case data.ResultType == "scalar" || data.ResultType == "matrix" || data.ResultType == "string":
		return nil, fmt.Errorf("the query returns a %s, want an instant vector (such as up == 0)", data.ResultType)
	case data.ResultType != "vector":
		return nil, fmt.Errorf(`%s: resultType %s, want "vector"`, notAnswer, quoteShort(data.ResultType))
	case data.Result.Kind() != '[':
		return nil, malformed("/data/result", "not an array")
	}
	var list []jsontext.Value
	if err := json.Unmarshal(data.Result, &list); err != nil {
		return nil, answerError(data.Result, "/data/result", err)
	}
	if len(list) > MaxPrometheusSeries {
		return nil, fmt.Errorf("the query returned more than %d series", MaxPrometheusSeries)
	}
	series := make([]alerts.Labels, len(list))
	for i, raw := range list {
		ls, err := readSample("/data/result/"+strconv.Itoa(i), raw)
		if err != nil {
			return nil, err
		}
		series[i] = ls
	}
	return series, nil
}

// readSample reads series raw, at JSON pointer where in the answer, and
// returns its labels.
func readSample(where string, raw jsontext.Value) (alerts.Labels, error) {
	var s promSample
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, answerError(raw, where, err)
	}
	if s.Metric == nil {
		return nil, malformed(where, "no metric")
	}
	if err := checkSampleValue(s); err != nil {
		return nil, malformed(where, "%v", err)
	}
	ls := make(alerts.Labels, len(*s.Metric))
	for _, name := range slices.Sorted(maps.Keys(*s.Metric)) {
		value := (*s.Metric)[name]
		switch {
		case value == nil:
			return nil, malformed(where+"/metric", "label %s is null", quoteShort(name))
		case len(name) > maxLabelNameLen || len(*value) > maxLabelValueLen:
			return nil, malformed(where+"/metric", "label %s is over the limit of %d bytes for a name and %d for a value",
				quoteShort(name), maxLabelNameLen, maxLabelValueLen)
		case *value != "":
			ls[name] = *value
		}
	}
	if len(ls) > maxLabels {
		return nil, malformed(where+"/metric", "%d labels, over the limit of %d", len(ls), maxLabels)
	}
	for _, name := range slices.Sorted(maps.Keys(ls)) {
		if !alerts.ValidLabelName(name) {
			return nil, malformed(where+"/metric", "%s is not a valid label name", quoteShort(name))
		}
	}
	return ls, nil
}

// malformed returns the error of an answer that is not a query result
// because of what is at JSON pointer where.
func malformed(where, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %s", notAnswer, where, fmt.Sprintf(format, args...))
}

// checkSampleValue checks that a series has a value or a histogram, but
// not both, written as Prometheus writes them.
func checkSampleValue(s promSample) error {
	switch {
	case (s.Value == nil) == (s.Histogram == nil):
		return errors.New("want one of value and histogram")
	case s.Value != nil:
		var text string
		if len(s.Value) != 2 || s.Value[0].Kind() != '0' || s.Value[1].Kind() != '"' || json.Unmarshal(s.Value[1], &text) != nil {
			return errors.New(`value must be [time, "number"]`)
		}
		if _, err := strconv.ParseFloat(text, 64); err != nil {
			return errors.New(`value must be [time, "number"]`)
		}
	default:
		if len(s.Histogram) != 2 || s.Histogram[0].Kind() != '0' || s.Histogram[1].Kind() != '{' {
			return errors.New("histogram must be [time, {...}]")
		}
	}
	return nil
}

// answerError turns an error of json.Unmarshal of data, found at JSON
// pointer where in the answer, into an error that says what is wrong in
// words that stay the same for the same answer.
func answerError(data []byte, where string, err error) error {
	if _, ok := errors.AsType[*json.SemanticError](err); ok {
		// Unmarshal stops at the first value of the wrong type, which
		// may come before malformed JSON: that is the error to report.
		var v jsontext.Value
		if malformed := json.Unmarshal(data, &v); malformed != nil {
			err = malformed
		}
	}
	if syntax, ok := errors.AsType[*jsontext.SyntacticError](err); ok {
		return fmt.Errorf("%s: malformed JSON at byte %d: %v", notAnswer, syntax.ByteOffset, syntax.Err)
	}
	if semantic, ok := errors.AsType[*json.SemanticError](err); ok && semantic.GoType != nil {
		t := semantic.GoType
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		at := shorten(where+string(semantic.JSONPointer), maxQuoted)
		if at == "" {
			at = "the top"
		}
		return fmt.Errorf("%s: want %s at %s, got %s", notAnswer, goKindName(t), at, kindName(semantic.JSONKind))
	}
	return fmt.Errorf("%s: %v", notAnswer, err)
}
