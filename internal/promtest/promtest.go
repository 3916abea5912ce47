// Package promtest runs a real Prometheus server for tests: the Debian
// package's /usr/bin/prometheus (installed by scripts/install-test-deps.sh)
// on a free loopback port, with a generated scrape config and a temporary
// storage directory, killed when the test ends. Tests query it through
// github.com/prometheus/client_golang/api, as the controller does.
//
// A test that needs it skips when the binary is missing, except under
// CI=true, where it fails: CI must not pass by skipping.
package promtest

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/headroom-dev/headroom/internal/syncbuf"
)

// Options configures the server.
type Options struct {
	// Targets are host:port addresses scraped at /metrics, in one job.
	Targets []string
	// Job is the scrape job's name (default "test").
	Job string
	// ScrapeInterval defaults to 1s.
	ScrapeInterval time.Duration
	// Binary overrides the prometheus binary (default: $PROMETHEUS_BIN,
	// then "prometheus" on PATH).
	Binary string
	// StartTimeout bounds the wait for readiness (default 30s).
	StartTimeout time.Duration
}

// Server is a running Prometheus.
type Server struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:39123.
	URL string
	// API is a client of its HTTP API.
	API v1.API
	// Log holds the server's output, for failure messages.
	log *syncbuf.Buffer
	// stop ends the process and waits for it.
	stop func()
}

// Binary returns the prometheus binary's path, or "" when none is found.
func Binary(override string) string {
	for _, c := range []string{override, os.Getenv("PROMETHEUS_BIN"), "prometheus"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

// Start runs a Prometheus server for the test and stops it in t.Cleanup.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin := Binary(o.Binary)
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtest: prometheus binary not found (run scripts/install-test-deps.sh)")
		}
		t.Skip("promtest: prometheus binary not found; run scripts/install-test-deps.sh")
	}
	if o.Job == "" {
		o.Job = "test"
	}
	if o.ScrapeInterval == 0 {
		o.ScrapeInterval = time.Second
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 30 * time.Second
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(Config(o)), 0o644); err != nil {
		t.Fatalf("promtest: writing config: %v", err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--storage.tsdb.retention.time=1h",
		"--log.level=warn",
	)
	cmd.WaitDelay = 5 * time.Second
	logs := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("promtest: starting %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	s := &Server{URL: "http://" + addr, log: logs, stop: stop}
	if err := waitReady(s.URL+"/-/ready", o.StartTimeout, done); err != nil {
		t.Fatalf("promtest: %v\nprometheus output:\n%s", err, logs.String())
	}
	c, err := api.NewClient(api.Config{Address: s.URL})
	if err != nil {
		t.Fatalf("promtest: client: %v", err)
	}
	s.API = v1.NewAPI(c)
	return s
}

// Stop kills the server and waits for it to exit, e.g. to test what a
// client does when Prometheus goes away. Calling it again does nothing.
func (s *Server) Stop() { s.stop() }

// Logs returns what the server printed so far.
func (s *Server) Logs() string { return s.log.String() }

// Config renders the Prometheus config for o.
func Config(o Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\n", promDur(o.ScrapeInterval), promDur(o.ScrapeInterval))
	fmt.Fprintf(&b, "scrape_configs:\n  - job_name: %q\n    scrape_timeout: %s\n    static_configs:\n      - targets: [", o.Job, promDur(o.ScrapeInterval))
	for i, t := range o.Targets {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", t)
	}
	b.WriteString("]\n")
	return b.String()
}

func promDur(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// WaitFor polls query until cond accepts its result or timeout passes, and
// returns the last result.
func (s *Server) WaitFor(t testing.TB, query string, timeout time.Duration, cond func(v float64, ok bool) bool) (float64, bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, ok, err := s.Scalar(context.Background(), query)
		if err != nil {
			t.Fatalf("promtest: query %q: %v", query, err)
		}
		if cond(v, ok) || time.Now().After(deadline) {
			return v, ok
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Scalar runs an instant query expected to give one sample; ok is false
// when it gives none.
func (s *Server) Scalar(ctx context.Context, query string) (float64, bool, error) {
	res, _, _, err := s.API.Query(ctx, query, time.Now())
	if err != nil {
		return 0, false, err
	}
	return scalarOf(res)
}

func scalarOf(v model.Value) (float64, bool, error) {
	switch r := v.(type) {
	case model.Vector:
		switch len(r) {
		case 0:
			return 0, false, nil
		case 1:
			f := float64(r[0].Value)
			return f, !math.IsNaN(f), nil
		}
		return 0, false, fmt.Errorf("want one sample, got %d", len(r))
	case *model.Scalar:
		f := float64(r.Value)
		return f, !math.IsNaN(f), nil
	}
	return 0, false, fmt.Errorf("want a vector or scalar, got %s", v.Type())
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func waitReady(url string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("prometheus exited before it was ready")
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("prometheus not ready after %v", timeout)
}
