package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"pgregory.net/rapid"
)

// countingBackend answers 200 with the path it was asked for and counts
// the requests it saw.
func countingBackend(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	addr := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		n.Add(1)
		_, _ = io.Copy(io.Discard, req.Body)
		_, _ = io.WriteString(w, req.URL.EscapedPath())
	})
	return addr, &n
}

func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/infer", "/infer"},
		{"/", "/"},
		{"/v1/models/a/infer", "/v1/models/a/infer"},
		{"/v1/models/a/../b/infer", "/v1/models/b/infer"},
		{"/v1/models/a/%2e%2e/b/infer", "/v1/models/b/infer"},
		{"/v1/models/a/%2E./b/infer", "/v1/models/b/infer"},
		{"/v1/./models//a/infer", "/v1/models/a/infer"},
		{"/v1/models/a/", "/v1/models/a/"},
		{"/v1/models/a/.", "/v1/models/a/"},
		{"/v1/models/a/..", "/v1/models/"},
		{"/a/..", "/"},
		{"//", "/"},
		{"/a%20b/c", "/a%20b/c"},
		{"/...", "/..."},
		{"/a/.b/..c", "/a/.b/..c"},
		{"/../etc/passwd", ""},
		{"/a/../../etc", ""},
		{"/%2e%2e/etc", ""},
		{"/v1/models/a%2f..%2fb/infer", ""},
		{"/v1/models/a%2F..%2Fb/infer", ""},
		{"/a%5c..%5cb", ""},
		{`/a\..\b`, ""},
		{"/a%00b", ""},
		{"/a\x00b", ""},
		{"/a%zz", ""},
		{"/a%2", ""},
		{"a/b", ""},
		{"", ""},
		{"*", ""},
	} {
		got, err := NormalizePath(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("NormalizePath(%q) = %q, want bad_path", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// FuzzNormalizePath: a normalised path is absolute, has no dot or empty
// segment and no escaped separator, reads the same segments as the
// classifier sees them, and normalises to itself.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/v1/models/a/../b/infer", "/a%2f..%2fb", "/%2e%2e/", "//x/./y/", "/a%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		n, err := NormalizePath(p)
		if err != nil {
			if AsRequestError(err) == nil {
				t.Fatalf("error %v is not a RequestError", err)
			}
			return
		}
		if n == "" || n[0] != '/' {
			t.Fatalf("%q -> %q: not absolute", p, n)
		}
		if again, err := NormalizePath(n); err != nil || again != n {
			t.Fatalf("%q -> %q -> %q, %v: not idempotent", p, n, again, err)
		}
		segs := strings.Split(strings.Trim(n, "/"), "/")
		for _, s := range segs {
			if n != "/" && s == "" {
				t.Fatalf("%q -> %q: empty segment", p, n)
			}
			if dotSegment(s) != 0 {
				t.Fatalf("%q -> %q: dot segment %q", p, n, s)
			}
			u, err := url.PathUnescape(s)
			if err != nil || strings.ContainsAny(u, "/\\") {
				t.Fatalf("%q -> %q: segment %q unescapes to %q, %v", p, n, s, u, err)
			}
		}
	})
}

// TestPathNormalisedBeforeClassifying: the class comes from the
// normalised path, the reader gets the normalised path, and paths that
// cannot be made safe are refused.
func TestPathNormalisedBeforeClassifying(t *testing.T) {
	a, na := countingBackend(t)
	b, nb := countingBackend(t)
	r, _ := serveRouter(t, fmt.Sprintf(`
classify: {class: [{from: path, segment: 2}]}
models:
  - {class: a, versions: [{name: v1, endpoints: [%q]}]}
  - {class: b, versions: [{name: v1, endpoints: [%q]}]}
`, a, b))
	for _, tc := range []struct {
		path, wantPath string
		want           int
		wantA, wantB   int64
	}{
		{"/v1/models/a/../b/infer", "/v1/models/b/infer", 200, 0, 1},
		{"/v1/models/a/%2e%2e/b/infer?x=1", "/v1/models/b/infer", 200, 0, 1},
		{"/v1//models/./a/infer", "/v1/models/a/infer", 200, 1, 0},
		{"/v1/models/a/x%41y%20z", "/v1/models/a/x%41y%20z", 200, 1, 0}, // escapes pass as sent
		{"/v1/models/a%2f..%2fb/infer", "", 400, 0, 0},
		{"/../v1/models/a/infer", "", 400, 0, 0},
		{"/v1/models/b/../../../../a/infer", "", 400, 0, 0},
	} {
		a0, b0 := na.Load(), nb.Load()
		code, body := rawGet(t, r.URL, tc.path, "Authorization: Bearer "+keyAcme)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.path, code, body, tc.want)
			continue
		}
		if tc.want == 200 && body != tc.wantPath {
			t.Errorf("%s: the reader got path %q, want %q", tc.path, body, tc.wantPath)
		}
		if da, db := na.Load()-a0, nb.Load()-b0; da != tc.wantA || db != tc.wantB {
			t.Errorf("%s: reader a got %d, b got %d; want %d, %d", tc.path, da, db, tc.wantA, tc.wantB)
		}
	}
}

// rawGet sends "GET path" exactly as given (no client-side cleaning) and
// returns the status and body.
func rawGet(t *testing.T, base, path string, headers ...string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var hs string
	for _, h := range headers {
		hs += h + "\r\n"
	}
	_, _ = fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", path, hs)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestKeyInPathNotLogged: a key sent in the path, bare or as a known key
// parameter, never reaches the access log.
func TestKeyInPathNotLogged(t *testing.T) {
	a, _ := countingBackend(t)
	r, _ := serveRouter(t, fmt.Sprintf(`models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]`, a))
	for _, p := range []string{
		"/v1/" + keyAcme + "/infer",
		"/v1/key=" + keyGlobex + "/infer",
		"/v1/infer;api_key=" + keyGlobex,
		"/v1/ACCESS_TOKEN=" + keyGlobex,
	} {
		rawGet(t, r.URL, p, "Authorization: Bearer "+keyAcme, "X-Model-Class: a")
	}
	waitFor(t, func() bool { return r.obs.FilterMessage("request").Len() == 4 })
	for _, e := range r.obs.FilterMessage("request").All() {
		line := fmt.Sprint(e.ContextMap())
		if strings.Contains(line, keyAcme) || strings.Contains(line, keyGlobex) {
			t.Errorf("access log holds a key: %s", line)
		}
		if !strings.Contains(line, redacted) {
			t.Errorf("access log entry without the redaction mark: %s", line)
		}
	}
}

// TestHungEndpointFailsOver: an endpoint that accepts requests and never
// answers costs each request one attempt timeout, derived from the
// class's latency and well under the deadline, not the deadline; the
// request is retried on the other endpoint, and the hung one is ejected.
func TestHungEndpointFailsOver(t *testing.T) {
	var hang atomic.Bool
	hung := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body) // net/http then watches the connection
		if hang.Load() {
			<-req.Context().Done() // until the router gives up on it
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	good := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) { _, _ = io.WriteString(w, "ok") })
	r := startRouter(t, fmt.Sprintf(`
outlier: {consecutiveFailures: 2, baseEjection: 1h}
retry: {minPerSecond: 100}
models: [{class: a, timeout: 20s, versions: [{name: v1, endpoints: [%q, %q]}]}]
`, hung, good))
	send := func() (int, time.Duration) {
		start := time.Now()
		res := do(t, "POST", r.URL+"/", keyAcme, map[string]string{"X-Model-Class": "a"}, "{}")
		return res.code, time.Since(start)
	}
	for range 2 * latencyMinSamples { // both answer: the class learns its latency
		if code, _ := send(); code != 200 {
			t.Fatalf("warm-up: %d", code)
		}
	}
	cs := r.classes["a"]
	at := cs.attemptTimeout(r.cfg.Retry.MaxAttempts, time.Now())
	if at != minAttemptTimeout {
		t.Fatalf("attempt timeout %v after fast answers; want the floor %v, well under the 20s deadline", at, minAttemptTimeout)
	}
	hang.Store(true)
	for i := range 10 {
		if code, d := send(); code != 200 || d > 5*time.Second {
			t.Fatalf("request %d with a hung endpoint: %d after %v; want 200 within the attempt timeout (%v) and a retry", i, code, d, at)
		}
	}
	if got := testutil.ToFloat64(r.metrics.Ejections.WithLabelValues("a", "v1")); got != 1 {
		t.Errorf("%v ejections, want the hung endpoint ejected once", got)
	}
	if got := testutil.ToFloat64(r.metrics.Retries.WithLabelValues("a")); got != 2 {
		t.Errorf("%v retries, want 2: one per timed-out attempt before the ejection", got)
	}
}

// TestAttemptTimeoutDerived: the attempt timeout is the deadline split
// over the attempts until the class has latencies, then a multiple of
// their p99 within [minAttemptTimeout, deadline/2]; a configured one wins.
func TestAttemptTimeoutDerived(t *testing.T) {
	now := time.Unix(1000, 0)
	cs := &classState{cfg: ModelConfig{Timeout: Duration(60 * time.Second)}, latency: NewLatencyWindow(latencyWindow, now)}
	if got := cs.attemptTimeout(3, now); got != 20*time.Second {
		t.Errorf("no samples: %v, want 60s/3", got)
	}
	for range 100 {
		cs.latency.Observe(400*time.Millisecond, now)
	}
	p99, _ := cs.latency.Quantile(0.99, now)
	if p99 < 400*time.Millisecond || p99 > 476*time.Millisecond {
		t.Fatalf("p99 %v, want the bucket above 400ms", p99)
	}
	if got := cs.attemptTimeout(3, now); got != attemptTimeoutFactor*p99 {
		t.Errorf("400ms answers: %v, want %v", got, attemptTimeoutFactor*p99)
	}
	fast := &classState{cfg: cs.cfg, latency: NewLatencyWindow(latencyWindow, now)}
	for range 100 {
		fast.latency.Observe(time.Millisecond, now)
	}
	if got := fast.attemptTimeout(3, now); got != minAttemptTimeout {
		t.Errorf("1ms answers: %v, want the floor %v", got, minAttemptTimeout)
	}
	for range 100 {
		cs.latency.Observe(50*time.Second, now)
	}
	if got := cs.attemptTimeout(3, now); got != 30*time.Second {
		t.Errorf("slow answers: %v, want the cap, half the deadline", got)
	}
	// Two periods later the old latencies are gone.
	if got := cs.attemptTimeout(3, now.Add(2*latencyWindow)); got != 20*time.Second {
		t.Errorf("after two quiet periods: %v, want the no-sample split again", got)
	}
	cs.cfg.AttemptTimeout = Duration(time.Second)
	if got := cs.attemptTimeout(3, now); got != time.Second {
		t.Errorf("configured: %v, want 1s", got)
	}
}

// TestLatencyWindowQuantileProperty: the quantile is the upper bound of
// the bucket holding the true quantile: never below it, at most one bucket
// (19%) above, for any set of latencies.
func TestLatencyWindowQuantileProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		now := time.Unix(0, 0)
		w := NewLatencyWindow(time.Minute, now)
		ds := rapid.SliceOfN(rapid.Int64Range(int64(time.Microsecond), int64(time.Minute)), 1, 200).Draw(t, "latencies")
		for _, d := range ds {
			w.Observe(time.Duration(d), now)
		}
		q := rapid.Float64Range(0.01, 1).Draw(t, "q")
		got, n := w.Quantile(q, now)
		if n != int64(len(ds)) {
			t.Fatalf("count %d, want %d", n, len(ds))
		}
		sorted := slices.Clone(ds)
		slices.Sort(sorted)
		truth := time.Duration(sorted[int(math.Ceil(q*float64(len(ds))))-1])
		if got < truth && latencyBucket(truth) < latencyBuckets-1 {
			t.Fatalf("q%.2f = %v below the true %v", q, got, truth)
		}
		if truth > time.Millisecond && float64(got) > 1.19*float64(truth)+float64(time.Millisecond) && latencyBucket(truth) < latencyBuckets-1 {
			t.Fatalf("q%.2f = %v more than a bucket above the true %v", q, got, truth)
		}
	})
}

// TestMetricsOnTheirOwnAddress: with metricsListen set, /metrics is served
// there and the traffic port treats /metrics like any other path (here:
// no key, 401), so tenant and class names stay off the traffic port.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	a, _ := countingBackend(t)
	r := startRouter(t, fmt.Sprintf(`
metricsListen: "127.0.0.1:0"
models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]`, a))
	if code, _ := rawGet(t, r.URL, "/infer", "Authorization: Bearer "+keyAcme, "X-Model-Class: a"); code != 200 {
		t.Fatalf("traffic: %d", code)
	}
	if code, body := rawGet(t, r.URL, "/metrics"); code != 401 || strings.Contains(body, "headroom_router_") {
		t.Errorf("traffic port /metrics: %d %q; want 401 and no metrics", code, body)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.ServeMetrics(ctx, ln) }()
	defer func() {
		cancel()
		if err := recv(t, done, "ServeMetrics returning"); err != nil {
			t.Errorf("ServeMetrics: %v", err)
		}
	}()
	code, body := rawGet(t, "http://"+ln.Addr().String(), "/metrics")
	if code != 200 || !strings.Contains(body, `headroom_router_requests_total{class="a",code="200",tenant="acme"} 1`) {
		t.Errorf("metrics address /metrics: %d\n%s", code, body)
	}
	if code, _ := rawGet(t, "http://"+ln.Addr().String(), "/readyz"); code != 200 {
		t.Errorf("metrics address /readyz: %d", code)
	}
	if _, err := Parse([]byte("listen: ':8080'\nmetricsListen: ':8080'\nmodels: [{class: a, versions: [{name: v1, endpoints: ['h:1']}]}]")); err == nil {
		t.Error("metricsListen equal to listen accepted")
	}
}

// TestLastAttemptHasTheDeadline: an attempt after which no retry may
// follow is not cut at the attempt timeout: a late answer beats a 504.
func TestLastAttemptHasTheDeadline(t *testing.T) {
	release := make(chan struct{})
	slow := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		select {
		case <-release:
		case <-req.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "late")
	})
	r := startRouter(t, fmt.Sprintf(`
retry: {maxAttempts: 1}
models: [{class: a, timeout: 20s, attemptTimeout: 10ms, versions: [{name: v1, endpoints: [%q]}]}]`, slow))
	time.AfterFunc(200*time.Millisecond, func() { close(release) }) // well past the 10ms attempt timeout
	if res := do(t, "POST", r.URL+"/", keyAcme, map[string]string{"X-Model-Class": "a"}, "{}"); res.code != 200 || res.body != "late" {
		t.Fatalf("%d %q; want the late answer", res.code, res.body)
	}
}
