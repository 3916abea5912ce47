package prom

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/headroom-dev/headroom/internal/promtest"
	"github.com/headroom-dev/headroom/router"
	"github.com/headroom-dev/headroom/router/emulator"
	"github.com/headroom-dev/headroom/scaler"
)

// TestReadBackFromRealPrometheus runs the Debian prometheus binary
// scraping, every second, a real router in front of two emulated readers,
// two dcgm-style endpoints and an endpoint whose samples lag 6s behind
// (as remote-written or federated data can). It sends a known, bounded load
// on loopback and reads everything back through the adapter:
//
//   - rates within 5% (stable window, rate()) and 10% (panic window,
//     irate()) of what the clients counted; error share within 3 points;
//     quantiles within one histogram bucket of the emulators' service
//     times; in-flight by Little's law;
//   - an idle class is present with rate 0, not missing;
//   - GPU memory exactly, unknown pods, NaN and half rows dropped;
//   - stale series absent: lagging data past Staleness, a paused
//     dcgm-exporter, a router that stopped being scraped;
//   - Prometheus stopped: an error, never zeros.
func TestReadBackFromRealPrometheus(t *testing.T) {
	// Readers: a is log-normal (mean 40 ms, p95 60 ms), b constant 20 ms
	// with 10% injected 500s.
	emuA := startEmulator(t, emulator.Options{Class: "a", ServiceMean: 40 * time.Millisecond, ServiceP95: 60 * time.Millisecond, Concurrency: 64, Seed: 1})
	emuB := startEmulator(t, emulator.Options{Class: "b", ServiceMean: 20 * time.Millisecond, ServiceP95: 20 * time.Millisecond, Concurrency: 64, ErrorRate: 0.1, Seed: 2})
	rt, stopRouter := startRouter(t, emuA, emuB)
	node1 := startDCGM(t, dcgmNode1)
	node2 := startDCGM(t, dcgmNode2)
	lagging := startText(t, laggingRouterText(time.Now(), 6*time.Second))
	targets := []string{strings.TrimPrefix(rt, "http://"), addrOf(emuA), addrOf(emuB), addrOf(node1), addrOf(node2), addrOf(lagging)}
	prom := promtest.Start(t, promtest.Options{Targets: targets, ScrapeInterval: time.Second})
	for _, tg := range targets {
		waitUp(t, prom, tg, 1)
	}

	podClass := func(ns, pod string) (string, bool) {
		m := readerPod.FindStringSubmatch(pod)
		if ns != "ml" || m == nil {
			return "", false
		}
		return m[1], true
	}
	lenient := mustNew(t, Options{Address: prom.URL, MinRange: 3 * time.Second, PodClass: podClass})
	strict := mustNew(t, Options{Address: prom.URL, MinRange: 3 * time.Second, Staleness: 2500 * time.Millisecond, PodClass: podClass})

	// Load: 100/s to a and 50/s to b for 12 s (1,800 requests at most).
	const loadFor = 12 * time.Second
	start := time.Now()
	res := sendLoad(t, rt, map[string]float64{"a": 100, "b": 50}, loadFor)
	evalAt := start.Add(loadFor - time.Second)
	// Wait until Prometheus holds a router scrape past evalAt.
	if v, _ := prom.WaitFor(t, `timestamp(up{instance="`+strings.TrimPrefix(rt, "http://")+`"})`, 10*time.Second,
		func(v float64, ok bool) bool { return ok && v > float64(evalAt.UnixMilli())/1000+0.5 }); v == 0 {
		t.Fatalf("no router scrape after the evaluation time\n%s", prom.Logs())
	}

	t.Run("stable window", func(t *testing.T) {
		const window = 8 * time.Second
		got := statsByClass(t, lenient, evalAt, window)
		for _, class := range []string{"a", "b"} {
			s, ok := got[class]
			if !ok {
				t.Fatalf("class %s missing: %v", class, got)
			}
			ref := summarize(res, class, evalAt.Add(-window), evalAt)
			checkRel(t, class+" rate", s.Rate, ref.rate, 0.05)
			if d := math.Abs(s.ErrorRate - ref.errShare); d > 0.03 {
				t.Errorf("%s error share %.4f, the clients saw %.4f", class, s.ErrorRate, ref.errShare)
			}
			checkQuantiles(t, class, s, trueQuantiles[class], ref.quantiles)
			little := ref.rate * ref.meanLatency.Seconds()
			if s.InFlight < 0.4*little || s.InFlight > 2.5*little {
				t.Errorf("%s in-flight %.2f, Little's law gives %.2f", class, s.InFlight, little)
			}
			if age := evalAt.Sub(s.At); age < 0 || age > 1500*time.Millisecond {
				t.Errorf("%s At %v is %v before now, want the last scrape (within 1.5s)", class, s.At, age)
			}
			t.Logf("%s: rate %.2f/s (clients %.2f/s, %+.2f%%), p50/p95/p99 %.1f/%.1f/%.1f ms (clients %.1f/%.1f/%.1f, emulator %.1f/%.1f/%.1f), in-flight %.2f (Little %.2f), errors %.4f (clients %.4f)",
				class, s.Rate, ref.rate, 100*(s.Rate/ref.rate-1), ms(s.P50), ms(s.P95), ms(s.P99),
				1000*ref.quantiles[0], 1000*ref.quantiles[1], 1000*ref.quantiles[2],
				1000*trueQuantiles[class][0], 1000*trueQuantiles[class][1], 1000*trueQuantiles[class][2],
				s.InFlight, little, s.ErrorRate, ref.errShare)
		}
		if got["a"].ErrorRate != 0 {
			t.Errorf("a had no errors: share %v, want exactly 0", got["a"].ErrorRate)
		}
	})

	t.Run("panic window", func(t *testing.T) {
		const window = 2 * time.Second // < MinRange 3s: irate over 3s
		got := statsByClass(t, lenient, evalAt, window)
		for _, class := range []string{"a", "b"} {
			s, ok := got[class]
			if !ok {
				t.Fatalf("class %s missing: %v", class, got)
			}
			ref := summarize(res, class, evalAt.Add(-8*time.Second), evalAt)
			checkRel(t, class+" irate", s.Rate, ref.rate, 0.10)
			checkQuantiles(t, class, s, trueQuantiles[class], nil)
			t.Logf("%s: irate %.2f/s (clients %.2f/s, %+.2f%%), p95 %v", class, s.Rate, ref.rate, 100*(s.Rate/ref.rate-1), s.P95)
		}
	})

	t.Run("stale series", func(t *testing.T) {
		now := time.Now()
		// c lags 6s: present within 90s, absent within 2.5s.
		if got := statsByClass(t, lenient, now, 20*time.Second); !hasClasses(got, "a", "b", "c") {
			t.Errorf("lenient: %v, want a, b and c", keys(got))
		}
		if got := statsByClass(t, strict, now, 20*time.Second); !hasClasses(got, "a", "b") {
			t.Errorf("strict: %v, want a and b (c is 6s old)", keys(got))
		}
	})

	t.Run("idle class is zero, not missing", func(t *testing.T) {
		prom.WaitFor(t, `sum(rate(headroom_router_requests_total{class="a"}[3s]))`, 10*time.Second,
			func(v float64, ok bool) bool { return ok && v == 0 })
		s, ok := statsByClass(t, lenient, time.Now(), 3*time.Second)["a"]
		if !ok || s.Rate != 0 || s.P95 != 0 || s.ErrorRate != 0 {
			t.Errorf("idle a: %+v (present %v), want present with rate 0", s, ok)
		}
	})

	t.Run("gpu memory", func(t *testing.T) {
		got, err := lenient.GPUMemory(t.Context(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		want := []scaler.GPUMemory{
			{Node: "node-1", Pod: "reader-a-0", Class: "a", Profile: "3g.40gb", UsedMiB: 14336, FreeMiB: 26624},
			{Node: "node-1", Pod: "reader-b-0", Class: "b", Profile: "1g.10gb", UsedMiB: 5120, FreeMiB: 4864},
			{Node: "node-1", Pod: "reader-b-1", Class: "b", Profile: "whole", UsedMiB: 30000, FreeMiB: 51559},
			{Node: "node-1", Pod: "reader-c-0", Class: "c", Profile: "1g.10gb", UsedMiB: 7000, FreeMiB: 3000},
			{Node: "node-2", Pod: "reader-a-2", Class: "a", Profile: "2g.20gb", UsedMiB: 9000, FreeMiB: 11480},
		}
		if !slices.Equal(got, want) {
			t.Errorf("got  %+v\nwant %+v", got, want)
		}
		got, err = strict.GPUMemory(t.Context(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if w := slices.Delete(slices.Clone(want), 3, 4); !slices.Equal(got, w) {
			t.Errorf("strict (the 6s-old row absent):\n got  %+v\nwant %+v", got, w)
		}
		// node-2's exporter pauses (the MIG manager stops it to
		// re-partition): its rows go at the next failed scrape.
		node2.Close()
		waitUp(t, prom, addrOf(node2), 0)
		got, err = lenient.GPUMemory(t.Context(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if w := want[:4]; !slices.Equal(got, w) {
			t.Errorf("node-2 paused:\n got  %+v\nwant %+v", got, w)
		}
	})

	t.Run("router gone", func(t *testing.T) {
		stopRouter()
		waitUp(t, prom, strings.TrimPrefix(rt, "http://"), 0)
		got := statsByClass(t, lenient, time.Now(), 20*time.Second)
		if !hasClasses(got, "c") {
			t.Errorf("got %v, want only c: a and b are stale-marked", keys(got))
		}
	})

	t.Run("prometheus stopped", func(t *testing.T) {
		prom.Stop()
		stats, err := lenient.ClassStats(t.Context(), time.Now(), time.Minute)
		if err == nil || stats != nil {
			t.Errorf("class stats %v, err %v: want an error and nothing else", stats, err)
		}
		gpu, err := lenient.GPUMemory(t.Context(), time.Now())
		if err == nil || gpu != nil {
			t.Errorf("gpu %v, err %v: want an error and nothing else", gpu, err)
		}
		t.Logf("with Prometheus stopped: %v", err)
	})
}

var readerPod = regexp.MustCompile(`^reader-([a-z])-\d+$`)

// trueQuantiles are the emulators' service-time p50, p95, p99 in seconds.
var trueQuantiles = func() map[string][3]float64 {
	d, err := emulator.FitLogNormal(40*time.Millisecond, 60*time.Millisecond)
	if err != nil {
		panic(err)
	}
	return map[string][3]float64{
		"a": {d.Quantile(0.5).Seconds(), d.Quantile(0.95).Seconds(), d.Quantile(0.99).Seconds()},
		"b": {0.020, 0.020, 0.020},
	}
}()

// checkQuantiles holds p50 and p95 to the histogram bucket of the
// emulator's service-time quantile or a neighbour (histogram_quantile
// interpolates inside a bucket; the router adds its own small time), and,
// when clients is set, every quantile to the bucket of what the clients
// measured or a neighbour (the router's clock starts after theirs). The
// p99 is not held to the emulator: on a shared machine 1% of requests
// easily wait for a CPU, which the clients see as well.
func checkQuantiles(t *testing.T, class string, s scaler.ClassStats, emu [3]float64, clients []float64) {
	t.Helper()
	names := []string{"p50", "p95", "p99"}
	near := func(got, want float64) bool {
		gb, wb := bucketOf(got), bucketOf(want)
		return gb >= wb-1 && gb <= wb+1
	}
	for i, got := range []time.Duration{s.P50, s.P95, s.P99} {
		if i < 2 && !near(got.Seconds(), emu[i]) {
			t.Errorf("%s %s = %v, the emulator's %.1f ms: more than one bucket apart", class, names[i], got, emu[i]*1000)
		}
		if clients != nil && !near(got.Seconds(), clients[i]) {
			t.Errorf("%s %s = %v, the clients measured %.1f ms: more than one bucket apart", class, names[i], got, clients[i]*1000)
		}
	}
}

// bucketOf is the index of the router's histogram bucket holding v.
func bucketOf(v float64) int { return sort.SearchFloat64s(router.DurationBuckets, v) }

func checkRel(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if want <= 0 || math.Abs(got/want-1) > tol {
		t.Errorf("%s %.3f, want %.3f within %.0f%%", what, got, want, tol*100)
	}
}

func statsByClass(t *testing.T, c *Client, now time.Time, window time.Duration) map[string]scaler.ClassStats {
	t.Helper()
	stats, err := c.ClassStats(t.Context(), now, window)
	if err != nil {
		t.Fatalf("class stats (%v): %v", window, err)
	}
	m := map[string]scaler.ClassStats{}
	for _, s := range stats {
		m[s.Class] = s
	}
	return m
}

func hasClasses(m map[string]scaler.ClassStats, want ...string) bool {
	return slices.Equal(keys(m), want)
}

func keys(m map[string]scaler.ClassStats) []string {
	var k []string
	for c := range m {
		k = append(k, c)
	}
	slices.Sort(k)
	return k
}

func waitUp(t *testing.T, p *promtest.Server, target string, want float64) {
	t.Helper()
	if v, ok := p.WaitFor(t, `up{instance="`+target+`"}`, 20*time.Second,
		func(v float64, ok bool) bool { return ok && v == want }); !ok || v != want {
		t.Fatalf("up{instance=%q} = %v (found %v), want %v\n%s", target, v, ok, want, p.Logs())
	}
}

func addrOf(s *httptest.Server) string { return s.Listener.Addr().String() }

func startEmulator(t *testing.T, o emulator.Options) *httptest.Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Registerer, o.Gatherer = reg, reg
	e, err := emulator.New(o)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(e)
	t.Cleanup(s.Close)
	return s
}

const apiKey = "test-key"

// startRouter serves the router on loopback until the test ends (or stop)
// and returns its URL.
func startRouter(t *testing.T, a, b *httptest.Server) (url string, stop func()) {
	t.Helper()
	c, err := router.Parse([]byte(fmt.Sprintf(`
server: {disableAccessLog: true}
outlier: {consecutiveFailures: 1000000}
models:
  - {class: a, versions: [{name: v1, endpoints: [%q]}]}
  - {class: b, versions: [{name: v1, endpoints: [%q]}]}
tenants: [{name: acme, keySHA256: [%s]}]
`, addrOf(a), addrOf(b), router.HashKey(apiKey))))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	r, err := router.New(router.Options{Config: c, Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

type outcome struct {
	class string
	end   time.Time
	lat   time.Duration
	code  int
}

// sendLoad sends rate[class] requests per second to each class for d, paced
// open-loop: every tick fires what is due by then, so a late tick does not
// lower the rate. At most 256 requests are outstanding.
func sendLoad(t *testing.T, url string, rates map[string]float64, d time.Duration) []outcome {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: 256, DialContext: (&net.Dialer{}).DialContext}}
	defer client.CloseIdleConnections()
	var (
		mu  sync.Mutex
		out []outcome
		wg  sync.WaitGroup
	)
	sem := make(chan struct{}, 256)
	sent := map[string]int{}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for now := start; now.Sub(start) < d; now = <-tick.C {
		for class, rate := range rates {
			for due := int(now.Sub(start).Seconds() * rate); sent[class] < due; sent[class]++ {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					req, _ := http.NewRequest("POST", url+"/v1/infer", strings.NewReader("{}"))
					req.Header.Set("Authorization", "Bearer "+apiKey)
					req.Header.Set("X-Model-Class", class)
					s := time.Now()
					resp, err := client.Do(req)
					code := 0
					if err == nil {
						code = resp.StatusCode
						resp.Body.Close()
					}
					e := time.Now()
					mu.Lock()
					out = append(out, outcome{class, e, e.Sub(s), code})
					mu.Unlock()
				})
			}
		}
	}
	wg.Wait()
	return out
}

type summary struct {
	rate, errShare float64
	meanLatency    time.Duration
	quantiles      []float64 // p50, p95, p99 in seconds
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// summarize is what the clients saw of class in (from, to].
func summarize(res []outcome, class string, from, to time.Time) summary {
	var n, errs int
	var lat time.Duration
	var lats []float64
	for _, r := range res {
		if r.class != class || !r.end.After(from) || r.end.After(to) {
			continue
		}
		n++
		lat += r.lat
		lats = append(lats, r.lat.Seconds())
		if r.code >= 500 || r.code == 0 {
			errs++
		}
	}
	if n == 0 {
		return summary{}
	}
	slices.Sort(lats)
	q := func(p float64) float64 { return lats[min(len(lats)-1, int(p*float64(len(lats))))] }
	return summary{rate: float64(n) / to.Sub(from).Seconds(), errShare: float64(errs) / float64(n),
		meanLatency: lat / time.Duration(n), quantiles: []float64{q(0.5), q(0.95), q(0.99)}}
}

// dcgm rows as dcgm-exporter writes them with its Kubernetes mapping.
type dcgmRow struct {
	node, gpu, profile, id, ns, pod string
	used, free                      float64
	noFree                          bool
	lag                             time.Duration // > 0: explicit timestamp this far back
}

var dcgmNode1 = []dcgmRow{
	{node: "node-1", gpu: "0", profile: "3g.40gb", id: "1", ns: "ml", pod: "reader-a-0", used: 14336, free: 26624},
	{node: "node-1", gpu: "0", profile: "1g.10gb", id: "13", ns: "ml", pod: "reader-b-0", used: 5120, free: 4864},
	{node: "node-1", gpu: "0", profile: "1g.10gb", id: "11", ns: "ml", pod: "reader-c-0", used: 7000, free: 3000, lag: 6 * time.Second},
	{node: "node-1", gpu: "0", profile: "1g.10gb", id: "12", used: 0, free: 9984},                                       // idle slice, no pod
	{node: "node-1", gpu: "0", profile: "1g.10gb", id: "9", ns: "ml", pod: "stranger-0", used: 100, free: 9884},         // not a reader
	{node: "node-1", gpu: "0", profile: "1g.10gb", id: "10", ns: "ml", pod: "reader-a-1", used: 200, noFree: true},      // half a row
	{node: "node-1", gpu: "0", profile: "1g.10gb", id: "14", ns: "ml", pod: "reader-a-3", used: math.NaN(), free: 1000}, // NaN
	{node: "node-1", gpu: "1", profile: "", id: "", ns: "ml", pod: "reader-b-1", used: 30000, free: 51559},              // whole GPU
}

var dcgmNode2 = []dcgmRow{
	{node: "node-2", gpu: "0", profile: "2g.20gb", id: "5", ns: "ml", pod: "reader-a-2", used: 9000, free: 11480},
}

func startDCGM(t *testing.T, rows []dcgmRow) *httptest.Server {
	return startText(t, func() string {
		var b strings.Builder
		now := time.Now()
		for _, m := range []string{"DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"} {
			fmt.Fprintf(&b, "# HELP %s Framebuffer memory (in MiB).\n# TYPE %s gauge\n", m, m)
			for _, r := range rows {
				v := r.used
				if m == "DCGM_FI_DEV_FB_FREE" {
					if r.noFree {
						continue
					}
					v = r.free
				}
				fmt.Fprintf(&b, `%s{gpu=%q,UUID="GPU-%s-%s",device="nvidia%s",modelName="NVIDIA H100 80GB HBM3",Hostname=%q,GPU_I_PROFILE=%q,GPU_I_ID=%q,container="reader",namespace=%q,pod=%q} %s`,
					m, r.gpu, r.node, r.gpu, r.gpu, r.node, r.profile, r.id, r.ns, r.pod, strconv.FormatFloat(v, 'g', -1, 64))
				if r.lag > 0 {
					fmt.Fprintf(&b, " %d", now.Add(-r.lag).UnixMilli())
				}
				b.WriteByte('\n')
			}
		}
		return b.String()
	})
}

// laggingRouterText serves class c in the router's metric families with
// explicit timestamps lag behind the scrape: 10 requests/s, all 40 ms.
func laggingRouterText(start time.Time, lag time.Duration) func() string {
	return func() string {
		ts := time.Now().Add(-lag)
		n := math.Floor(10 * ts.Sub(start).Seconds())
		ms := ts.UnixMilli()
		l := `class="c",code="200",tenant="acme"`
		return fmt.Sprintf(`# TYPE headroom_router_requests_total counter
headroom_router_requests_total{%[1]s} %[2]g %[3]d
# TYPE headroom_router_request_duration_seconds histogram
headroom_router_request_duration_seconds_bucket{%[1]s,le="0.05"} %[2]g %[3]d
headroom_router_request_duration_seconds_bucket{%[1]s,le="+Inf"} %[2]g %[3]d
headroom_router_request_duration_seconds_sum{%[1]s} %[4]g %[3]d
headroom_router_request_duration_seconds_count{%[1]s} %[2]g %[3]d
# TYPE headroom_router_in_flight_requests gauge
headroom_router_in_flight_requests{class="c"} 2 %[3]d
`, l, n, ms, 0.04*n)
	}
}

func startText(t *testing.T, body func() string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(body()))
	}))
	t.Cleanup(s.Close)
	return s
}
