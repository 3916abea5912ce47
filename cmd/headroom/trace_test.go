package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/internal/promtest"
	"github.com/headroom-dev/headroom/simulations/trace"
)

func TestTraceStats(t *testing.T) {
	code, out, errOut := runSimCLI(t, "trace", "stats", azureConv)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"requests trace", "mean 5.5", "peak 1s", "(none: map with --mix)"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lack %q:\n%s", want, out)
		}
	}
	code, out, _ = runSimCLI(t, "trace", "stats", "-o", "json", "../../simulations/testdata/traces/servegen_language_m-mid_rate.csv")
	if code != 0 || !strings.Contains(out, `"window": "10m0s"`) {
		t.Errorf("json stats: exit %d\n%s", code, out)
	}
	if code, _, errOut := runSimCLI(t, "trace", "stats", "nope.csv"); code == 0 || !strings.Contains(errOut, "nope.csv") {
		t.Errorf("missing file: exit %d %q", code, errOut)
	}
}

// TestTraceRecord records a trace from a real Prometheus (the Debian
// package) scraping a loopback endpoint whose counter grows at 20 req/s.
func TestTraceRecord(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := time.Since(start).Seconds() * 20
		fmt.Fprintf(w, "# TYPE headroom_router_requests_total counter\nheadroom_router_requests_total{class=\"reader-a\"} %g\n", n)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	prom := promtest.Start(t, promtest.Options{Targets: []string{ln.Addr().String()}})
	q := `sum by (class) (rate(headroom_router_requests_total[3s]))`
	if _, ok := prom.WaitFor(t, q, 30*time.Second, func(v float64, ok bool) bool { return ok && v > 0 }); !ok {
		t.Fatalf("no rate from prometheus:\n%s", prom.Logs())
	}
	// The recording starts 3s before end and each step's rate() looks 3s
	// further back: wait until Prometheus holds 8 scrapes (7s at 1s) of
	// the counter, rather than for a fixed wall-clock time.
	if n, _ := prom.WaitFor(t, `count_over_time(headroom_router_requests_total{class="reader-a"}[1m])`, 30*time.Second,
		func(v float64, ok bool) bool { return ok && v >= 8 }); n < 8 {
		t.Fatalf("only %v scrapes of the counter:\n%s", n, prom.Logs())
	}
	end := time.Now()
	out := filepath.Join(t.TempDir(), "rec.csv")
	code, _, errOut := runSimCLI(t, "trace", "record", "--prometheus", prom.URL, "--query", q,
		"--start", end.Add(-3*time.Second).UTC().Format(time.RFC3339Nano), "--end", strconv.FormatInt(end.Unix(), 10),
		"--step", "1s", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	tr, err := trace.ReadFile(out, trace.ReadOptions{})
	if err != nil {
		b, _ := os.ReadFile(out)
		t.Fatalf("reading the recorded trace: %v\n%s", err, b)
	}
	if tr.Window != time.Second || len(tr.Rates) < 2 || tr.Rates[0].Class != "reader-a" {
		t.Fatalf("recorded %+v", tr)
	}
	for _, r := range tr.Rates {
		if r.Rate < 15 || r.Rate > 25 {
			t.Errorf("rate %v at %v, want about 20", r.Rate, r.Start)
		}
	}
	// errors: an unreachable server, a bad query, a bad time
	if code, _, errOut := runSimCLI(t, "trace", "record", "--prometheus", prom.URL, "--query", "sum(", "--start", "0", "--end", "10"); code == 0 || !strings.Contains(errOut, "bad_data") {
		t.Errorf("bad query: exit %d %q", code, errOut)
	}
	if code, _, errOut := runSimCLI(t, "trace", "record", "--prometheus", prom.URL, "--query", q, "--start", "yesterday", "--end", "10"); code == 0 || !strings.Contains(errOut, "--start") {
		t.Errorf("bad start: exit %d %q", code, errOut)
	}
}

// TestTraceTooManyWindows: `trace stats` and `simulate` answer a rate
// trace of 10^16 nanosecond windows with the same error (simulate used to
// panic in makeslice, and stats printed a summary).
func TestTraceTooManyWindows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nano.csv")
	if err := os.WriteFile(path, []byte("window_start_s,rate\n0,1\n0.000000001,1\n10000000,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"trace", "stats", path},
		{"simulate", "--trace", path, "--policy", "../../examples/reference"},
	} {
		code, _, errOut := runSimCLI(t, args...)
		if code == 0 || !strings.Contains(errOut, "trace too large") || !strings.Contains(errOut, "windows of 1ns") {
			t.Errorf("%s: exit %d, stderr %q", args[0], code, errOut)
		}
	}
}
