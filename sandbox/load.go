package sandbox

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/headroom-dev/headroom/simulations/trace"
)

// Send is one request of the load: when, after the start, and to which class.
type Send struct {
	At    time.Duration
	Class string
}

// ScheduleOptions turn a trace into sends.
type ScheduleOptions struct {
	// Speedup compresses the trace's time: 20 plays an hour in 3 minutes.
	// Default 1.
	Speedup float64
	// Scale multiplies the trace's rate (after the speed-up keeps it: a
	// rate trace of 10 req/s plays at 10 x Scale req/s). Default 1.
	Scale float64
	// Class is the class of requests whose trace row names none.
	Class string
	// MaxRequests and MaxDuration bound the load; both are required.
	MaxRequests int
	MaxDuration time.Duration
}

// Schedule lists the sends of a trace, in time order, bounded by
// MaxRequests and MaxDuration. A rate trace's window of rate r sends
// r x Scale requests per second, evenly spaced, carrying the fraction over
// from window to window (deterministic: the same trace gives the same
// sends). A request trace sends each request Scale times (the fraction
// carried over the same way) at its offset from the first, divided by
// Speedup.
func Schedule(t *trace.Trace, o ScheduleOptions) ([]Send, error) {
	if o.Speedup == 0 {
		o.Speedup = 1
	}
	if o.Scale == 0 {
		o.Scale = 1
	}
	if o.Speedup < 0 || o.Scale < 0 || math.IsNaN(o.Speedup+o.Scale) {
		return nil, fmt.Errorf("schedule: speed-up %g and scale %g must be positive", o.Speedup, o.Scale)
	}
	if o.MaxRequests <= 0 || o.MaxDuration <= 0 {
		return nil, errors.New("schedule: MaxRequests and MaxDuration must be set (the load is bounded)")
	}
	var out []Send
	full := func() bool { return len(out) >= o.MaxRequests }
	class := func(c string) string {
		if c == "" {
			return o.Class
		}
		return c
	}
	start, _ := t.Span()
	switch t.Format {
	case trace.FormatRates:
		// Per class: each window, at its own offset.
		frac := map[string]float64{}
		for _, w := range t.Rates {
			from := time.Duration(float64(w.Start.Sub(start)) / o.Speedup)
			length := time.Duration(float64(t.Window) / o.Speedup)
			n := w.Rate*o.Scale*length.Seconds() + frac[w.Class]
			k := int(math.Floor(n))
			frac[w.Class] = n - float64(k)
			for i := range k {
				at := from + time.Duration(float64(length)*float64(i)/float64(k))
				if at >= o.MaxDuration {
					break
				}
				out = append(out, Send{At: at, Class: class(w.Class)})
			}
		}
		slices.SortStableFunc(out, func(a, b Send) int { return cmp.Compare(a.At, b.At) })
	case trace.FormatRequests:
		acc := 0.0
		for _, r := range t.Requests {
			at := time.Duration(float64(r.Time.Sub(start)) / o.Speedup)
			if at >= o.MaxDuration {
				break
			}
			acc += o.Scale
			for ; acc >= 1; acc-- {
				out = append(out, Send{At: at, Class: class(r.Class)})
			}
		}
	}
	if full() {
		out = out[:o.MaxRequests]
	}
	return out, nil
}

// LoadResult is what the generator measured on its side. The sandbox's
// SLO figures come from the router's own histogram; these are the
// client's view: sent, answered 2xx, refused or failed, and lost (no
// answer at all: connection refused or reset, or the client's timeout).
type LoadResult struct {
	Sent, OK, Refused, Lost int64
	// WithinSLO counts 2xx answers faster than Options.SLO.
	WithinSLO int64
}

// LoadOptions configure Run.
type LoadOptions struct {
	// URL is the router's base URL, on loopback.
	URL string
	// Header carries the class; Tenant key, if any, goes in Authorization.
	ClassHeader string
	APIKey      string
	// Timeout per request; default 10s.
	Timeout time.Duration
	// SLO is the latency a 2xx answer must beat to count in WithinSLO.
	SLO time.Duration
	// Client is the HTTP client; default one with a loopback-only dialer.
	Client *http.Client
}

// Run sends the schedule from start, each request at start+At (on the
// wall clock: this is the I/O shell), and returns the counts once every
// request has been answered or timed out, or ctx ends (the requests not
// yet sent are not counted). Only loopback addresses are dialled.
func Run(ctx context.Context, sends []Send, o LoadOptions, start time.Time) LoadResult {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.ClassHeader == "" {
		o.ClassHeader = "X-Model-Class"
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: o.Timeout, Transport: &http.Transport{
			DialContext:         loopbackDialer,
			MaxIdleConnsPerHost: 256,
		}}
	}
	var res LoadResult
	var wg sync.WaitGroup
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	body := []byte(`{"question":"what is headroom?","context":"a sandbox request"}`)
	for _, s := range sends {
		if d := time.Until(start.Add(s.At)); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				wg.Wait()
				return res
			case <-timer.C:
			}
		}
		atomic.AddInt64(&res.Sent, 1)
		wg.Add(1)
		go func(class string) {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.URL+"/v1/infer", bytes.NewReader(body))
			if err != nil {
				atomic.AddInt64(&res.Lost, 1)
				return
			}
			req.Header.Set(o.ClassHeader, class)
			req.Header.Set("Content-Type", "application/json")
			if o.APIKey != "" {
				req.Header.Set("Authorization", "Bearer "+o.APIKey)
			}
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				atomic.AddInt64(&res.Lost, 1)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			took := time.Since(t0)
			if resp.StatusCode/100 != 2 {
				atomic.AddInt64(&res.Refused, 1)
				return
			}
			atomic.AddInt64(&res.OK, 1)
			if took <= o.SLO {
				atomic.AddInt64(&res.WithinSLO, 1)
			}
		}(s.Class)
	}
	wg.Wait()
	return res
}

// loopbackDialer dials only 127.0.0.0/8 and ::1: the sandbox's load never
// leaves the machine.
func loopbackDialer(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if host == "localhost" {
		host = "127.0.0.1"
		_, port, _ := net.SplitHostPort(addr)
		addr = net.JoinHostPort(host, port)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("load generator: %s is not a loopback address", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
