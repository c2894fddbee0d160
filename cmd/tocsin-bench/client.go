package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// apiClient calls tocsin's REST API as an admin, to set up what a run
// needs, over loopback connections of its own.
type apiClient struct {
	base      string
	token     string
	http      *http.Client
	transport *http.Transport
}

// newAPIClient returns a client of the API at c.url with c.token; close
// ends its idle connections.
func newAPIClient(c common) *apiClient {
	t := loopbackTransport(8)
	return &apiClient{base: c.url, token: c.token, http: loopbackClient(t, 30*time.Second), transport: t}
}

// close closes the client's idle connections.
func (a *apiClient) close() { a.transport.CloseIdleConnections() }

// do sends a JSON request and decodes a 2xx answer into out (when not
// nil); any other answer is an error that quotes the body.
func (a *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// createSource creates an Alertmanager source with a bearer secret that
// tocsin makes, and returns the secret.
func (a *apiClient) createSource(ctx context.Context, name string) (secret string, err error) {
	var out struct {
		Secret string `json:"secret"`
	}
	err = a.do(ctx, http.MethodPost, "/api/v1/sources", map[string]string{"name": name, "kind": "alertmanager", "auth": "bearer"}, &out)
	return out.Secret, err
}

// createUser creates a responder and returns its ID.
func (a *apiClient) createUser(ctx context.Context, name string) (int64, error) {
	var out struct {
		ID int64 `json:"id"`
	}
	err := a.do(ctx, http.MethodPost, "/api/v1/users", map[string]string{"name": name, "role": "responder"}, &out)
	return out.ID, err
}

// createToken issues a token for a user and returns it.
func (a *apiClient) createToken(ctx context.Context, userID int64) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	err := a.do(ctx, http.MethodPost, "/api/v1/tokens", map[string]any{"user_id": userID, "name": "tocsin-bench"}, &out)
	return out.Token, err
}

// createRoute creates a route of matchers to users.
func (a *apiClient) createRoute(ctx context.Context, name string, matchers []string, users []int64) error {
	return a.do(ctx, http.MethodPost, "/api/v1/routes", map[string]any{"name": name, "matchers": matchers, "users": users}, nil)
}

// metrics reads the server's /metrics and returns the value of each
// named gauge or counter that has no labels (a missing one is 0).
func (a *apiClient) metrics(ctx context.Context, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	values := make(map[string]float64, len(names))
	for _, name := range names {
		f, ok := families[name]
		if !ok || len(f.GetMetric()) == 0 {
			continue
		}
		m := f.GetMetric()[0]
		switch {
		case m.GetGauge() != nil:
			values[name] = m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			values[name] = m.GetCounter().GetValue()
		case m.GetUntyped() != nil:
			values[name] = m.GetUntyped().GetValue()
		}
	}
	return values, nil
}

// runID is a short name unique to this run, for the objects it creates.
func runID() string {
	return "bench-" + strconv.FormatInt(time.Now().UnixNano()%1e10, 36)
}
