package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestRunExitCodes checks the exit code of bad command lines and of
// --help, none of which reach a server.
func TestRunExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		env    string // TOCSIN_BENCH_TOKEN
		want   int
		stderr string // a part of it
	}{
		{"no mode", nil, "t", 2, "Usage:"},
		{"unknown mode", []string{"flood"}, "t", 2, `unknown mode "flood"`},
		{"not loopback", []string{"ingest", "--url", "http://192.0.2.1:8080"}, "t", 2, "loopback"},
		{"not http", []string{"idle", "--url", "ftp://127.0.0.1/"}, "t", 2, "http or https"},
		{"no token", []string{"ingest", "--url", "http://127.0.0.1:1"}, "", 2, "--token"},
		{"bad flag", []string{"idle", "--connectoins", "5"}, "t", 2, "flag provided but not defined"},
		{"stray argument", []string{"ingest", "now"}, "t", 2, "unexpected arguments"},
		{"help", []string{"ingest", "--help"}, "", 0, "-alerts-per-request"},
		{"mode help", []string{"idle", "-h"}, "", 0, "-connections"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			getenv := func(name string) string {
				if name == "TOCSIN_BENCH_TOKEN" {
					return tc.env
				}
				return ""
			}
			if code := run(t.Context(), tc.args, getenv, &stdout, &stderr); code != tc.want {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr.String())
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

// TestCheckTarget takes loopback http(s) URLs only.
func TestCheckTarget(t *testing.T) {
	for raw, ok := range map[string]bool{
		"http://127.0.0.1:8080":     true,
		"https://127.0.0.1":         true,
		"http://127.3.4.5:80/":      true,
		"http://localhost:8080":     true,
		"http://[::1]:8080":         true,
		"http://10.0.0.1:8080":      false,
		"http://example.com":        false,
		"http://[2001:db8::1]:8080": false,
		"ws://127.0.0.1:8080":       false,
		"127.0.0.1:8080":            false,
		"http://":                   false,
		"http://%zz":                false,
	} {
		err := checkTarget(raw)
		if (err == nil) != ok {
			t.Errorf("checkTarget(%q) = %v, want ok %v", raw, err, ok)
		}
		if err != nil && !errors.Is(err, errUsage) {
			t.Errorf("checkTarget(%q) = %v, not a usage error", raw, err)
		}
	}
}

// TestResultPrint writes a result as a table and as a line of JSON.
func TestResultPrint(t *testing.T) {
	r := &result{mode: "ingest"}
	r.add("alerts_per_s", 31234.5, "alerts/s")
	r.add("latency_p99_ms", 12.345, "ms")
	r.add("responses_202", 20, "requests")
	r.problem("POST /hooks/%s: %s", "am", "401 Unauthorized")

	var table bytes.Buffer
	if err := r.print(&table, false); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(table.String(), "ingest") {
		t.Errorf("table does not begin with the mode:\n%s", table.String())
	}
	for _, want := range []string{"alerts_per_s", "31234 ", "alerts/s", "12.35", "20 ", "PROBLEM", "POST /hooks/am: 401 Unauthorized"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}

	var line bytes.Buffer
	if err := r.print(&line, true); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(line.String(), "\n"); n != 1 {
		t.Errorf("JSON on %d lines, want 1: %q", n, line.String())
	}
	var got struct {
		Mode         string   `json:"mode"`
		AlertsPerS   float64  `json:"alerts_per_s"`
		LatencyP99   float64  `json:"latency_p99_ms"`
		Responses202 float64  `json:"responses_202"`
		Problems     []string `json:"problems"`
	}
	if err := json.Unmarshal(line.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v: %q", err, line.String())
	}
	if got.Mode != "ingest" || got.AlertsPerS != 31234.5 || got.LatencyP99 != 12.345 || got.Responses202 != 20 ||
		len(got.Problems) != 1 || got.Problems[0] != "POST /hooks/am: 401 Unauthorized" {
		t.Errorf("JSON %+v", got)
	}

	var clean bytes.Buffer
	if err := (&result{mode: "idle"}).print(&clean, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(clean.String(), `"problems":[]`) {
		t.Errorf("JSON of a run without problems: %s, want an empty problems list", clean.String())
	}
}
