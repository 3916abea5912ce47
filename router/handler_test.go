package router

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/headroom-dev/headroom/router/emulator"
)

// serveRouter serves cfg (with the two test tenants) through Serve on
// loopback, until the test ends. The listener keeps the router's side of
// each connection (acceptLog).
func serveRouter(t *testing.T, cfg string, mod ...func(*Options)) (*testRouter, *acceptLog) {
	t.Helper()
	cfg += fmt.Sprintf(`
tenants:
  - {name: acme, keySHA256: [%s]}
  - {name: globex, keySHA256: [%s], classes: [a]}
`, HashKey(keyAcme), HashKey(keyGlobex))
	c, err := Parse([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	core, obs := observer.New(zap.InfoLevel)
	reg := prometheus.NewRegistry()
	o := Options{Config: c, Logger: zap.New(core), Registerer: reg, Gatherer: reg,
		IntN: rand.New(rand.NewPCG(1, 1)).IntN}
	for _, m := range mod {
		m(&o)
	}
	var mu sync.Mutex
	if o.IntN != nil {
		in := o.IntN
		o.IntN = func(n int) int { mu.Lock(); defer mu.Unlock(); return in(n) }
	}
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	al := &acceptLog{Listener: ln, conns: map[string]net.Conn{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, al) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testRouter{Router: r, URL: "http://" + ln.Addr().String(), reg: reg, obs: obs}, al
}

// serveURL serves r on loopback until the test ends and returns its URL.
func serveURL(t *testing.T, r *Router) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

// acceptLog is a listener that keeps the server side of every connection
// it accepts, so a test can look at a socket as the router sees it. It
// hands the connections on unwrapped.
type acceptLog struct {
	net.Listener
	mu    sync.Mutex
	conns map[string]net.Conn // by the client's address
}

func (l *acceptLog) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns[c.RemoteAddr().String()] = c
		l.mu.Unlock()
	}
	return c, err
}

// serverSide returns the router's end of the client's connection c, once
// the router has accepted it.
func (l *acceptLog) serverSide(c net.Conn) net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns[c.LocalAddr().String()]
}

// TestServeForwardedHeaders: the request to the reader and the answer to
// the client lose the hop-by-hop headers, the key and spoofed
// X-Headroom-*, and with tracing off the client's traceparent passes as it
// came.
func TestServeForwardedHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	be := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		seen <- req.Header.Clone()
		w.Header().Set("Connection", "X-Backend-Hop")
		w.Header().Set("X-Backend-Hop", "1")
		_, _ = io.WriteString(w, "{}")
	})
	r := startRouter(t, fmt.Sprintf(`models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]`, be))
	res := do(t, "POST", r.URL+"/", keyAcme, map[string]string{
		"X-Model-Class": "a", "X-Headroom-Tenant": "globex", "Connection": "X-Drop-Me", "X-Drop-Me": "1",
		"X-Forwarded-For": "203.0.113.9", "Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}, "{}")
	if res.code != 200 {
		t.Fatalf("%d %s", res.code, res.body)
	}
	h := <-seen
	if h.Get("X-Headroom-Tenant") != "acme" || h.Get("Authorization") != "" || h.Get("X-Drop-Me") != "" ||
		h.Get("X-Forwarded-For") != "203.0.113.9, 127.0.0.1" || h.Get("X-Headroom-Class") != "a" {
		t.Errorf("backend saw %v", h)
	}
	if h.Get("Traceparent") != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		// With the no-op tracer the incoming context passes through unchanged.
		t.Errorf("traceparent %q", h.Get("Traceparent"))
	}
	if res.header.Get("X-Backend-Hop") != "" {
		t.Error("a response header named in Connection was returned")
	}
}

func TestServeRetriesShedsAndTimesOut(t *testing.T) {
	var badHits atomic.Int64
	bad := handlerBackend(t, func(w http.ResponseWriter, _ *http.Request) {
		badHits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	good := backend(t, emulator.Options{Class: "a"})
	slow := backend(t, emulator.Options{Class: "s", Concurrency: 10, ServiceMean: 300 * time.Millisecond, ServiceP95: 300 * time.Millisecond})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	r := startRouter(t, fmt.Sprintf(`
retry: {maxAttempts: 3}
outlier: {consecutiveFailures: 3, baseEjection: 30s, maxEjectedPercent: 67}
models:
  - {class: a, versions: [{name: v1, endpoints: [%q, %q, %q]}]}
  - {class: s, maxInFlight: 1, maxQueue: 1, versions: [{name: v1, endpoints: [%q]}]}
  - {class: t, timeout: 100ms, versions: [{name: v1, endpoints: [%q]}]}
`, bad, good, dead, slow, slow))
	ok := 0
	for range 100 {
		if do(t, "POST", r.URL+"/", keyAcme, map[string]string{"X-Model-Class": "a"}, "{}").code == 200 {
			ok++
		}
	}
	if ok < 98 || testutil.ToFloat64(r.metrics.Ejections.WithLabelValues("a", "v1")) != 2 {
		t.Errorf("%d of 100 succeeded, %v ejections; want all but a few, and 2", ok,
			testutil.ToFloat64(r.metrics.Ejections.WithLabelValues("a", "v1")))
	}
	var wg sync.WaitGroup
	codes := make([]result, 5)
	for i := range codes {
		wg.Go(func() { codes[i] = do(t, "POST", r.URL+"/", keyAcme, map[string]string{"X-Model-Class": "s"}, "{}") })
	}
	wg.Wait()
	shed := 0
	for _, c := range codes {
		if c.code == 503 && c.header.Get("Retry-After") != "" {
			shed++
		}
	}
	if shed != 3 {
		t.Errorf("%d of 5 shed with one slot and one queue place; want 3", shed)
	}
	if res := do(t, "POST", r.URL+"/", keyAcme, map[string]string{"X-Model-Class": "t"}, "{}"); res.code != 504 {
		t.Errorf("deadline: %d %s, want 504", res.code, res.body)
	}
}
