package router

import (
	"fmt"
	"math"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/headroom-dev/headroom/internal/promtest"
	"github.com/headroom-dev/headroom/router/emulator"
)

// TestPrometheusReadsP95 runs a real Prometheus scraping the router and an
// emulated reader while traffic flows, and reads the p95 back through PromQL
// with client_golang/api, the way the controller does. The emulator's
// service time is log-normal with p95 60 ms; the router's p95 must land in
// the histogram bucket around it.
func TestPrometheusReadsP95(t *testing.T) {
	ereg := prometheus.NewRegistry()
	em, err := emulator.New(emulator.Options{Class: "a", Profile: "2g.20gb", GPUInstanceID: "5", Pod: "reader-a-0",
		Namespace: "ml", Container: "reader", Concurrency: 64, ServiceMean: 40 * time.Millisecond,
		ServiceP95: 60 * time.Millisecond, Registerer: ereg, Gatherer: ereg})
	if err != nil {
		t.Fatal(err)
	}
	esrv := httptest.NewServer(em)
	defer esrv.Close()
	eaddr := esrv.Listener.Addr().String()
	r := startRouter(t, fmt.Sprintf(`models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]`, eaddr))
	raddr := strings.TrimPrefix(r.URL, "http://")

	prom := promtest.Start(t, promtest.Options{Targets: []string{raddr, eaddr}, ScrapeInterval: time.Second})

	// Prometheus starts scraping a few seconds after it reports ready; the
	// traffic must span several scrapes for rate() to see it.
	for _, target := range []string{raddr, eaddr} {
		if _, up := prom.WaitFor(t, `up{instance="`+target+`"} == 1`, 20*time.Second,
			func(_ float64, ok bool) bool { return ok }); !up {
			t.Fatalf("Prometheus never scraped %s\n%s", target, prom.Logs())
		}
	}

	// Traffic: 8 workers for 4 s, at most 2,000 requests.
	var sent, ok atomic.Int64
	stop := time.Now().Add(4 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lat []float64
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(stop) && sent.Add(1) <= 2000 {
				s := time.Now()
				if do(t, "POST", r.URL+"/v1/infer", keyAcme, map[string]string{"X-Model-Class": "a"}, "{}").code == 200 {
					ok.Add(1)
					mu.Lock()
					lat = append(lat, time.Since(s).Seconds())
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(lat)
	clientP95 := lat[len(lat)*95/100]
	n := float64(ok.Load())
	if n < 100 {
		t.Fatalf("only %v requests succeeded", n)
	}

	count, _ := prom.WaitFor(t, `sum(headroom_router_requests_total{class="a",tenant="acme",code="200"})`, 15*time.Second,
		func(v float64, ok bool) bool { return ok && v == n })
	if count != n {
		t.Fatalf("Prometheus counted %v requests, the clients %v\n%s", count, n, prom.Logs())
	}
	// The controller's query: p95 from the bucket rates. rate() covers the
	// scrapes that saw traffic, which on a loaded machine may be only the
	// tail of it, so this one must merely exist.
	const q = `histogram_quantile(0.95, sum by (le) (rate(headroom_router_request_duration_seconds_bucket{class="a",code="200"}[1m])))`
	rateP95, found := prom.WaitFor(t, q, 10*time.Second, func(v float64, ok bool) bool { return ok && v > 0 })
	if !found {
		t.Fatalf("no p95 from %s", q)
	}
	// The same quantile over the cumulative buckets covers every request the
	// clients timed, so it can be held to their p95: the estimate
	// interpolates inside the bucket holding it, and the router's clock
	// starts a little after the client's, so the bucket below counts too.
	const qAll = `histogram_quantile(0.95, sum by (le) (headroom_router_request_duration_seconds_bucket{class="a",code="200"}))`
	p95, found := prom.WaitFor(t, qAll, 10*time.Second, func(v float64, ok bool) bool { return ok && v > 0 })
	if !found {
		t.Fatalf("no p95 from %s", qAll)
	}
	i := sort.SearchFloat64s(DurationBuckets, clientP95)
	lo, hi := 0.0, DurationBuckets[min(i, len(DurationBuckets)-1)]
	if i >= 2 {
		lo = DurationBuckets[i-2]
	}
	if p95 < lo || p95 > hi {
		t.Errorf("p95 from Prometheus %.4f s, clients measured %.4f s: want within [%v, %v]", p95, clientP95, lo, hi)
	}
	// The emulator's p95 is 60 ms; the clients see that plus overhead.
	if clientP95 < 0.055 {
		t.Errorf("client p95 %.4f s is below the emulator's 60 ms", clientP95)
	}
	t.Logf("%v requests; p95 via PromQL %.1f ms (from rates %.1f ms), measured by the clients %.1f ms", n, p95*1000, rateP95*1000, clientP95*1000)

	qd, found := prom.WaitFor(t, `sum(rate(headroom_router_queue_duration_seconds_count{class="a"}[1m]))`, 5*time.Second,
		func(v float64, ok bool) bool { return ok && v > 0 })
	if !found || qd <= 0 {
		t.Errorf("no queue-duration samples")
	}
	if _, found := prom.WaitFor(t, `headroom_router_in_flight_requests{class="a"}`, 5*time.Second,
		func(_ float64, ok bool) bool { return ok }); !found {
		t.Errorf("no in-flight gauge")
	}
	used, found := prom.WaitFor(t, `DCGM_FI_DEV_FB_USED{GPU_I_PROFILE="2g.20gb",GPU_I_ID="5",pod="reader-a-0",namespace="ml",container="reader"}`,
		5*time.Second, func(v float64, ok bool) bool { return ok })
	if !found || used < 14336 || math.IsNaN(used) {
		t.Errorf("DCGM_FI_DEV_FB_USED = %v (found %v), want at least the model's 14336 MiB", used, found)
	}
}
