// Command benchtool is the load side of scripts/bench-router.sh: trivial
// backends and an open-loop load generator, both on loopback only.
//
//	benchtool backend -addrs 127.0.0.1:9001,127.0.0.1:9002   # answer {"ok":true} at once
//	benchtool load -targets http://127.0.0.1:8080/infer -rate 5000 -n 50000 -max-time 20s \
//	    -H 'Authorization: Bearer k' -H 'X-Model-Class: bench'
//
// load is open-loop: request i is due at start + i/rate whatever happened to
// earlier ones, and its latency counts from that due time, so a stalled
// server shows up in the percentiles instead of silently lowering the rate
// (the "coordinated omission" of closed-loop tools). It stops after -n
// requests or -max-time, whichever comes first, and prints one line:
//
//	sent=50000 ok=50000 errors=0 rps=4999.8 p50_ms=0.21 p90_ms=0.35 p99_ms=0.80 p999_ms=2.10 max_ms=5.3
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool backend|load [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "backend":
		err = backend(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

func backend(args []string) error {
	fs := flag.NewFlagSet("backend", flag.ExitOnError)
	addrs := fs.String("addrs", "127.0.0.1:9001", "comma-separated listen addresses (loopback)")
	_ = fs.Parse(args)
	body := []byte(`{"model":"bench","output":"ok"}` + "\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/readyz" || r.URL.Path == "/healthz" {
			_, _ = io.WriteString(w, "ok\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var srvs []*http.Server
	for _, a := range strings.Split(*addrs, ",") {
		if !isLoopback(a) {
			return fmt.Errorf("%s is not a loopback address", a)
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return err
		}
		s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		srvs = append(srvs, s)
		go func() { _ = s.Serve(ln) }()
	}
	<-ctx.Done()
	for _, s := range srvs {
		_ = s.Close()
	}
	return nil
}

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	targets := fs.String("targets", "", "comma-separated URLs, used round-robin (loopback only)")
	rate := fs.Float64("rate", 5000, "requests per second")
	n := fs.Int("n", 50000, "requests to send at most")
	maxTime := fs.Duration("max-time", 20*time.Second, "time to send for at most")
	conns := fs.Int("conns", 256, "concurrent requests at most (keep-alive connections)")
	warmup := fs.Int("warmup", 1000, "requests sent first and not measured")
	body := fs.String("body", `{"input":"hello"}`, "request body (POST)")
	var hdr headers
	fs.Var(&hdr, "H", "header 'Name: value' (repeatable)")
	_ = fs.Parse(args)
	urls := strings.Split(*targets, ",")
	for _, u := range urls {
		host := strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
		if i := strings.IndexByte(host, '/'); i >= 0 {
			host = host[:i]
		}
		if !isLoopback(host) {
			return fmt.Errorf("target %s is not on loopback", u)
		}
	}
	tr := &http.Transport{MaxIdleConns: *conns * 2, MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns,
		IdleConnTimeout: time.Minute, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	send := func(i int) error {
		req, err := http.NewRequest(http.MethodPost, urls[i%len(urls)], strings.NewReader(*body))
		if err != nil {
			return err
		}
		for _, h := range hdr {
			k, v, _ := strings.Cut(h, ":")
			req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// Warm-up: open the connections, closed-loop.
	var wg sync.WaitGroup
	var next atomic.Int64
	for range min(*conns, 64) {
		wg.Go(func() {
			for next.Add(1) <= int64(*warmup) {
				_ = send(0)
			}
		})
	}
	wg.Wait()

	type job struct {
		i   int
		due time.Time
	}
	jobs := make(chan job, *n)
	lat := make([]time.Duration, *n)
	var ok, errs atomic.Int64
	var firstErr atomic.Value
	for range *conns {
		wg.Go(func() {
			for j := range jobs {
				if err := send(j.i); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					lat[j.i] = -1
					continue
				}
				lat[j.i] = time.Since(j.due)
				ok.Add(1)
			}
		})
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / *rate)
	sent := 0
	for ; sent < *n; sent++ {
		due := start.Add(time.Duration(sent) * interval)
		if due.Sub(start) > *maxTime {
			break
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		jobs <- job{i: sent, due: due}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	ms := make([]float64, 0, sent)
	for _, d := range lat[:sent] {
		if d >= 0 {
			ms = append(ms, float64(d)/1e6)
		}
	}
	slices.Sort(ms)
	pct := func(p float64) float64 {
		if len(ms) == 0 {
			return 0
		}
		return ms[min(len(ms)-1, int(p*float64(len(ms))))]
	}
	fmt.Printf("sent=%d ok=%d errors=%d rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
		sent, ok.Load(), errs.Load(), float64(sent)/elapsed.Seconds(), pct(0.5), pct(0.9), pct(0.99), pct(0.999), pct(1))
	if e, _ := firstErr.Load().(string); e != "" {
		fmt.Fprintln(os.Stderr, "first error:", e)
	}
	return nil
}

func isLoopback(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		h = hostport
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
