package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/config"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/storage"
)

// amSecret is the bearer token of the alertmanager source the tests declare.
const amSecret = "test-alertmanager-secret-0123"

// withAlertmanagerSource is cfg with a source "prod-am" of kind
// alertmanager declared, as an operator would declare it.
func withAlertmanagerSource(cfg config.Config) config.Config {
	cfg.Sources = []config.Source{{Name: "prod-am", Kind: "alertmanager", Auth: "bearer", Secret: amSecret}}
	return cfg
}

// waitForAlerts polls the store until it holds want alerts, and returns them.
func waitForAlerts(t *testing.T, store *storage.DB, want int) []alerts.Alert {
	t.Helper()
	deadline := time.Now().Add(2 * wait)
	for {
		list, _, err := store.Alerts(t.Context(), storage.AlertFilter{}, storage.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) >= want || time.Now().After(deadline) {
			return list
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A source declared in config.yaml takes an Alertmanager webhook at once,
// through the whole app: 202, and the alert is stored.
func TestWebhookThroughApp(t *testing.T) {
	target := testdb.SQLite(t)
	r := start(t, withAlertmanagerSource(testConfig(target)))
	body := `{"version": "4", "status": "firing", "alerts": [{"status": "firing",
		"labels": {"alertname": "HighLatency", "service": "checkout", "severity": "page", "team": "payments", "instance": "checkout-7f9c:8080"},
		"startsAt": "2026-11-24T08:01:12.345Z", "endsAt": "0001-01-01T00:00:00Z"}]}`
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, r.url+"/hooks/prod-am", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+amSecret)
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d, want 202", resp.StatusCode)
	}
	// 202 means committed: the store holds it without waiting.
	list, _, err := openStore(t, target).Alerts(t.Context(), storage.AlertFilter{}, storage.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Fingerprint.String() != "a9ce9ad06e7063dc" {
		t.Fatalf("stored alerts %+v, want the one posted, fingerprint a9ce9ad06e7063dc", list)
	}
}

// alertmanagerBinary returns the path of an installed Alertmanager (Debian's
// package prometheus-alertmanager installs one). Without one it skips the
// test, or fails it when TOCSIN_TEST_REQUIRE_ALERTMANAGER=1, as CI sets.
func alertmanagerBinary(t *testing.T) string {
	for _, name := range []string{"alertmanager", "prometheus-alertmanager"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const msg = "no Alertmanager installed (apt-get install prometheus-alertmanager)"
	if os.Getenv("TOCSIN_TEST_REQUIRE_ALERTMANAGER") == "1" {
		t.Fatal(msg + " but TOCSIN_TEST_REQUIRE_ALERTMANAGER=1")
	}
	t.Skip(msg + ": the real-Alertmanager test is skipped")
	return ""
}

// freePort returns a loopback address with a port nobody listens on now.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// A real Alertmanager, its webhook receiver pointed at /hooks/prod-am with
// a bearer token, delivers its alerts to tocsin: each shows up once, with
// the fingerprint Alertmanager itself gives it, and is resolved when
// Alertmanager says so.
func TestRealAlertmanager(t *testing.T) {
	binary := alertmanagerBinary(t)
	target := testdb.SQLite(t)
	r := start(t, withAlertmanagerSource(testConfig(target)))
	store := openStore(t, target)

	dir := t.TempDir()
	amAddr := freePort(t)
	amConfig := fmt.Sprintf(`route: {receiver: tocsin, group_by: [alertname], group_wait: 100ms, group_interval: 500ms, repeat_interval: 1h}
receivers:
  - name: tocsin
    webhook_configs:
      - url: %s/hooks/prod-am
        send_resolved: true
        http_config: {authorization: {credentials: %s}}
`, r.url, amSecret)
	if err := os.WriteFile(filepath.Join(dir, "am.yml"), []byte(amConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var amLog bytes.Buffer
	am := exec.CommandContext(ctx, binary, "--config.file="+filepath.Join(dir, "am.yml"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=", "--storage.path="+filepath.Join(dir, "data"))
	am.Stdout, am.Stderr = &amLog, &amLog
	if err := am.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		am.Wait()
		if t.Failed() {
			t.Logf("alertmanager's log:\n%s", amLog.String())
		}
	}()

	client := newClient(t)
	now := time.Now().UTC()
	post := func(endsAt time.Time) {
		t.Helper()
		ends := ""
		if !endsAt.IsZero() {
			ends = fmt.Sprintf(`, "endsAt": %q`, endsAt.Format(time.RFC3339))
		}
		body := fmt.Sprintf(`[{"labels": {"alertname": "DiskFull", "host": "db-3"}, "startsAt": %q%s},
			{"labels": {"alertname": "DiskFull", "host": "db-4"}, "startsAt": %q}]`,
			now.Add(-time.Minute).Format(time.RFC3339), ends, now.Add(-time.Minute).Format(time.RFC3339))
		deadline := time.Now().Add(wait)
		for { // until Alertmanager listens
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+amAddr+"/api/v2/alerts", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
				t.Fatalf("Alertmanager answered %d", resp.StatusCode)
			}
			if time.Now().After(deadline) {
				t.Fatalf("Alertmanager did not listen: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	post(time.Time{})
	fired := waitForAlerts(t, store, 2)
	want := map[string]bool{
		alerts.Labels{"alertname": "DiskFull", "host": "db-3"}.Fingerprint().String(): true,
		alerts.Labels{"alertname": "DiskFull", "host": "db-4"}.Fingerprint().String(): true,
	}
	if len(fired) != 2 || !want[fired[0].Fingerprint.String()] || !want[fired[1].Fingerprint.String()] {
		t.Fatalf("tocsin holds %+v, want the two alerts Alertmanager sent", fired)
	}

	post(now) // db-3 ends
	deadline := time.Now().Add(2 * wait)
	for {
		list, _, err := store.Alerts(t.Context(), storage.AlertFilter{States: []alerts.State{alerts.StateResolved}}, storage.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && list[0].Labels["host"] == "db-3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("resolved alerts %+v, want db-3's", list)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := strings.Count(r.log.String(), "path=/hooks/prod-am status=202"); got < 2 {
		t.Errorf("%d webhooks answered 202, want 2 or more; log:\n%s", got, r.log)
	}
	if strings.Contains(r.log.String(), "path=/hooks/prod-am status=4") {
		t.Errorf("a webhook was refused; log:\n%s", r.log)
	}
}
