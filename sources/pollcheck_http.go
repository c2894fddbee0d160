package sources

import (
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxResponseBody is how much of an http poller's response body is read:
// expect_body matches what was read, and expect_json fails on a body that
// is longer.
const maxResponseBody = 1 << 20 // said "1 MiB" in errors

// maxDrain is how much of a response body left unread is read and thrown
// away, so that its connection can carry the next request; a connection
// with more left to read is closed.
const maxDrain = 64 << 10

// checkHTTP runs an http poller's check, as Checker.Check says. The body
// is read only when an expectation needs it.
func (c *Checker) checkHTTP(rn run, p Poller) CheckResult {
	req, err := newPollRequest(rn, p)
	if err != nil {
		return rn.broken(err.Error())
	}
	var bodyRE *regexp.Regexp
	if p.ExpectBody != "" {
		if bodyRE, err = regexp.Compile(p.ExpectBody); err != nil {
			return rn.broken("expect_body is not a regular expression")
		}
	}
	resp, err := c.clientFor(p).Do(req)
	if err != nil {
		return rn.failed(err, "")
	}
	defer closeBody(resp)
	latency := rn.latency()
	failure := func(msg string) CheckResult {
		return CheckResult{Outcome: OutcomeFailure, Latency: latency, StatusCode: resp.StatusCode, Error: msg}
	}

	expect := p.ExpectStatus
	if len(expect) == 0 {
		expect = DefaultExpectStatus
	}
	if !slices.ContainsFunc(expect, func(r StatusRange) bool { return r.Contains(resp.StatusCode) }) {
		return failure("status " + strconv.Itoa(resp.StatusCode) + ", want " + joinRanges(expect))
	}
	if bodyRE != nil || p.ExpectJSON != nil {
		body, cut, err := readCapped(resp.Body, maxResponseBody)
		if err != nil {
			r := rn.failed(err, " reading the body")
			r.Latency, r.StatusCode = latency, resp.StatusCode
			return r
		}
		if bodyRE != nil && !bodyRE.Match(body) {
			if cut {
				return failure("body does not match expect_body (in its first 1 MiB)")
			}
			return failure("body does not match expect_body")
		}
		if p.ExpectJSON != nil {
			if msg := checkJSON(*p.ExpectJSON, body, cut); msg != "" {
				return failure("expect_json: " + msg)
			}
		}
	}
	if p.MaxLatency > 0 && time.Duration(latency) > time.Duration(p.MaxLatency) {
		return failure("latency above " + time.Duration(p.MaxLatency).String())
	}
	return CheckResult{Outcome: OutcomeSuccess, Latency: latency, StatusCode: resp.StatusCode}
}

// newPollRequest makes an http poller's request: its method (GET when
// unset), URL, body and headers, with a User-Agent the headers may
// override. A Host header sets the request's host.
func newPollRequest(rn run, p Poller) (*http.Request, error) {
	method := p.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if p.Body != "" {
		body = strings.NewReader(p.Body)
	}
	req, err := http.NewRequestWithContext(rn.ctx, method, p.URL, body)
	if err != nil {
		return nil, errors.New("url or method is not valid")
	}
	req.Header.Set("User-Agent", userAgent)
	for name, value := range p.Headers {
		if http.CanonicalHeaderKey(name) == "Host" {
			req.Host = value
			continue
		}
		req.Header.Set(name, value)
	}
	return req, nil
}

// joinRanges writes status ranges as "200-299" or "200, 204, 301-302".
func joinRanges(ranges []StatusRange) string {
	parts := make([]string, len(ranges))
	for i, r := range ranges {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// readCapped reads r up to limit bytes; cut says there was more.
func readCapped(r io.Reader, limit int64) (body []byte, cut bool, err error) {
	body, err = io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(body)) > limit {
		return body[:limit], true, nil
	}
	return body, false, nil
}

// closeBody closes a response's body. When the response said its length
// and it is at most maxDrain, it first reads what is left, so that the
// connection may carry the next request; a body of unknown length may be a
// stream that never ends, and is not waited for.
func closeBody(resp *http.Response) {
	if resp.ContentLength >= 0 && resp.ContentLength <= maxDrain {
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	}
	_ = resp.Body.Close()
}

// checkJSON checks a JSON response body (cut when it was longer than what
// was read) against expectation e, and says what is wrong, or "".
//
// The field at e.Path is compared as text with e.Equals: a string's value,
// the JSON text of a number as the body writes it, "true", "false" or
// "null". An object, an array or a missing field never matches.
func checkJSON(e JSONExpectation, body []byte, cut bool) string {
	if cut {
		return "the body is over 1 MiB: not read whole"
	}
	if firstByte(body) == 0 {
		return "the body is empty, want JSON"
	}
	root, err := readTree(body)
	if err != nil {
		return "the body is not JSON"
	}
	v, found := jsonField(root, e.Path)
	if !found {
		return e.Path + " is missing"
	}
	text, ok := textOf(v)
	switch {
	case v == nil:
		text, ok = "null", true
	case !ok:
		return e.Path + " is " + describe(v) + ", want " + quoteShort(e.Equals)
	}
	if text == e.Equals {
		return ""
	}
	// The value the target sent is not repeated: it may change at every
	// run (which would make the alert's error annotation change too), and
	// it is the target's, for whoever reads the alert.
	return e.Path + " is not " + quoteShort(e.Equals)
}

// jsonField returns the value at a dotted path under v, as lookup does,
// and whether it is there: a null field is found, a missing one is not.
func jsonField(v any, path string) (field any, found bool) {
	for step := range strings.SplitSeq(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			if v, found = x[step]; !found {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(step)
			if err != nil || i < 0 || i >= len(x) || strconv.Itoa(i) != step {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}
