package simulations

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/simulations/trace"
)

func loadRef(t testing.TB) *policies.Policy {
	t.Helper()
	p, err := policies.Load("../examples/reference")
	if err != nil {
		t.Fatalf("loading reference policy: %v", err)
	}
	return p
}

// testWorld builds a world over the two-reader fleet with a constant-rate
// workload, ready for hand-driven steps.
func testWorld(t *testing.T, opt WorldOptions) (*World, Env) {
	t.Helper()
	p, err := policies.Load("testdata/policies/two-readers")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := p.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWorld(p, cat, opt.withDefaults(), time.Unix(0, 0).UTC(), 1)
	if err != nil {
		t.Fatal(err)
	}
	w.stats = newRunStats(w, 1)
	env := Env{Metrics: simMetrics{w}, Cluster: simCluster{w}, Cloud: simCloud{w}, Policy: p, Catalog: cat, Start: w.start}
	return w, env
}

// advance processes cold events up to t.
func advance(w *World, t int64) {
	for len(w.cold) > 0 && w.cold[0].t <= t {
		e := w.cold.pop()
		w.now = e.t
		w.handle(e)
		if w.dirty {
			w.runScheduler(false)
		}
	}
	w.now = t
}

func mustMIG(t *testing.T, name string) catalog.MIGConfig {
	t.Helper()
	cfg, err := catalog.ParseMIGConfigName(name, catalog.Default().GPUs["H100-80GB"])
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestMIGConfigs(t *testing.T) {
	w, env := testWorld(t, WorldOptions{})
	for _, c := range []struct {
		cfg     string
		want    map[string]int
		wantErr string
	}{
		{"all-1g.10gb", map[string]int{"1g.10gb": 7}, ""},
		{"all-3g.40gb", map[string]int{"3g.40gb": 2}, ""},
		{"all-disabled", map[string]int{}, ""},
		{"all-1x3g.40gb-1x2g.20gb-2x1g.10gb", map[string]int{"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}, ""},
		{"all-3x3g.40gb", nil, "does not fit"},
		{"all-9g.90gb", nil, "unknown MIG profile"},
		{"banana", nil, "must be published"},
		{"headroom-0000abcd", nil, "must be published"}, // not published
	} {
		got, err := w.migCounts(0, c.cfg)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: error %v, want %q", c.cfg, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.cfg, err)
			continue
		}
		for i := range got {
			if !maps.Equal(got[i], c.want) {
				t.Errorf("%s: GPU %d has %v, want %v", c.cfg, i, got[i], c.want)
			}
		}
	}
	// A mixed layout is readable only from what the controller published:
	// the MIG manager reads the same config, GPU by GPU.
	gpus := w.ngs[0].inst.GPUs
	per := make([]map[string]int, gpus)
	for i := range per {
		per[i] = map[string]int{"3g.40gb": 2}
	}
	per[0] = map[string]int{"1g.10gb": 7}
	mixed := catalog.NodeMIG(per)
	if _, err := w.migCounts(0, mixed.Name); err == nil {
		t.Fatalf("%s resolved before it was published", mixed.Name)
	}
	ctx := context.Background()
	if err := env.Cloud.SetDesiredSize(ctx, w.ngs[0].name, 1); err != nil {
		t.Fatal(err)
	}
	advance(w, int64(time.Hour))
	st, _ := env.Cluster.Snapshot(ctx)
	if err := env.Cluster.SetMIGConfig(ctx, st.Nodes[0].Name, mixed); err != nil {
		t.Fatal(err)
	}
	got, err := w.migCounts(0, mixed.Name)
	if err != nil || !maps.Equal(got[0], per[0]) || !maps.Equal(got[1], per[1]) {
		t.Errorf("published %s read back as %v, %v", mixed.Name, got, err)
	}
	if st, _ = env.Cluster.Snapshot(ctx); !st.MIGConfigs[mixed.Name].Same(mixed, gpus) {
		t.Errorf("the snapshot does not show the published config: %v", st.MIGConfigs)
	}
}

// A new pod is ready only after the node's boot, the image pull and the
// model load; a re-partition takes the nodegroup's repartition time.
func TestBootPullLoadAndRepartition(t *testing.T) {
	w, env := testWorld(t, WorldOptions{BootJitter: -1, LoadJitterS3: -1, LoadJitterEFS: -1, SpotShortfall: -1, SpotInterruptionsPerHour: -1})
	ctx := context.Background()
	if err := env.Cloud.SetDesiredSize(ctx, "h100-ondemand", 1); err != nil {
		t.Fatal(err)
	}
	if err := env.Cluster.ScaleClass(ctx, "reader-base", 1); err != nil {
		t.Fatal(err)
	}
	readyAt := func() time.Duration {
		for step := int64(0); step < int64(time.Hour); step += int64(time.Second) {
			advance(w, step)
			if len(w.ready[0]) > 0 {
				return time.Duration(step)
			}
		}
		return -1
	}
	// boot 6m + pull 30s + load 40s (reader-base is class 0: sorted by name)
	if got, want := readyAt(), 6*time.Minute+30*time.Second+40*time.Second; got != want {
		t.Errorf("first replica ready after %v, want %v", got, want)
	}
	st, _ := env.Cluster.Snapshot(ctx)
	node := st.Nodes[0].Name
	if err := env.Cluster.SetMIGConfig(ctx, node, mustMIG(t, "all-1g.10gb")); err != nil {
		t.Fatal(err)
	}
	if w.repartitions != 1 || w.interruptedPods != 1 {
		t.Errorf("repartitions %d, interrupted pods %d; want 1, 1", w.repartitions, w.interruptedPods)
	}
	st, _ = env.Cluster.Snapshot(ctx)
	if st.Nodes[0].MIGState != "pending" {
		t.Errorf("MIG state %q during re-partition, want pending", st.Nodes[0].MIGState)
	}
	t0 := w.now
	advance(w, t0+int64(2*time.Minute)-1)
	if len(w.ready[0]) != 0 {
		t.Error("replica ready before the re-partition finished")
	}
	advance(w, t0+int64(2*time.Minute))
	st, _ = env.Cluster.Snapshot(ctx)
	if st.Nodes[0].MIGState != "success" {
		t.Errorf("MIG state %q after 2m, want success", st.Nodes[0].MIGState)
	}
}

// Spot: the notice is visible two minutes before the node goes, and the
// group replaces it.
func TestSpotInterruption(t *testing.T) {
	w, env := testWorld(t, WorldOptions{SpotInterruptionsPerHour: 50, SpotShortfall: -1})
	ctx := context.Background()
	if err := env.Cloud.SetDesiredSize(ctx, "h100-spot", 1); err != nil {
		t.Fatal(err)
	}
	end := w.nodes[0].interrupt
	if end <= 0 {
		t.Fatal("no interruption drawn")
	}
	advance(w, end-int64(2*time.Minute)-1)
	if in, _ := env.Cloud.Interruptions(ctx, w.at(w.now)); len(in) != 0 {
		t.Errorf("notice before the 2-minute warning: %v", in)
	}
	advance(w, end-int64(2*time.Minute))
	in, _ := env.Cloud.Interruptions(ctx, w.at(w.now))
	if len(in) != 1 || !in[0].Terminates.Equal(w.at(end)) {
		t.Fatalf("interruptions %v, want one ending at %v", in, w.at(end))
	}
	advance(w, end)
	if w.nodes[0].state != nodeGone || w.spotInterruptions != 1 {
		t.Errorf("node state %v, interruptions %d", w.nodes[0].state, w.spotInterruptions)
	}
	if got := len(w.liveNodes(1)); got != 1 {
		t.Errorf("%d live spot nodes after the interruption, want the replacement", got)
	}
}

// Drain honours the class's disruption budget with ErrBlocked.
func TestDrainBlockedByBudget(t *testing.T) {
	w, env := testWorld(t, WorldOptions{})
	ctx := context.Background()
	w.stats.initial = true
	w.ngs[0].desired = 1
	w.launch(0, true)
	w.classes[1].replicas = 2 // reader-large, maxUnavailable 25% of 2 -> 1
	w.reconcileClass(1)
	w.runScheduler(true)
	w.stats.initial = false
	if len(w.ready[1]) != 2 {
		t.Fatalf("%d ready, want 2", len(w.ready[1]))
	}
	err := env.Cluster.Drain(ctx, w.nodes[0].name)
	if !scaler.IsBlocked(err) {
		t.Fatalf("drain: %v, want ErrBlocked", err)
	}
	if w.evictions != 1 {
		t.Errorf("%d evictions, want 1 (the budget allows one)", w.evictions)
	}
	if err := env.Cluster.Drain(ctx, "nope"); !scaler.IsNotFound(err) {
		t.Errorf("drain of a missing node: %v, want ErrNotFound", err)
	}
}

// Metrics reach the controller only after a scrape.
func TestMetricsAfterScrape(t *testing.T) {
	w, env := testWorld(t, WorldOptions{})
	ctx := context.Background()
	w.stats.arrival(0)
	w.stats.done(0, int64(50*time.Millisecond))
	st, _ := env.Metrics.ClassStats(ctx, w.at(int64(10*time.Second)), time.Minute)
	if len(st) != 0 {
		t.Fatalf("stats before the first scrape: %+v", st)
	}
	w.now = int64(15 * time.Second)
	w.stats.scrapeNow(w, w.now)
	st, _ = env.Metrics.ClassStats(ctx, w.at(w.now), time.Minute)
	if len(st) != 2 || st[0].Class != "reader-base" {
		t.Fatalf("stats %+v", st)
	}
	if math.Abs(st[0].Rate-1.0/15) > 1e-9 {
		t.Errorf("rate %v, want 1/15", st[0].Rate)
	}
	if d := st[0].P95 - 50*time.Millisecond; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("p95 %v, want about 50ms", st[0].P95)
	}
}

// Requests held at the router with no replica time out.
func TestRouterQueueTimeout(t *testing.T) {
	w, _ := testWorld(t, WorldOptions{QueueTimeout: 10 * time.Second})
	w.arrive(0, 0, 0.5)
	w.now = int64(11 * time.Second)
	w.expireRouterQueue()
	if a := w.stats.classes[0]; a.timeouts != 1 {
		t.Errorf("%v timeouts, want 1", a.timeouts)
	}
}

func TestParseMix(t *testing.T) {
	m, err := ParseMix("a=3, b=1")
	if err != nil || m["a"] != 3 || m["b"] != 1 {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"a", "a=x", "a=-1", "a=1,a=2", "=1"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q): no error", bad)
		}
	}
}

func TestWorkloadBadInput(t *testing.T) {
	tr := &trace.Trace{Format: trace.FormatRequests, Requests: []trace.Request{
		{Time: time.Unix(0, 0), Class: "a"}, {Time: time.Unix(10, 0), Class: "zzz"}}}
	_, err := NewWorkload(tr, WorkloadOptions{Classes: []string{"a"}})
	if !errors.Is(err, ErrUnknownClass) || !strings.Contains(err.Error(), "request 2") {
		t.Errorf("unknown class: %v", err)
	}
	tr.Requests[1].Class = "a"
	if _, err := NewWorkload(tr, WorkloadOptions{Classes: []string{"a"}, Scale: 1.5}); err == nil {
		t.Error("fractional scale of a per-request trace accepted")
	}
	if _, err := NewWorkload(tr, WorkloadOptions{Classes: []string{"a"}, Scale: 10, MaxArrivals: 5}); !trace.IsTooLarge(err) {
		t.Errorf("too many arrivals: %v", err)
	}
	if _, err := NewWorkload(tr, WorkloadOptions{Classes: []string{"a"}, Mix: Mix{"b": 1}}); !errors.Is(err, ErrUnknownClass) {
		t.Errorf("mix naming an unknown class: %v", err)
	}
	one := &trace.Trace{Format: trace.FormatRequests, Requests: []trace.Request{{Time: time.Unix(0, 0)}}}
	if _, err := NewWorkload(one, WorkloadOptions{Classes: []string{"a"}}); err == nil {
		t.Error("a trace spanning no time accepted")
	}
}

// Scaling a per-request trace keeps its shape: per-minute rates scale by k.
func TestScaleKeepsShape(t *testing.T) {
	tr, err := trace.ReadFile("testdata/traces/AzureLLMInferenceTrace_conv.csv", trace.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	one, _ := NewWorkload(tr, WorkloadOptions{Classes: []string{"a"}, Step: 10 * time.Minute})
	ten, _ := NewWorkload(tr, WorkloadOptions{Classes: []string{"a"}, Step: 10 * time.Minute, Scale: 10, Seed: 3})
	if len(ten.Times) != 10*len(one.Times) || !slices.IsSorted(ten.Times) {
		t.Fatalf("%d arrivals (sorted %v), want %d", len(ten.Times), slices.IsSorted(ten.Times), 10*len(one.Times))
	}
	for i := range one.Rates[0] {
		if r := ten.Rates[0][i] / one.Rates[0][i]; math.Abs(r-10) > 0.3 {
			t.Errorf("window %d: scaled rate x%.2f, want about x10", i, r)
		}
	}
}

// Property: histogram quantiles are within the bucket width (1/64) of the
// exact sample quantile.
func TestHistQuantileProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		xs := rapid.SliceOfN(rapid.Int64Range(1000, int64(time.Minute)), 1, 500).Draw(t, "latencies")
		h := newHist(6)
		for _, x := range xs {
			h.add(x, 1)
		}
		slices.Sort(xs)
		q := rapid.Float64Range(0.01, 0.99).Draw(t, "q")
		k := int(math.Ceil(q*float64(len(xs)))) - 1
		exact := float64(xs[max(k, 0)])
		got := float64(h.quantile(q))
		// the quantile lies in the exact sample's bucket or the one below it
		if got > exact*(1+1.0/32) || got < exact*(1-1.0/32)-1 {
			t.Fatalf("q%.2f = %v, exact %v", q, got, exact)
		}
	})
}

// Reports are written atomically: a failed write leaves no file.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out", "report.html")
	err := WriteFileAtomic(path, func(w io.Writer) error {
		_, _ = w.Write([]byte("half"))
		return errors.New("boom")
	})
	if err == nil {
		t.Fatal("no error")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("report exists after a failed write: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write([]byte("ok")); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, []byte("ok")) {
		t.Errorf("content %q", b)
	}
}

// TestWorkloadBoundsSteps: a rate trace of nanosecond windows, a step of a
// nanosecond, or a request trace over centuries is an error, not a
// makeslice panic or an out-of-memory crash.
func TestWorkloadBoundsSteps(t *testing.T) {
	epoch := time.Unix(0, 0)
	opts := WorkloadOptions{Classes: []string{"a"}}
	nano := &trace.Trace{Format: trace.FormatRates, Window: time.Nanosecond,
		Rates: []trace.RateWindow{{Start: epoch, Rate: 1}, {Start: epoch.Add(1), Rate: 1}, {Start: epoch.Add(1e16), Rate: 1}}}
	if _, err := NewWorkload(nano, opts); !trace.IsTooLarge(err) {
		t.Errorf("nanosecond windows: %v", err)
	}
	minute := &trace.Trace{Format: trace.FormatRates, Window: time.Minute,
		Rates: []trace.RateWindow{{Start: epoch, Rate: 1}, {Start: epoch.Add(30 * 24 * time.Hour), Rate: 1}}}
	if _, err := NewWorkload(minute, WorkloadOptions{Classes: []string{"a"}, Step: time.Nanosecond}); !trace.IsTooLarge(err) {
		t.Errorf("a 1ns step over a month: %v", err)
	}
	old := &trace.Trace{Format: trace.FormatRequests, Requests: []trace.Request{{Time: epoch}, {Time: epoch.AddDate(200, 0, 0)}}}
	if _, err := NewWorkload(old, opts); !trace.IsTooLarge(err) {
		t.Errorf("requests over 200 years: %v", err)
	}
}

// TestLoadScenarioEndlessInput: /dev/zero as a scenario is a size error,
// not a read until memory runs out.
func TestLoadScenarioEndlessInput(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	if _, err := LoadScenario("/dev/zero"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v", err)
	}
}
