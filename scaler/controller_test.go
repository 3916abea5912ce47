package scaler_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/scaler/fake"
)

var t0 = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

const (
	stable = 60 * time.Second
	short  = 6 * time.Second
)

func d(x time.Duration) policies.Duration { return policies.D(x) }

// testClass is a reader on H100 slices: 38ms mean on 3g.40gb, 26ms whole.
func testClass(name string, minR, maxR int) policies.ModelClass {
	return policies.ModelClass{Name: name, Spec: policies.ModelClassSpec{
		Model:     policies.ModelArtifact{Path: "/models/" + name, LoadTime: d(90 * time.Second)},
		GPUMemory: resource.MustParse("14Gi"),
		Profiles: []policies.ServiceProfile{
			{GPU: "H100-80GB", Profile: "3g.40gb", ServiceTime: policies.ServiceTime{Mean: d(38 * time.Millisecond), P95: d(70 * time.Millisecond)}, Concurrency: 4},
			{GPU: "H100-80GB", Profile: "whole", ServiceTime: policies.ServiceTime{Mean: d(26 * time.Millisecond), P95: d(48 * time.Millisecond)}, Concurrency: 6},
		},
		SLO:     policies.SLO{Latency: d(300 * time.Millisecond), Percentile: 95},
		Scaling: policies.Scaling{MinReplicas: minR, MaxReplicas: maxR},
	}}
}

func testPolicy(classes ...policies.ModelClass) *policies.Policy {
	return &policies.Policy{
		Cluster: policies.Cluster{Name: "test", Spec: policies.ClusterSpec{Disruption: policies.Disruption{MaxNodesDraining: 1, MaxUnavailable: "50%"}}},
		Classes: classes,
		NodeGroups: []policies.NodeGroup{
			{Name: "p5-od", Spec: policies.NodeGroupSpec{InstanceType: "p5.48xlarge", CapacityType: "on-demand", Size: policies.Size{Min: 0, Max: 20},
				GPU: policies.GPUConfig{Mode: policies.GPUModeMIGDynamic}}},
		},
	}
}

// node is a ready p5 node of group p5-od with every GPU in 3g.40gb.
func node(name string) scaler.Node {
	return scaler.Node{Name: name, NodeGroup: "p5-od", InstanceType: "p5.48xlarge", CapacityType: "on-demand", Ready: true,
		MIGConfig: "all-3g.40gb", MIGState: "success", Created: t0.Add(-time.Hour)}
}

func pods(class, nodeName string, n int) []scaler.Pod {
	var out []scaler.Pod
	for i := range n {
		out = append(out, scaler.Pod{Name: fmt.Sprintf("%s-%s-%d", class, nodeName, i), Class: class, Node: nodeName, Profile: "3g.40gb", Phase: scaler.PodReady, Started: t0.Add(-time.Hour)})
	}
	return out
}

func stats(class string, rate float64, at time.Time) scaler.ClassStats {
	return scaler.ClassStats{Class: class, At: at, Rate: rate, P50: 40 * time.Millisecond, P95: 80 * time.Millisecond, P99: 120 * time.Millisecond}
}

// setRate reports the same rate in both windows, fresh at now.
func setRate(w *fake.World, class string, rate float64, now time.Time) {
	if w.Stats == nil {
		w.Stats = map[time.Duration][]scaler.ClassStats{}
	}
	for _, win := range []time.Duration{stable, short} {
		w.Stats[win] = replace(w.Stats[win], stats(class, rate, now))
	}
}

func replace(s []scaler.ClassStats, v scaler.ClassStats) []scaler.ClassStats {
	for i := range s {
		if s[i].Class == v.Class {
			s[i] = v
			return s
		}
	}
	return append(s, v)
}

// world has one class "a" with current replicas on one node (16 slots).
func world(current int) *fake.World {
	w := fake.New()
	w.State.Nodes = []scaler.Node{node("n1")}
	w.State.Pods = pods("a", "n1", current)
	w.State.Deployments = []scaler.Deployment{{Class: "a", Replicas: current}}
	w.Groups = []scaler.NodeGroupState{{Name: "p5-od", Desired: 1, Current: 1, Min: 0, Max: 20}}
	return w
}

// newController builds a controller over the fake world. HEADROOM_PACKER=binpack
// runs the same tests with the binpack solver instead of the greedy packer.
func newController(t testing.TB, w *fake.World, pol *policies.Policy, opts scaler.Options) *scaler.Controller {
	t.Helper()
	if opts.Packer == nil && os.Getenv("HEADROOM_PACKER") == "binpack" {
		opts.Packer = scaler.Binpack{}
	}
	c, err := scaler.New(opts, pol, w, w, w, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tick(t testing.TB, c *scaler.Controller, now time.Time) scaler.Decision {
	t.Helper()
	dec, err := c.Tick(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range dec.Actions {
		if a.Reason == "" {
			t.Fatalf("action without reason: %+v", a)
		}
	}
	return dec
}

func scaleTo(t testing.TB, dec scaler.Decision, class string) (int, bool) {
	t.Helper()
	for _, a := range dec.Actions {
		if a.Kind == scaler.ActScaleClass && a.Target == class {
			var n int
			fmt.Sscan(a.To, &n)
			return n, true
		}
	}
	return 0, false
}

func TestTickScalesUpForLoad(t *testing.T) {
	w := world(2)
	setRate(w, "a", 1000, t0)
	c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{})
	dec := tick(t, c, t0)
	n, ok := scaleTo(t, dec, "a")
	cd, _ := dec.Class("a")
	// 1000 req/s x 1.1 margin x 38ms = 41.8 erlangs on 4-wide replicas: 11+;
	// HPA's up rate allows max(2x2, 2+4) = 6 at once.
	if !ok || n != 6 {
		t.Fatalf("scale to %d (ok=%v), want 6: %s\n%s", n, ok, cd.Reason, dec)
	}
	if cd.Needed < 5 || !strings.Contains(cd.Reason, "M/G/c") || !strings.Contains(cd.Reason, "rate limit") {
		t.Fatalf("reason lacks the numbers: needed %d, %q", cd.Needed, cd.Reason)
	}
	if got := w.CallsTo("ScaleClass"); len(got) != 1 || got[0].Args != "a=6" {
		t.Fatalf("ScaleClass calls %+v", got)
	}
}

func TestFailStatic(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(w *fake.World, now time.Time)
		want  string
	}{
		{"missing", func(w *fake.World, now time.Time) { w.Stats = nil }, "missing"},
		{"stale", func(w *fake.World, now time.Time) { setRate(w, "a", 1, now.Add(-10*time.Minute)) }, "stale"},
		{"nan", func(w *fake.World, now time.Time) { setRate(w, "a", nanRate(), now) }, "not a number"},
		{"negative (counter reset)", func(w *fake.World, now time.Time) { setRate(w, "a", -3, now) }, "negative"},
		{"read error", func(w *fake.World, now time.Time) {
			setRate(w, "a", 1, now)
			w.FailNext("ClassStats", errors.New("prometheus: 503"), errors.New("prometheus: 503"))
		}, "503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := world(10)
			c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{})
			for i := range 30 { // well past the 300s stabilization window
				now := t0.Add(time.Duration(i) * 15 * time.Second)
				tc.setup(w, now)
				dec := tick(t, c, now)
				if n, ok := scaleTo(t, dec, "a"); ok && n < 10 {
					t.Fatalf("tick %d scaled down to %d on bad data", i, n)
				}
				cd, _ := dec.Class("a")
				if cd.DataOK || !strings.Contains(cd.Reason+cd.DataReason, tc.want) {
					t.Fatalf("data ok=%v reason %q / %q, want mention of %q", cd.DataOK, cd.DataReason, cd.Reason, tc.want)
				}
			}
		})
	}
}

func nanRate() float64 { var z float64; return z / z }

func TestScaleDownIsStabilized(t *testing.T) {
	w := world(10)
	c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{})
	var firstDown time.Duration = -1
	for i := range 40 {
		now := t0.Add(time.Duration(i) * 15 * time.Second)
		setRate(w, "a", 10, now)
		dec := tick(t, c, now)
		if n, ok := scaleTo(t, dec, "a"); ok && n < 10 && firstDown < 0 {
			firstDown = now.Sub(t0)
			if n != 1 {
				t.Fatalf("scaled down to %d, want 1 (10 req/s needs one replica)", n)
			}
		}
	}
	if firstDown < 300*time.Second || firstDown > 315*time.Second {
		t.Fatalf("first scale-down after %v, want the 300s stabilization window", firstDown)
	}
}

func TestPanicModeReactsToShortWindowSpike(t *testing.T) {
	w := world(2)
	setRate(w, "a", 20, t0)
	c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{})
	tick(t, c, t0)
	// The stable window still shows 20 req/s; the last 6s show 600.
	now := t0.Add(15 * time.Second)
	w.Stats[stable] = replace(w.Stats[stable], stats("a", 20, now))
	w.Stats[short] = replace(w.Stats[short], stats("a", 600, now))
	dec := tick(t, c, now)
	cd, _ := dec.Class("a")
	n, ok := scaleTo(t, dec, "a")
	if !cd.Panicking || !ok || n <= 2 {
		t.Fatalf("panicking=%v scale to %d: %s", cd.Panicking, n, cd.Reason)
	}
	// The spike is gone but the class stays up while panicking.
	w.State.Deployments[0].Replicas = n
	for i := 2; i < 6; i++ {
		now := t0.Add(time.Duration(i) * 15 * time.Second)
		setRate(w, "a", 20, now)
		dec := tick(t, c, now)
		if m, ok := scaleTo(t, dec, "a"); ok && m < n {
			t.Fatalf("scaled down to %d while panicking", m)
		}
	}
}

func TestScheduledMinimum(t *testing.T) {
	cl := testClass("a", 1, 40)
	cl.Spec.Scaling.ScheduledMinimums = []policies.ScheduledMinimum{{Cron: "30 8 * * 1-5", TimeZone: "Europe/Berlin", Duration: d(10 * time.Hour), MinReplicas: 6}}
	w := world(2)
	c := newController(t, w, testPolicy(cl), scaler.Options{})
	at := time.Date(2026, 11, 30, 7, 31, 0, 0, time.UTC) // 08:31 in Berlin, Monday
	setRate(w, "a", 1, at)
	dec := tick(t, c, at)
	if n, _ := scaleTo(t, dec, "a"); n != 6 {
		t.Fatalf("scheduled minimum: scale to %d, want 6\n%s", n, dec)
	}
}

func TestDryRunActsOnNothing(t *testing.T) {
	w := world(2)
	setRate(w, "a", 400, t0)
	c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{DryRun: true})
	dec := tick(t, c, t0)
	if !dec.DryRun || dec.Count("", scaler.StatusDryRun) == 0 || len(w.CallsTo("ScaleClass")) != 0 {
		t.Fatalf("dry-run wrote: %+v\n%s", w.Calls, dec)
	}
}

func TestActionBudget(t *testing.T) {
	var classes []policies.ModelClass
	w := world(0)
	w.State.Pods, w.State.Deployments = nil, nil
	for i := range 5 {
		name := fmt.Sprintf("c%d", i)
		classes = append(classes, testClass(name, 2, 10))
		setRate(w, name, 1, t0)
	}
	c := newController(t, w, testPolicy(classes...), scaler.Options{MaxActionsPerTick: 3})
	dec := tick(t, c, t0)
	if got := len(w.CallsTo("ScaleClass")) + len(w.CallsTo("SetDesiredSize")); got != 3 {
		t.Fatalf("%d writes, want the budget of 3\n%s", got, dec)
	}
	if dec.Count("", scaler.StatusSkipped) == 0 {
		t.Fatal("nothing reported as held by the budget")
	}
}

func TestFailedWritesBackOffAndScaleDownWaits(t *testing.T) {
	w := world(16) // node full
	w.State.Nodes = append(w.State.Nodes, node("n2"))
	w.State.Pods = append(w.State.Pods, pods("b", "n2", 1)...)
	w.State.Deployments = append(w.State.Deployments, scaler.Deployment{Class: "b", Replicas: 1})
	w.Groups[0].Desired, w.Groups[0].Current = 2, 2
	setRate(w, "a", 4000, t0)
	setRate(w, "b", 1, t0)
	pol := testPolicy(testClass("a", 1, 60), testClass("b", 1, 40))
	c := newController(t, w, pol, scaler.Options{})
	w.FailNext("SetDesiredSize", fmt.Errorf("aws: %w", scaler.ErrThrottled))
	w.FailNext("ScaleClass", fmt.Errorf("apiserver: %w", scaler.ErrThrottled))
	dec := tick(t, c, t0)
	if dec.Count("", scaler.StatusFailed) == 0 {
		t.Fatalf("no failure reported\n%s", dec)
	}
	for _, a := range dec.Actions {
		if a.Down() && a.Status == scaler.StatusDone {
			t.Fatalf("scale-down %s ran in a tick whose scale-up failed\n%s", a.Kind, dec)
		}
	}
	// Next tick, 15s later, is still inside the backoff (15s x2 throttled).
	w.Reset()
	setRate(w, "a", 4000, t0.Add(15*time.Second))
	setRate(w, "b", 1, t0.Add(15*time.Second))
	dec = tick(t, c, t0.Add(15*time.Second))
	if len(w.CallsTo("SetDesiredSize")) != 0 || !strings.Contains(dec.String(), "backing off") {
		t.Fatalf("retried inside the backoff: %+v\n%s", w.Calls, dec)
	}
	w.Reset()
	setRate(w, "a", 4000, t0.Add(45*time.Second))
	setRate(w, "b", 1, t0.Add(45*time.Second))
	tick(t, c, t0.Add(45*time.Second))
	if len(w.CallsTo("SetDesiredSize")) != 1 {
		t.Fatalf("not retried after the backoff: %+v", w.Calls)
	}
}

func TestConsolidatesAnEmptyNode(t *testing.T) {
	w := world(4)
	w.State.Nodes = append(w.State.Nodes, node("n2"))
	w.Groups[0].Desired, w.Groups[0].Current = 2, 2
	c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{})
	var kinds []string
	for i := range 6 {
		now := t0.Add(time.Duration(i) * 15 * time.Second)
		setRate(w, "a", 200, now)
		dec := tick(t, c, now)
		for _, a := range dec.Actions {
			if a.Status == scaler.StatusDone && a.Kind != scaler.ActScaleClass && a.Kind != scaler.ActSetResources {
				kinds = append(kinds, string(a.Kind)+" "+a.Target)
			}
		}
	}
	want := []string{"cordon n2", "remove-node n2"}
	if strings.Join(kinds, ",") != strings.Join(want, ",") {
		t.Fatalf("actions %v, want %v", kinds, want)
	}
	if len(w.State.Nodes) != 1 || w.Groups[0].Desired != 1 {
		t.Fatalf("nodes %d desired %d after consolidation", len(w.State.Nodes), w.Groups[0].Desired)
	}
}

func TestDoNotDisruptAndPDB(t *testing.T) {
	w := world(4)
	n2 := node("n2")
	n2.DoNotDisrupt = true
	w.State.Nodes = append(w.State.Nodes, n2)
	w.Groups[0].Desired, w.Groups[0].Current = 2, 2
	c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{})
	for i := range 4 {
		now := t0.Add(time.Duration(i) * 15 * time.Second)
		setRate(w, "a", 200, now)
		tick(t, c, now)
	}
	if len(w.CallsTo("Cordon")) != 0 {
		t.Fatalf("disrupted a do-not-disrupt node: %+v", w.CallsTo("Cordon"))
	}
}

// relayoutWorld is world(16) plus an empty node n2 in all-1g.10gb, whose
// slices class a (14Gi, 3g.40gb) cannot use.
func relayoutWorld() *fake.World {
	w := world(16)
	n2 := node("n2")
	n2.MIGConfig = "all-1g.10gb"
	w.State.Nodes = append(w.State.Nodes, n2)
	w.Groups[0].Desired, w.Groups[0].Current = 2, 2
	return w
}

func TestMIGRelayoutProcedure(t *testing.T) {
	// An empty node in all-1g.10gb while class a (14Gi) needs 3g.40gb slots
	// that n1 no longer has.
	w := relayoutWorld()
	w.MIGPending = true
	c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{})
	var steps []string
	for i := range 8 {
		now := t0.Add(time.Duration(i) * 15 * time.Second)
		setRate(w, "a", 2500, now)
		if i == 4 {
			w.State.Nodes[1].MIGState = "success" // the MIG manager finished
		}
		dec := tick(t, c, now)
		w.State.Deployments[0].Replicas = 16 // keep demand on the pods we have
		for _, a := range dec.Actions {
			if a.Target == "n2" && a.Status == scaler.StatusDone {
				steps = append(steps, string(a.Kind))
			}
		}
	}
	want := "cordon,set-mig-config,uncordon"
	if strings.Join(steps, ",") != want {
		t.Fatalf("steps %v, want %s", steps, want)
	}
	if w.State.Nodes[1].MIGConfig != "all-2x3g.40gb" || w.State.Nodes[1].Cordoned {
		t.Fatalf("node after re-layout: %+v", w.State.Nodes[1])
	}
}

func TestSpotInterruptionReplacesThenDrains(t *testing.T) {
	w := world(8)
	w.Notices = []scaler.Interruption{{Node: "n1", Terminates: t0.Add(2 * time.Minute)}}
	c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{})
	setRate(w, "a", 200, t0)
	dec := tick(t, c, t0)
	var order []string
	for _, a := range dec.Actions {
		order = append(order, string(a.Kind)+":"+a.Status)
	}
	if got := w.CallsTo("SetDesiredSize"); len(got) != 1 || got[0].Args != "p5-od=2" {
		t.Fatalf("replacement not requested first: %v", order)
	}
	if len(w.CallsTo("Cordon")) != 1 || len(w.CallsTo("Drain")) != 0 {
		t.Fatalf("want cordon now and drain once the replacement is ready or 90s before termination: %v", order)
	}
	// 40s later: replacement still booting, 80s to termination < 90s lead: drain.
	now := t0.Add(40 * time.Second)
	setRate(w, "a", 200, now)
	tick(t, c, now)
	if len(w.CallsTo("Drain")) != 1 {
		t.Fatalf("not drained ahead of termination: %+v", w.Calls)
	}
}

// An interruption's steps race a fixed termination: a failed drain is
// retried every tick, not after a doubling backoff, and the drained node
// is removed with its group shrunk, so the group does not replace it a
// second time when the cloud takes it.
func TestSpotInterruptionRetriesEveryTickThenRemoves(t *testing.T) {
	w := world(8)
	w.Notices = []scaler.Interruption{{Node: "n1", Terminates: t0.Add(2 * time.Minute)}}
	c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{})
	at := func(d time.Duration) scaler.Decision {
		w.Reset()
		setRate(w, "a", 200, t0.Add(d))
		return tick(t, c, t0.Add(d))
	}
	at(0)
	// 40s: 80s to termination, drain; it fails twice (the API server
	// timing out), and each next tick tries again.
	for _, d := range []time.Duration{40 * time.Second, 55 * time.Second} {
		w.FailNext("Drain", errors.New("context deadline exceeded"))
		if dec := at(d); len(w.CallsTo("Drain")) != 1 {
			t.Fatalf("at %v: drain not tried\n%s", d, dec)
		}
	}
	if dec := at(70 * time.Second); len(w.CallsTo("Drain")) != 1 {
		t.Fatalf("drain held back after two failures, 50s before termination\n%s", dec)
	}
	dec := at(85 * time.Second)
	if got := w.CallsTo("RemoveNode"); len(got) != 1 {
		t.Fatalf("drained interrupted node not removed: %+v\n%s", w.Calls, dec)
	}
}

func TestNodeVanishesBetweenObserveAndAct(t *testing.T) {
	w := world(4)
	w.State.Nodes = append(w.State.Nodes, node("n2"))
	w.Groups[0].Desired, w.Groups[0].Current = 2, 2
	c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{})
	w.FailNext("Cordon", fmt.Errorf("node n2: %w", scaler.ErrNotFound))
	setRate(w, "a", 200, t0)
	dec := tick(t, c, t0)
	if !strings.Contains(dec.String(), "vanished") {
		t.Fatalf("vanished node not reported\n%s", dec)
	}
}

func TestPolicyChangedMidFlight(t *testing.T) {
	w := world(10)
	c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{})
	setRate(w, "a", 400, t0)
	tick(t, c, t0)
	if err := c.SetPolicy(testPolicy(testClass("a", 1, 4), testClass("new", 2, 4))); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(15 * time.Second)
	setRate(w, "a", 400, now)
	dec := tick(t, c, now)
	if n, _ := scaleTo(t, dec, "a"); n != 4 {
		t.Fatalf("new max not applied: %d\n%s", n, dec)
	}
	if n, _ := scaleTo(t, dec, "new"); n != 2 {
		t.Fatalf("new class not raised to its min: %d\n%s", n, dec)
	}
}

func TestMetricsAboutTheController(t *testing.T) {
	w := world(2)
	setRate(w, "a", 400, t0)
	reg := prometheus.NewRegistry()
	c, err := scaler.New(scaler.Options{}, testPolicy(testClass("a", 1, 40)), w, w, w, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Tick(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"headroom_scaler_forecast_rate", "headroom_scaler_observed_rate", "headroom_scaler_predicted_latency_seconds",
		"headroom_scaler_observed_latency_p95_seconds", "headroom_scaler_actions_total", "headroom_scaler_ticks_total"} {
		if !names[n] {
			t.Errorf("metric %s missing", n)
		}
	}
}

// GPU right-sizing: with observed p99 GPU memory of 8 GiB the class fits a
// 1g.20gb slice that still meets the SLO, so that becomes its preferred
// profile; the declared 14Gi alone would not rule it out either, but 30 GiB
// observed does.
func TestGPURightSizing(t *testing.T) {
	cl := testClass("a", 1, 40)
	cl.Spec.Profiles = append(cl.Spec.Profiles, policies.ServiceProfile{GPU: "H100-80GB", Profile: "1g.20gb",
		ServiceTime: policies.ServiceTime{Mean: d(90 * time.Millisecond), P95: d(160 * time.Millisecond)}, Concurrency: 2})
	for _, tc := range []struct {
		usedGiB float64
		want    string
	}{{8, "1g.20gb"}, {30, "3g.40gb"}, {60, "whole"}} {
		w := world(2)
		c := newController(t, w, testPolicy(cl), scaler.Options{})
		var dec scaler.Decision
		for i := range 12 {
			now := t0.Add(time.Duration(i) * 15 * time.Second)
			setRate(w, "a", 50, now)
			w.GPU = []scaler.GPUMemory{{Node: "n1", Pod: "a-n1-0", Class: "a", Profile: "3g.40gb", UsedMiB: tc.usedGiB * 1024}}
			dec = tick(t, c, now)
		}
		cd, _ := dec.Class("a")
		if cd.PreferredProfile != tc.want || cd.NeedGiB < tc.usedGiB*1.1 {
			t.Errorf("used %.0f GiB: preferred %q (need %.1f GiB: %s), want %q", tc.usedGiB, cd.PreferredProfile, cd.NeedGiB, cd.ProfileReason, tc.want)
		}
	}
}

type panicky struct{ scaler.Forecaster }

func (panicky) Predict(string, time.Time, time.Duration, float64) scaler.Forecast {
	panic("forecaster bug")
}

// A bug inside a tick is recovered and reported; the next tick runs.
func TestTickRecoversFromPanic(t *testing.T) {
	w := world(2)
	setRate(w, "a", 100, t0)
	f := &panicky{scaler.NewPersistence(0.1, time.Minute)}
	c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{Forecaster: f})
	dec, err := c.Tick(context.Background(), t0)
	if err != nil || !strings.Contains(strings.Join(dec.NotDone, ";"), "forecaster bug") {
		t.Fatalf("err %v, not done %v", err, dec.NotDone)
	}
	f.Forecaster = nil
	c2 := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{})
	if _, err := c2.Tick(context.Background(), t0.Add(15*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// SetPolicy from another goroutine while the loop ticks (run with -race).
func TestSetPolicyConcurrentWithTick(t *testing.T) {
	w := world(2)
	c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			_ = c.SetPolicy(testPolicy(testClass("a", 1, 10+i)))
		}
	}()
	for i := range 20 {
		now := t0.Add(time.Duration(i) * 15 * time.Second)
		setRate(w, "a", 100, now)
		if _, err := c.Tick(context.Background(), now); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}

// Vertical: after an hour of usage the class gets a recommendation (p90 +
// 15%), written once; OOM kills raise memory and write again.
func TestVerticalRecommendationWritten(t *testing.T) {
	w := world(2)
	c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{})
	for i := range 30 {
		now := t0.Add(time.Duration(i) * 5 * time.Minute)
		setRate(w, "a", 100, now)
		w.Usage = []scaler.PodUsage{{Pod: "a-n1-0", Class: "a", CPUCores: 2, MemoryBytes: 4 << 30, OOMKilled: i >= 20}}
		tick(t, c, now)
		got := len(w.CallsTo("SetResources"))
		switch {
		case i < 12 && got != 0:
			t.Fatalf("tick %d: recommendation before an hour of history", i)
		case i >= 13 && i < 20 && got != 1:
			t.Fatalf("tick %d: %d SetResources calls, want 1 (unchanged recommendations are not rewritten)", i, got)
		}
	}
	calls := w.CallsTo("SetResources")
	if len(calls) < 2 || !strings.HasPrefix(calls[0].Args, "a cpu=2.3") {
		t.Fatalf("calls %+v: want cpu about 2.3 then an OOM bump", calls)
	}
}

// A burst the stable window averages away leaves a queue in the window's
// p95; the latency correction must not read it as slower replicas, or
// the next quiet hour is sized for it. The same p95 at a short rate the
// replicas carry easily does move the multiplier.
func TestCorrectionIgnoresSaturatedWindows(t *testing.T) {
	pol := testPolicy(testClass("a", 1, 40))
	for _, tc := range []struct {
		name      string
		shortRate float64
		moves     bool
	}{
		{"short window over capacity", 900, false}, // 8 x 4 servers at 38ms: 842 req/s
		{"short window within capacity", 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := world(8)
			c := newController(t, w, pol, scaler.Options{})
			now := t0
			for range 4 {
				setRate(w, "a", 200, now)
				slow := stats("a", tc.shortRate, now)
				w.Stats[short] = replace(w.Stats[short], slow)
				// A p95 of 2s: the queue behind the burst.
				s := stats("a", 200, now)
				s.P95 = 2 * time.Second
				w.Stats[stable] = replace(w.Stats[stable], s)
				now = now.Add(15 * time.Second)
				tick(t, c, now.Add(-15*time.Second))
			}
			cd, _ := tick(t, c, now).Class("a")
			if moved := cd.Multiplier > 1.01; moved != tc.moves {
				t.Fatalf("multiplier %.3f, moved %v, want moved %v (%s)", cd.Multiplier, moved, tc.moves, cd.Reason)
			}
		})
	}
}

// A re-layout drains a node: voluntary disruption, which waits for a
// disruption window like consolidation does (before, it started at any
// time of day, so the binpack packer re-partitioned nodes all day).
func TestMIGRelayoutWaitsForWindow(t *testing.T) {
	w := relayoutWorld()
	w.MIGPending = true
	pol := testPolicy(testClass("a", 1, 40))
	pol.Cluster.Spec.Disruption.Windows = []policies.Window{{Cron: "0 20 * * *", Duration: d(time.Hour)}} // t0 is 08:00
	c := newController(t, w, pol, scaler.Options{})
	for i := range 4 {
		now := t0.Add(time.Duration(i) * 15 * time.Second)
		setRate(w, "a", 2500, now)
		dec := tick(t, c, now)
		w.State.Deployments[0].Replicas = 16
		if len(w.CallsTo("Cordon")) != 0 {
			t.Fatalf("re-layout started outside the window: %v", dec)
		}
		if !strings.Contains(strings.Join(dec.NotDone, "\n"), "no disruption window is open") {
			t.Fatalf("tick does not say the re-layout waits: %v", dec.NotDone)
		}
	}
	evening := t0.Add(12 * time.Hour)
	setRate(w, "a", 2500, evening)
	tick(t, c, evening)
	if got := w.CallsTo("Cordon"); len(got) != 1 || got[0].Args != "n2=true" {
		t.Fatalf("inside the window: cordon calls %+v, want n2", got)
	}
}

// flipPacker is the greedy packer with a re-layout of one node forced on
// every tick, alternating between two configs: a plan that keeps
// changing its mind.
type flipPacker struct {
	node string
	n    *int
}

func (f flipPacker) Pack(req scaler.PackRequest) scaler.PackResult {
	res := scaler.Greedy{}.Pack(req)
	*f.n++
	counts := map[string]int{"3g.40gb": 2}
	if *f.n%2 == 0 {
		counts = map[string]int{"1g.10gb": 7}
	}
	res.Layouts = map[string]catalog.MIGConfig{f.node: catalog.UniformMIG(counts)}
	return res
}

// A node that was re-laid out is not re-laid out again within the payback
// window, however often the plan asks.
func TestRelayoutHysteresis(t *testing.T) {
	w := relayoutWorld()
	calls := 0
	c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{Packer: flipPacker{node: "n2", n: &calls}})
	for i := range 40 { // 10 minutes
		now := t0.Add(time.Duration(i) * 15 * time.Second)
		setRate(w, "a", 2500, now)
		tick(t, c, now)
		w.State.Deployments[0].Replicas = 16
		for i := range w.State.Nodes {
			w.State.Nodes[i].MIGState = "success" // the MIG manager is quick
		}
	}
	if got := len(w.CallsTo("SetMIGConfig")); got != 1 {
		t.Fatalf("%d re-layouts of n2 in 10 minutes, want 1", got)
	}
}
