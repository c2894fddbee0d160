package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/testlog"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind, such as
// a store a command did not close or a server run did not stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// buildTocsin builds this command into a temporary directory and returns
// the binary's path. It skips the test when there is no go command.
func buildTocsin(t *testing.T) string {
	t.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build tocsin with: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "tocsin")
	build := exec.CommandContext(t.Context(), gocmd, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// tocsinCmd returns the binary run with args in dir, with an environment
// that holds nothing (so no TOCSIN_* variable of the test's own leaks in).
func tocsinCmd(ctx context.Context, bin, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{}
	return cmd
}

// exitCode runs cmd to its end and returns its exit code, stdout and stderr.
func exitCode(t *testing.T, cmd *exec.Cmd) (int, string, string) {
	t.Helper()
	var stdout, stderr testlog.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit) && exit.Exited():
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("run %s: %v", cmd, err)
	return 0, "", ""
}

// The binary's exit codes: 0 for success (and for a serve stopped by a
// signal), 1 for a failure, 2 for a usage error; the reason is on stderr.
// Not parallel, so that go build runs in this package's directory alone.
func TestMainExitCodes(t *testing.T) {
	bin := buildTocsin(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bad.yaml"), "server:\n  listen: 127.0.0.1:0\n  listn: 127.0.0.1:8080\n")
	writeFile(t, filepath.Join(dir, "good.yaml"), "server:\n  listen: 127.0.0.1:0\nstorage:\n  dsn: ./data/tocsin.db\n")

	cases := []struct {
		name string
		args []string
		code int
		// stdout and stderr are parts of what must be written there.
		stdout, stderr string
	}{
		{name: "config check ok", args: []string{"config", "check", "--config", "good.yaml"}, code: 0, stdout: "configuration ok\n"},
		{name: "config check of a bad file", args: []string{"config", "check", "--config", "bad.yaml"}, code: 1,
			stderr: "tocsin: bad.yaml:3: server.listn: unknown key\n"},
		{name: "missing config file", args: []string{"migrate", "--config", "missing.yaml"}, code: 1, stderr: "missing.yaml"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`},
		{name: "no command", args: nil, code: 2, stderr: "Usage:"},
		{name: "usage error of a sub-command", args: []string{"token", "create", "--config", "good.yaml"}, code: 2, stderr: "--user is required"},
		{name: "help", args: []string{"help"}, code: 0, stdout: "Usage:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := exitCode(t, tocsinCmd(t.Context(), bin, dir, c.args...))
			if code != c.code || !strings.Contains(stdout, c.stdout) || !strings.Contains(stderr, c.stderr) {
				t.Errorf("tocsin %s: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					strings.Join(c.args, " "), code, stdout, stderr, c.code, c.stdout, c.stderr)
			}
		})
	}

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run("serve stopped by "+sig.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "config.yaml"), "server:\n  listen: 127.0.0.1:0\nstorage:\n  dsn: ./data/tocsin.db\n")
			cmd := tocsinCmd(t.Context(), bin, dir, "serve") // the default config.yaml
			var stdout, stderr testlog.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			var waitErr error
			go func() {
				waitErr = cmd.Wait()
				close(exited)
			}()
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})

			addr := testlog.WaitFor(t, &stderr, listeningLine, exited)[1]
			testlog.WaitFor(t, &stderr, tokenLine, exited)
			resp, err := newClient(t).Get("http://" + addr + "/healthz")
			if err != nil {
				t.Fatalf("GET /healthz: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /healthz = %d, want 200", resp.StatusCode)
			}

			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
			case <-time.After(wait):
				t.Fatalf("tocsin serve did not exit within %s of %s; stderr:\n%s", wait, sig, &stderr)
			}
			if waitErr != nil {
				t.Errorf("tocsin serve after %s: %v, want exit 0; stderr:\n%s", sig, waitErr, &stderr)
			}
			if !regexp.MustCompile(`msg="tocsin stopped"`).MatchString(stderr.String()) {
				t.Errorf("no stop line on stderr:\n%s", &stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "data", "tocsin.db")); err != nil {
				t.Errorf("the store named in ./config.yaml: %v", err)
			}
		})
	}
}
