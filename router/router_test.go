package router

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/headroom-dev/headroom/router/emulator"
)

const (
	keyAcme   = "acme-secret-key"
	keyGlobex = "globex-secret-key"
)

// backend is a real HTTP server on loopback running the reader emulator.
func backend(t *testing.T, o emulator.Options) string {
	t.Helper()
	if o.ServiceMean == 0 {
		o.ServiceMean, o.ServiceP95 = time.Millisecond, time.Millisecond
	}
	r, err := emulator.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// handlerBackend serves h on loopback.
func handlerBackend(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

type testRouter struct {
	*Router
	URL string
	reg *prometheus.Registry
	obs *observer.ObservedLogs
}

// startRouter serves cfg (YAML, with the two test tenants appended) on
// loopback (serveRouter).
func startRouter(t *testing.T, cfg string, mod ...func(*Options)) *testRouter {
	t.Helper()
	r, _ := serveRouter(t, cfg, mod...)
	return r
}

type result struct {
	code   int
	header http.Header
	body   string
}

func do(t *testing.T, method, url, key string, hdr map[string]string, body string) result {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return result{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

func TestRoutesByPathHeaderAndBody(t *testing.T) {
	a := backend(t, emulator.Options{Class: "a"})
	b := backend(t, emulator.Options{Class: "b"})
	r := startRouter(t, fmt.Sprintf(`
classify:
  class: [{from: header, name: X-Model-Class}, {from: path, segment: 2}, {from: body, field: model}]
models:
  - {class: a, versions: [{name: v1, endpoints: [%q]}]}
  - {class: b, versions: [{name: v1, endpoints: [%q]}]}
`, a, b))
	for _, tc := range []struct {
		name, path, body string
		hdr              map[string]string
		want             string
	}{
		{"path", "/v1/models/a/infer", "{}", nil, "a"},
		{"header", "/infer", "{}", map[string]string{"X-Model-Class": "b"}, "b"},
		{"body", "/infer", `{"model":"b","text":"hallo"}`, nil, "b"},
	} {
		res := do(t, "POST", r.URL+tc.path, keyAcme, tc.hdr, tc.body)
		if res.code != 200 {
			t.Fatalf("%s: %d %s", tc.name, res.code, res.body)
		}
		var ans struct{ Model string }
		if err := json.Unmarshal([]byte(res.body), &ans); err != nil || ans.Model != tc.want {
			t.Errorf("%s: answered by %q (%v), want %q", tc.name, ans.Model, err, tc.want)
		}
	}
	got := testutil.ToFloat64(r.metrics.Requests.WithLabelValues("b", "acme", "200"))
	if got != 2 {
		t.Errorf("requests_total{class=b,tenant=acme,code=200} = %v, want 2", got)
	}
}

func TestForwardedHeaders(t *testing.T) {
	var seen http.Header
	var mu sync.Mutex
	be := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		seen = req.Header.Clone()
		mu.Unlock()
		w.Header().Set("Connection", "X-Backend-Hop")
		w.Header().Set("X-Backend-Hop", "1")
		_, _ = io.WriteString(w, "{}")
	})
	r := startRouter(t, fmt.Sprintf(`models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]`, be))
	res := do(t, "POST", r.URL+"/", keyAcme, map[string]string{
		"X-Model-Class":     "a",
		"X-Headroom-Tenant": "globex", // a spoof: the router sets its own
		"Connection":        "X-Drop-Me",
		"X-Drop-Me":         "1",
		"X-Forwarded-For":   "203.0.113.9",
	}, "{}")
	if res.code != 200 {
		t.Fatalf("%d %s", res.code, res.body)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := seen.Get("X-Headroom-Tenant"); got != "acme" {
		t.Errorf("backend saw tenant %q, want acme", got)
	}
	if got := seen.Get("Authorization"); got != "" {
		t.Errorf("the API key reached the backend: %q", got)
	}
	if got := seen.Get("X-Drop-Me"); got != "" {
		t.Errorf("a header named in Connection was forwarded")
	}
	if got := seen.Get("X-Forwarded-For"); got != "203.0.113.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", got)
	}
	if seen.Get("X-Headroom-Class") != "a" || seen.Get("X-Headroom-Version") != "v1" {
		t.Errorf("class/version headers %q %q", seen.Get("X-Headroom-Class"), seen.Get("X-Headroom-Version"))
	}
	if res.header.Get("X-Backend-Hop") != "" {
		t.Errorf("a response header named in Connection was returned")
	}
}

func TestBadInput(t *testing.T) {
	a := backend(t, emulator.Options{Class: "a"})
	r := startRouter(t, fmt.Sprintf(`
server: {maxBodyBytes: 1024}
classify:
  class: [{from: header, name: X-Model-Class}, {from: body, field: model}]
  version: [{from: header, name: X-Model-Version}]
models:
  - {class: a, versions: [{name: v1, endpoints: [%q]}]}
  - {class: b, versions: [{name: v1, endpoints: [%q]}]}
`, a, a))
	big := `{"model":"a","x":"` + strings.Repeat("x", 2000) + `"}`
	tests := []struct {
		name     string
		key      string
		hdr      map[string]string
		body     string
		want     int
		wantCode string
	}{
		{"no key", "", map[string]string{"X-Model-Class": "a"}, "{}", 401, "unauthenticated"},
		{"wrong key", "nope", map[string]string{"X-Model-Class": "a"}, "{}", 401, "unauthenticated"},
		{"class not allowed", keyGlobex, map[string]string{"X-Model-Class": "b"}, "{}", 403, "forbidden"},
		{"unknown model", keyAcme, map[string]string{"X-Model-Class": "zzz"}, "{}", 404, "unknown_model"},
		{"unknown version", keyAcme, map[string]string{"X-Model-Class": "a", "X-Model-Version": "v9"}, "{}", 404, "unknown_version"},
		{"malformed json", keyAcme, nil, `{"model":"a"`, 400, "malformed_json"},
		{"no model", keyAcme, nil, `{"text":"hi"}`, 400, "no_model"},
		{"oversized body", keyAcme, nil, big, 413, "body_too_large"},
		{"huge model name", keyAcme, map[string]string{"X-Model-Class": strings.Repeat("a", 4000)}, "{}", 404, "unknown_model"},
		{"control chars in class", keyAcme, map[string]string{"X-Model-Class": "a\tb"}, "{}", 404, "unknown_model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, "POST", r.URL+"/infer", tc.key, tc.hdr, tc.body)
			if res.code != tc.want {
				t.Fatalf("status %d, want %d (%s)", res.code, tc.want, res.body)
			}
			var eb errorBody
			if err := json.Unmarshal([]byte(res.body), &eb); err != nil || eb.Error.Code != tc.wantCode {
				t.Fatalf("body %q: want JSON error code %q", res.body, tc.wantCode)
			}
			if res.header.Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", res.header.Get("Content-Type"))
			}
			if strings.Contains(res.body, "aaaa") {
				t.Errorf("error echoes request content: %s", res.body)
			}
		})
	}
	// A chunked oversized body (no Content-Length) is cut off too.
	req, _ := http.NewRequest("POST", r.URL+"/infer", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+keyAcme)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked oversized body: %d, want 413", resp.StatusCode)
	}
	// Two Authorization headers are refused rather than guessed at.
	req, _ = http.NewRequest("POST", r.URL+"/infer", strings.NewReader("{}"))
	req.Header.Add("Authorization", "Bearer "+keyAcme)
	req.Header.Add("Authorization", "Bearer "+keyGlobex)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("two keys: %d, want 400", resp.StatusCode)
	}
	// Errors are counted with bounded labels, never the raw class.
	if n := testutil.CollectAndCount(r.metrics.Requests); n > 10 {
		t.Errorf("%d request series: labels are not bounded", n)
	}
	if got := testutil.ToFloat64(r.metrics.Requests.WithLabelValues(LabelNone, "acme", "404")); got != 3 {
		t.Errorf("404s for unknown classes = %v under class=%q, want 3", got, LabelNone)
	}
}

// TestHeaderSmuggling: conflicting framing headers are refused by the
// server before the router sees them.
func TestHeaderSmuggling(t *testing.T) {
	a := backend(t, emulator.Options{Class: "a"})
	r := startRouter(t, fmt.Sprintf(`models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]`, a))
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = fmt.Fprintf(conn, "POST /infer HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 && resp.StatusCode != 501 {
		t.Fatalf("smuggling attempt answered %d", resp.StatusCode)
	}
}

func TestCanarySplit(t *testing.T) {
	v1 := backend(t, emulator.Options{Class: "a", Version: "v1"})
	v2 := backend(t, emulator.Options{Class: "a", Version: "v2"})
	r := startRouter(t, fmt.Sprintf(`
models:
  - class: a
    versions:
      - {name: v1, weight: 90, endpoints: [%q]}
      - {name: v2, weight: 10, endpoints: [%q]}
`, v1, v2))
	counts := map[string]int{}
	const n = 400
	for range n {
		res := do(t, "POST", r.URL+"/", keyAcme, map[string]string{"X-Model-Class": "a"}, "{}")
		var ans struct{ Version string }
		_ = json.Unmarshal([]byte(res.body), &ans)
		counts[ans.Version]++
	}
	if f := float64(counts["v2"]) / n; f < 0.06 || f > 0.14 {
		t.Fatalf("canary share %.3f (%v), want 0.10 +- 0.04", f, counts)
	}
	// Naming a version bypasses the split.
	res := do(t, "POST", r.URL+"/", keyAcme, map[string]string{"X-Model-Class": "a", "X-Model-Version": "v2"}, "{}")
	if !strings.Contains(res.body, `"version":"v2"`) {
		t.Fatalf("pinned version answered %s", res.body)
	}
}

func TestRetriesAndEjection(t *testing.T) {
	var badHits atomic.Int64
	bad := handlerBackend(t, func(w http.ResponseWriter, _ *http.Request) {
		badHits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	good := backend(t, emulator.Options{Class: "a"})
	// A closed port: connection refused.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	r := startRouter(t, fmt.Sprintf(`
retry: {maxAttempts: 3, budgetRatio: 0.1, minPerSecond: 5}
outlier: {consecutiveFailures: 3, baseEjection: 30s, maxEjectedPercent: 67}
models: [{class: a, versions: [{name: v1, endpoints: [%q, %q, %q]}]}]
`, bad, good, dead))
	const n = 200
	ok := 0
	for range n {
		if do(t, "POST", r.URL+"/", keyAcme, map[string]string{"X-Model-Class": "a"}, "{}").code == 200 {
			ok++
		}
	}
	retries := testutil.ToFloat64(r.metrics.Retries.WithLabelValues("a"))
	ejections := testutil.ToFloat64(r.metrics.Ejections.WithLabelValues("a", "v1"))
	if ok < n-2 {
		t.Errorf("%d of %d succeeded; retries and ejection should hide the two bad endpoints", ok, n)
	}
	if ejections != 2 {
		t.Errorf("%v ejections, want 2 (the 503 endpoint and the dead one)", ejections)
	}
	// Budget: 10% of requests plus the initial balance (5 + 1).
	if retries > 0.1*n+6 {
		t.Errorf("%v retries for %d requests: over the budget", retries, n)
	}
	if badHits.Load() > 5 {
		t.Errorf("the 503 endpoint got %d requests after ejection", badHits.Load())
	}
}

func TestRetryBudgetCapsRetryStorm(t *testing.T) {
	bad := handlerBackend(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	r := startRouter(t, fmt.Sprintf(`
retry: {maxAttempts: 5, budgetRatio: 0.1, minPerSecond: 1}
outlier: {consecutiveFailures: 1000}
models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]
`, bad))
	const n = 300
	for range n {
		if res := do(t, "POST", r.URL+"/", keyAcme, map[string]string{"X-Model-Class": "a"}, "{}"); res.code != 502 {
			t.Fatalf("got %d, want the backend's 502 once retries are spent", res.code)
		}
	}
	retries := testutil.ToFloat64(r.metrics.Retries.WithLabelValues("a"))
	// 10% of 300 + 1/s over a few seconds + the initial balance of 2.
	if retries > 0.1*n+10 {
		t.Fatalf("%v retries for %d failing requests: the budget should hold them near 10%%", retries, n)
	}
}

func TestShedding(t *testing.T) {
	slow := backend(t, emulator.Options{Class: "a", Concurrency: 10, ServiceMean: 300 * time.Millisecond, ServiceP95: 300 * time.Millisecond})
	r := startRouter(t, fmt.Sprintf(`
models: [{class: a, maxInFlight: 1, maxQueue: 1, queueTimeout: 5s, versions: [{name: v1, endpoints: [%q]}]}]
`, slow))
	var wg sync.WaitGroup
	res := make([]result, 5)
	for i := range res {
		wg.Go(func() { res[i] = do(t, "POST", r.URL+"/", keyAcme, map[string]string{"X-Model-Class": "a"}, "{}") })
	}
	wg.Wait()
	shed := 0
	for _, x := range res {
		if x.code == 503 {
			shed++
			if x.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		}
	}
	if shed != 3 {
		t.Fatalf("%d shed of 5 with one slot and one queue place; want 3", shed)
	}
}

func TestRateLimitAndTenantConcurrency(t *testing.T) {
	a := backend(t, emulator.Options{Class: "a"})
	c, err := Parse([]byte(fmt.Sprintf(`
models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]
tenants: [{name: acme, keySHA256: [%s], rateLimit: 1, burst: 3}]
`, a, HashKey(keyAcme))))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	r, err := New(Options{Config: c, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	url := serveURL(t, r)
	codes := []int{}
	for range 4 {
		codes = append(codes, do(t, "POST", url+"/", keyAcme, map[string]string{"X-Model-Class": "a"}, "{}").code)
	}
	if fmt.Sprint(codes) != "[200 200 200 429]" {
		t.Fatalf("codes %v, want three within the burst then 429", codes)
	}
	res := do(t, "POST", url+"/", keyAcme, map[string]string{"X-Model-Class": "a"}, "{}")
	if res.header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q, want 1", res.header.Get("Retry-After"))
	}
}

// TestFairnessUnderOverload: one tenant floods a class with 60 concurrent
// requests; another sends a few. The quiet tenant's requests are served,
// and early, while the flood is shed. The backend holds every request
// until the test lets one go, so each step is a state, not a moment:
// 4 of the flood forwarded, 16 queued, 40 refused; then each quiet
// arrival pushes out the flood's newest; then the slots free one at a
// time and the backend sees the fair queue's order.
func TestFairnessUnderOverload(t *testing.T) {
	arrived := make(chan string, 64) // tenant of each request the backend gets
	proceed, stop := make(chan struct{}), make(chan struct{})
	be := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		arrived <- req.Header.Get("X-Headroom-Tenant")
		select {
		case <-proceed:
		case <-stop:
		case <-req.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "{}")
	})
	r := startRouter(t, fmt.Sprintf(`
models: [{class: a, maxInFlight: 4, maxQueue: 16, queueTimeout: 1m, timeout: 2m, versions: [{name: v1, endpoints: [%q]}]}]
`, be), func(o *Options) {
		o.Config.Tenants[1].Classes = nil
	})
	t.Cleanup(func() { close(stop) }) // after the servers' cleanups are registered: runs first
	q := r.classes["a"].queue
	shed := r.metrics.Shed.WithLabelValues("a", "queue_full")
	waiting := func(tenant string) int {
		q.mu.Lock()
		defer q.mu.Unlock()
		if tq := q.tenants[tenant]; tq != nil {
			return len(tq.waiting)
		}
		return 0
	}
	var wg sync.WaitGroup
	var spikyOK, spikyShed atomic.Int64
	for range 60 {
		wg.Go(func() {
			res := do(t, "POST", r.URL+"/", keyAcme, map[string]string{"X-Model-Class": "a"}, "{}")
			switch res.code {
			case 200:
				spikyOK.Add(1)
			case 503:
				spikyShed.Add(1)
			}
		})
	}
	for range 4 {
		if who := recv(t, arrived, "a flood request at the backend"); who != "acme" {
			t.Fatalf("backend got %q", who)
		}
	}
	waitFor(t, func() bool { return waiting("acme") == 16 && testutil.ToFloat64(shed) == 40 })

	quiet := make([]result, 4)
	var qwg sync.WaitGroup
	for i := range quiet {
		qwg.Go(func() {
			quiet[i] = do(t, "POST", r.URL+"/", keyGlobex, map[string]string{"X-Model-Class": "a"}, "{}")
		})
	}
	// Each quiet arrival finds the queue full and pushes out the flood's
	// newest request (without fair eviction it would be refused).
	waitFor(t, func() bool { return waiting("globex") == 4 && waiting("acme") == 12 && testutil.ToFloat64(shed) == 44 })

	var order []string
	for range 16 {
		proceed <- struct{}{} // one slot frees; the queue's next goes out
		order = append(order, recv(t, arrived, "the next queued request at the backend"))
	}
	for range 4 {
		proceed <- struct{}{}
	}
	qwg.Wait()
	wg.Wait()
	for i, q := range quiet {
		if q.code != 200 {
			t.Errorf("quiet request %d: %d %s", i, q.code, q.body)
		}
	}
	// Fair share: the 4 quiet requests interleave with the flood's 12, so
	// all of them go within the first 8 slots, not behind the flood.
	var pos []int
	for i, who := range order {
		if who == "globex" {
			pos = append(pos, i)
		}
	}
	if len(pos) != 4 || pos[3] >= 8 {
		t.Errorf("quiet requests dispatched at %v of the queue's order %v; want all 4 within the first 8", pos, order)
	}
	if spikyOK.Load() != 16 || spikyShed.Load() != 44 {
		t.Errorf("flood: %d served, %d shed; want 16 (4 + 12 queued) and 44 (40 refused, 4 pushed out)",
			spikyOK.Load(), spikyShed.Load())
	}
}

func TestHealthChecksAndReadiness(t *testing.T) {
	clkMu := sync.Mutex{}
	loaded := false
	be := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		clkMu.Lock()
		defer clkMu.Unlock()
		if req.URL.Path == "/readyz" && !loaded {
			w.WriteHeader(503)
			return
		}
		_, _ = io.WriteString(w, "{}")
	})
	r := startRouter(t, fmt.Sprintf(`
healthCheck: {interval: 1h}
models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]
`, be))
	client := &http.Client{Timeout: time.Second}
	if ok, missing := r.Ready(); ok || len(missing) != 1 {
		t.Fatalf("ready before any check: %v %v", ok, missing)
	}
	r.CheckEndpoints(context.Background(), client)
	if res := do(t, "GET", r.URL+"/readyz", "", nil, ""); res.code != 503 || !strings.Contains(res.body, "a") {
		t.Fatalf("readyz while loading: %d %s", res.code, res.body)
	}
	if res := do(t, "POST", r.URL+"/", keyAcme, map[string]string{"X-Model-Class": "a"}, "{}"); res.code != 503 {
		t.Fatalf("request with no ready endpoint: %d", res.code)
	}
	clkMu.Lock()
	loaded = true
	clkMu.Unlock()
	r.CheckEndpoints(context.Background(), client)
	if res := do(t, "GET", r.URL+"/readyz", "", nil, ""); res.code != 200 {
		t.Fatalf("readyz after load: %d", res.code)
	}
	if res := do(t, "GET", r.URL+"/healthz", "", nil, ""); res.code != 200 {
		t.Fatalf("healthz: %d", res.code)
	}
	if got := testutil.ToFloat64(r.metrics.Ready.WithLabelValues("a", "v1")); got != 1 {
		t.Fatalf("endpoints_ready %v", got)
	}
}

// TestGracefulShutdownDrains: once ServeDrain's context ends, /readyz says
// draining while requests are still accepted and served for the drain
// delay; then the listener closes and requests in flight finish. The
// backend holds each request (by X-Req) until the test lets it go, and
// the drain delay (1h) ends when the test cancels drainCtx, so every step
// is ordered by the test, not by the clock.
func TestGracefulShutdownDrains(t *testing.T) {
	arrived := make(chan string, 4)
	gates := map[string]chan struct{}{"inflight": make(chan struct{}), "during": make(chan struct{}), "across": make(chan struct{})}
	be := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		id := req.Header.Get("X-Req")
		arrived <- id
		select {
		case <-gates[id]:
		case <-req.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "{}")
	})
	c, err := Parse([]byte(fmt.Sprintf(`
server: {drainDelay: 1h, shutdownGrace: 1m}
models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]
tenants: [{name: acme, keySHA256: [%s]}]
`, be, HashKey(keyAcme))))
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Config: c})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	drainCtx, endDrain := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.ServeDrain(ctx, drainCtx, ln) }()
	t.Cleanup(func() { // a failed test must not leave Serve or the backend waiting
		cancel()
		endDrain()
		for _, g := range gates {
			select {
			case <-g:
			default:
				close(g)
			}
		}
	})
	send := func(id string) <-chan result {
		out := make(chan result, 1)
		go func() {
			out <- do(t, "POST", url+"/", keyAcme, map[string]string{"X-Model-Class": "a", "X-Req": id}, "{}")
		}()
		if got := recv(t, arrived, id+" at the backend"); got != id {
			t.Fatalf("backend got %q, want %q", got, id)
		}
		return out
	}
	inflight := send("inflight")
	cancel()
	waitFor(t, func() bool { ok, _ := r.Ready(); return !ok })
	if res := do(t, "GET", url+"/readyz", "", nil, ""); res.code != 503 || !strings.Contains(res.body, "draining") {
		t.Errorf("readyz while draining: %d %s", res.code, res.body)
	}
	// During the drain delay new connections are accepted and requests
	// served.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("the listener refuses during the drain delay: %v", err)
	}
	conn.Close()
	during := send("during")
	close(gates["during"])
	if res := recv(t, during, "the answer during the drain delay"); res.code != 200 {
		t.Errorf("request during the drain delay: %d %s", res.code, res.body)
	}
	// A request that arrived during the delay and is still in flight when
	// the listener closes finishes, as does the one from before the drain.
	across := send("across")
	endDrain()
	waitFor(t, func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with requests in flight", err)
	default:
	}
	close(gates["across"])
	close(gates["inflight"])
	if res := recv(t, across, "the answer across the listener closing"); res.code != 200 {
		t.Errorf("request in flight across the listener closing: %d %s", res.code, res.body)
	}
	if res := recv(t, inflight, "the answer to the request from before the drain"); res.code != 200 {
		t.Errorf("in-flight request during shutdown: %d %s", res.code, res.body)
	}
	if err := recv(t, served, "Serve returning"); err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("the listener still accepts after shutdown")
	}
}

// dialShortTimeouts connects to a router whose head must arrive within
// 200ms (readHeaderTimeout) and whole request within 300ms.
func dialShortTimeouts(t *testing.T) net.Conn {
	t.Helper()
	a := backend(t, emulator.Options{Class: "a"})
	c, err := Parse([]byte(fmt.Sprintf(`
server: {readHeaderTimeout: 200ms, readTimeout: 300ms}
models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]
`, a)))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := New(Options{Config: c})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = r.Serve(ctx, ln) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestSlowClientTimedOut(t *testing.T) {
	conn := dialShortTimeouts(t)
	_, _ = io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\n") // and then nothing
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	_, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("the server did not close a slow client's connection: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("slow client held the connection %v", d)
	}
}

// A connection that never sends a byte (a client's pool dialling ahead,
// a load balancer's pre-opened connection) is closed at readHeaderTimeout
// without an answer: a 400 written to it would reach the client as the
// answer to whatever request it sends next.
func TestIdleNewConnectionClosedSilently(t *testing.T) {
	conn := dialShortTimeouts(t)
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("the server did not close an idle connection: %v", err)
	}
	if len(b) > 0 {
		t.Fatalf("the server wrote %q to a connection that sent nothing", b)
	}
}

func TestAccessLogHasNoSecrets(t *testing.T) {
	a := backend(t, emulator.Options{Class: "a"})
	r := startRouter(t, fmt.Sprintf(`models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]`, a))
	do(t, "POST", r.URL+"/v1/x?api_key="+keyGlobex, keyAcme, map[string]string{"X-Model-Class": "a"}, `{"prompt":"`+keyGlobex+`"}`)
	do(t, "POST", r.URL+"/", "wrong-"+keyAcme, nil, "{}")
	logs := r.obs.All()
	if len(logs) != 2 {
		t.Fatalf("%d log entries, want 2", len(logs))
	}
	for _, e := range logs {
		b, _ := json.Marshal(e.ContextMap())
		s := string(b)
		for _, secret := range []string{keyAcme, keyGlobex, HashKey(keyAcme)} {
			if strings.Contains(s, secret) {
				t.Errorf("log entry holds a secret: %s", s)
			}
		}
		if !strings.Contains(s, `"status"`) || !strings.Contains(s, `"tenant"`) {
			t.Errorf("log entry lacks fields: %s", s)
		}
	}
}

func TestTracePropagation(t *testing.T) {
	var seen atomic.Value
	be := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		seen.Store(req.Header.Get("Traceparent"))
		_, _ = io.WriteString(w, "{}")
	})
	exp := tracetest.NewInMemoryExporter()
	tp := trace.NewTracerProvider(trace.WithSyncer(exp))
	r := startRouter(t, fmt.Sprintf(`models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]`, be),
		func(o *Options) { o.TracerProvider = tp })
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	res := do(t, "POST", r.URL+"/", keyAcme, map[string]string{"X-Model-Class": "a", "Traceparent": parent}, "{}")
	if res.code != 200 {
		t.Fatal(res.code)
	}
	got, _ := seen.Load().(string)
	if !strings.HasPrefix(got, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || got == parent {
		t.Fatalf("backend traceparent %q: want the same trace, the router's span as parent", got)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "router a" || spans[0].Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Fatalf("spans %+v", spans)
	}
}

// TestStreamingPassesThrough: server-sent events reach the client as they
// are written, not when the backend finishes: the backend writes the
// second event only after the client has read the first, so a router that
// buffered the response would never deliver either.
func TestStreamingPassesThrough(t *testing.T) {
	firstRead := make(chan struct{})
	be := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: 0\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-firstRead:
		case <-req.Context().Done():
			return
		}
		fmt.Fprintf(w, "data: 1\n\n")
	})
	r := startRouter(t, fmt.Sprintf(`models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]`, be))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // the failure bound
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", r.URL+"/", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+keyAcme)
	req.Header.Set("X-Model-Class", "a")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("no response head while the backend waits for the first event to be read: %v", err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: 0\n" {
		t.Fatalf("first line %q %v: not streamed", line, err)
	}
	close(firstRead)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "\ndata: 1\n\n" {
		t.Fatalf("rest %q %v", rest, err)
	}
}

func TestDeadlineGives504(t *testing.T) {
	slow := backend(t, emulator.Options{Class: "a", ServiceMean: 2 * time.Second, ServiceP95: 2 * time.Second})
	r := startRouter(t, fmt.Sprintf(`models: [{class: a, timeout: 150ms, attemptTimeout: 1s, versions: [{name: v1, endpoints: [%q]}]}]`, slow))
	start := time.Now()
	res := do(t, "POST", r.URL+"/", keyAcme, map[string]string{"X-Model-Class": "a"}, "{}")
	if res.code != 504 || !strings.Contains(res.body, `"timeout"`) {
		t.Fatalf("%d %s, want 504 timeout", res.code, res.body)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("answered after %v, want about the 150 ms deadline", d)
	}
	if got := testutil.ToFloat64(r.metrics.Retries.WithLabelValues("a")); got != 0 {
		t.Fatalf("%v retries after the deadline passed", got)
	}
}

func TestSetEndpointsFromSource(t *testing.T) {
	a1 := backend(t, emulator.Options{Class: "a", Version: "first"})
	a2 := backend(t, emulator.Options{Class: "a", Version: "second"})
	r := startRouter(t, fmt.Sprintf(`models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]`, a1))
	src := StaticEndpoints{Models: []ModelConfig{{Class: "a", Versions: []VersionConfig{{Name: "v1", Endpoints: []string{a2}}}}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	updated := make(chan error, 1) // StaticEndpoints reports each version once
	go func() {
		done <- src.Run(ctx, func(class, version string, addrs []string) error {
			err := r.SetEndpoints(class, version, addrs)
			updated <- err
			return err
		})
	}()
	if err := recv(t, updated, "the source's update"); err != nil {
		t.Fatal(err)
	}
	if eps := r.classes["a"].byName["v1"].pool.Endpoints(); len(eps) != 1 || eps[0].Addr != a2 {
		t.Fatalf("endpoints %v after the update, want [%s]", eps, a2)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if res := do(t, "POST", r.URL+"/", keyAcme, map[string]string{"X-Model-Class": "a"}, "{}"); !strings.Contains(res.body, `"version":"second"`) {
		t.Fatalf("answered %s, want the new endpoint", res.body)
	}
	if err := r.SetEndpoints("zzz", "v1", nil); err == nil {
		t.Fatal("unknown class accepted")
	}
	if err := r.SetEndpoints("a", "v9", nil); err == nil {
		t.Fatal("unknown version accepted")
	}
}

// TestAbsoluteFormTarget: a request line naming another host and
// credentials reaches the chosen endpoint with neither.
func TestAbsoluteFormTarget(t *testing.T) {

	type seenReq struct{ host, auth, uri string }
	seen := make(chan seenReq, 1)
	be := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		seen <- seenReq{req.Host, req.Header.Get("Authorization"), req.RequestURI}
		_, _ = io.WriteString(w, "{}")
	})
	r := startRouter(t, fmt.Sprintf(`models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]`, be))
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST http://user:pw@evil.example/infer?x=1 HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer %s\r\nX-Model-Class: a\r\nContent-Length: 2\r\n\r\n{}", keyAcme)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if s := <-seen; s.host != be || s.auth != "" || s.uri != "/infer?x=1" {
		t.Fatalf("backend saw host %q auth %q uri %q", s.host, s.auth, s.uri)
	}
}
