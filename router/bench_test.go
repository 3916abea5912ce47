package router

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// BenchmarkRouterOverLoopback sends requests through the router's handler
// to 1 or 8 trivial backends on loopback and reports requests per second of
// one client goroutine per core (b.RunParallel).
func BenchmarkRouterOverLoopback(b *testing.B) {
	for _, nb := range []int{1, 8} {
		b.Run(fmt.Sprintf("backends=%d", nb), func(b *testing.B) {
			var eps []string
			for range nb {
				s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					_, _ = io.WriteString(w, `{"ok":true}`)
				}))
				defer s.Close()
				eps = append(eps, fmt.Sprintf("%q", s.Listener.Addr().String()))
			}
			c, err := Parse([]byte(fmt.Sprintf(`
server: {disableAccessLog: true}
models: [{class: a, versions: [{name: v1, endpoints: [%s]}]}]
tenants: [{name: t, keySHA256: [%s]}]
`, strings.Join(eps, ","), HashKey("k"))))
			if err != nil {
				b.Fatal(err)
			}
			r, err := New(Options{Config: c, Registerer: prometheus.NewRegistry()})
			if err != nil {
				b.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(b.Context())
			served := make(chan error, 1)
			go func() { served <- r.Serve(ctx, ln) }()
			defer func() { cancel(); <-served }()
			url := "http://" + ln.Addr().String() + "/infer"
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("POST", url, strings.NewReader(`{"input":"x"}`))
					req.Header.Set("Authorization", "Bearer k")
					req.Header.Set("X-Model-Class", "a")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// BenchmarkHandler measures the router's own work per request: its handler
// with an in-memory client side and a loopback backend.
func BenchmarkHandler(b *testing.B) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer be.Close()
	c, err := Parse([]byte(fmt.Sprintf(`
server: {disableAccessLog: true}
models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]
tenants: [{name: t, keySHA256: [%s]}]
`, be.Listener.Addr().String(), HashKey("k"))))
	if err != nil {
		b.Fatal(err)
	}
	r, err := New(Options{Config: c, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	var req fasthttp.Request
	var fc fasthttp.RequestCtx
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		req.Reset()
		req.Header.SetMethod("POST")
		req.SetRequestURI("/infer")
		req.Header.Set("Authorization", "Bearer k")
		req.Header.Set("X-Model-Class", "a")
		req.SetBodyString(`{"input":"x"}`)
		fc.Init(&req, nil, nil)
		r.fastHandler(&fc, nil)
		if fc.Response.StatusCode() != 200 {
			b.Fatal(fc.Response.StatusCode())
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

func BenchmarkClassify(b *testing.B) {
	k := exampleClassifier()
	parts := RequestParts{Path: "/infer", Header: http.Header{}, Body: []byte(`{"model":"reader-de-large","input":"` + strings.Repeat("x", 2000) + `"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Classify(parts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFairQueueUncontended(b *testing.B) {
	q := NewFairQueue(64, 256)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if err := q.Acquire(ctx, "t", 1, time.Second); err != nil {
			b.Fatal(err)
		}
		q.Release()
	}
}

func BenchmarkNormalizePath(b *testing.B) {
	for _, p := range []string{"/v1/models/reader-de-large/infer", "/v1/models/a/../reader-de-large/./infer"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NormalizePath(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLogPath is the access log's path redaction: every segment is
// checked against the tenants' key digests.
func BenchmarkLogPath(b *testing.B) {
	var cfg []TenantConfig
	for i := range 8 {
		cfg = append(cfg, TenantConfig{Name: fmt.Sprintf("t%d", i), KeySHA256: []string{HashKey(fmt.Sprint("key-", i))}})
	}
	ts := NewTenants(AuthConfig{Header: "Authorization"}, cfg)
	b.ReportAllocs()
	for b.Loop() {
		_ = ts.logPath("/v1/models/reader-de-large/infer")
	}
}

// BenchmarkAttemptTimeout is the per-attempt latency bookkeeping: one
// observation and one p99 read.
func BenchmarkAttemptTimeout(b *testing.B) {
	now := time.Unix(0, 0)
	cs := &classState{cfg: ModelConfig{Timeout: Duration(time.Minute)}, latency: NewLatencyWindow(latencyWindow, now)}
	b.ReportAllocs()
	for b.Loop() {
		cs.latency.Observe(40*time.Millisecond, now)
		_ = cs.attemptTimeout(2, now)
	}
}
