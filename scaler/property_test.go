package scaler_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/scaler/fake"
)

var writeMethods = []string{"ScaleClass", "SetResources", "Cordon", "Drain", "SetMIGConfig", "SetDesiredSize", "RemoveNode",
	"ClassStats", "Snapshot", "NodeGroups", "Interruptions", "GPUMemory", "PodUsage"}

// Over random policies, snapshots, bad metrics and injected failures, for
// many ticks: the loop never panics, never goes below min or above max,
// never scales down a class whose data is missing, never has more nodes
// voluntarily cordoned than the disruption budget, and every action has a
// reason.
func TestPlanInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nClasses := rapid.IntRange(1, 4).Draw(t, "classes")
		nNodes := rapid.IntRange(0, 5).Draw(t, "nodes")
		budget := rapid.IntRange(1, 2).Draw(t, "maxNodesDraining")
		w := fake.New()
		w.Stats = map[time.Duration][]scaler.ClassStats{}
		var classes []policies.ModelClass
		for i := range nNodes {
			n := node(fmt.Sprintf("n%d", i))
			n.MIGConfig = rapid.SampledFrom([]string{"all-3g.40gb", "all-1g.10gb", "all-disabled", ""}).Draw(t, "mig")
			n.DoNotDisrupt = rapid.IntRange(0, 4).Draw(t, "dnd") == 0
			w.State.Nodes = append(w.State.Nodes, n)
		}
		for i := range nClasses {
			name := fmt.Sprintf("c%d", i)
			minR := rapid.IntRange(0, 3).Draw(t, "min")
			maxR := rapid.IntRange(max(minR, 1), 20).Draw(t, "max")
			cl := testClass(name, minR, maxR)
			if rapid.Bool().Draw(t, "scheduled") {
				cl.Spec.Scaling.ScheduledMinimums = []policies.ScheduledMinimum{{Cron: "0 * * * *", Duration: d(30 * time.Minute), MinReplicas: rapid.IntRange(1, 25).Draw(t, "schedMin")}}
			}
			classes = append(classes, cl)
			cur := rapid.IntRange(0, 25).Draw(t, "current")
			for r := range cur {
				if nNodes == 0 {
					break
				}
				nn := w.State.Nodes[rapid.IntRange(0, nNodes-1).Draw(t, "podNode")].Name
				phase := rapid.SampledFrom([]string{scaler.PodReady, scaler.PodReady, scaler.PodLoading, scaler.PodPending}).Draw(t, "phase")
				w.State.Pods = append(w.State.Pods, scaler.Pod{Name: fmt.Sprintf("%s-%d", name, r), Class: name, Node: nn, Profile: "3g.40gb", Phase: phase})
			}
			w.State.Deployments = append(w.State.Deployments, scaler.Deployment{Class: name, Replicas: cur})
		}
		w.Groups = []scaler.NodeGroupState{{Name: "p5-od", Desired: nNodes, Current: nNodes, Max: 20}}
		pol := testPolicy(classes...)
		// Extra nodegroups: spot MIG, whole L40S, time-sliced L4, fixed MIG.
		extra := []policies.NodeGroup{
			{Name: "p5-spot", Spec: policies.NodeGroupSpec{InstanceType: "p5.48xlarge", CapacityType: "spot", Size: policies.Size{Max: 10}, GPU: policies.GPUConfig{Mode: policies.GPUModeMIGDynamic}}},
			{Name: "g6e-whole", Spec: policies.NodeGroupSpec{InstanceType: "g6e.12xlarge", Size: policies.Size{Max: 10}, GPU: policies.GPUConfig{Mode: policies.GPUModeWhole}}},
			{Name: "g6-ts", Spec: policies.NodeGroupSpec{InstanceType: "g6.xlarge", Size: policies.Size{Max: 10}, GPU: policies.GPUConfig{Mode: policies.GPUModeTimeSliced, Replicas: 4}}},
			{Name: "p5-fixed", Spec: policies.NodeGroupSpec{InstanceType: "p5.48xlarge", Size: policies.Size{Min: 0, Max: 5}, GPU: policies.GPUConfig{Mode: policies.GPUModeMIGFixed,
				Layout: &policies.NamedLayout{Name: "mixed", Devices: map[string]int{"4g.40gb": 1, "3g.40gb": 1}}}}},
		}
		for _, g := range extra {
			if rapid.Bool().Draw(t, "group-"+g.Name) {
				pol.NodeGroups = append(pol.NodeGroups, g)
				n := rapid.IntRange(0, 2).Draw(t, "nodes-"+g.Name)
				w.Groups = append(w.Groups, scaler.NodeGroupState{Name: g.Name, Desired: n, Current: n, Max: g.Spec.Size.Max})
				for j := range n {
					nd := scaler.Node{Name: fmt.Sprintf("%s-%d", g.Name, j), NodeGroup: g.Name, InstanceType: g.Spec.InstanceType, Ready: rapid.IntRange(0, 4).Draw(t, "ready") > 0,
						CapacityType: g.Spec.CapacityType, MIGState: "success"}
					if g.Spec.GPU.Mode == policies.GPUModeMIGFixed {
						nd.MIGConfig = "mixed"
					}
					w.State.Nodes = append(w.State.Nodes, nd)
				}
			}
		}
		for i := range pol.Classes {
			cl := &pol.Classes[i]
			cl.Spec.Profiles = append(cl.Spec.Profiles,
				policies.ServiceProfile{GPU: "L40S-48GB", Profile: "whole", ServiceTime: policies.ServiceTime{Mean: d(60 * time.Millisecond), P95: d(110 * time.Millisecond)}, Concurrency: 2},
				policies.ServiceProfile{GPU: "L4-24GB", Profile: "timesliced", ServiceTime: policies.ServiceTime{Mean: d(150 * time.Millisecond), P95: d(250 * time.Millisecond)}, Concurrency: 1},
				policies.ServiceProfile{GPU: "H100-80GB", Profile: "4g.40gb", ServiceTime: policies.ServiceTime{Mean: d(30 * time.Millisecond), P95: d(55 * time.Millisecond)}, Concurrency: 4})
			cl.Spec.Placement.Spot = rapid.SampledFrom([]string{"", "never", "allowed", "preferred"}).Draw(t, "spot")
			cl.Spec.Placement.MinOnDemandFraction = rapid.SampledFrom([]float64{0, 0.5, 1}).Draw(t, "odFrac")
		}
		pol.Cluster.Spec.Disruption.MaxNodesDraining = budget
		opts := scaler.Options{DryRun: rapid.IntRange(0, 5).Draw(t, "dry") == 0}
		if os.Getenv("HEADROOM_PACKER") == "binpack" {
			opts.Packer = scaler.Binpack{}
		}
		c, err := scaler.New(opts, pol, w, w, w, nil, nil)
		if err != nil {
			t.Fatal(err)
		}

		for i := range 12 {
			now := t0.Add(time.Duration(i) * 15 * time.Second)
			bad := map[string]bool{}
			for _, cl := range classes {
				switch rapid.IntRange(0, 7).Draw(t, "data") {
				case 0: // missing
					for _, win := range []time.Duration{stable, short} {
						w.Stats[win] = removeStats(w.Stats[win], cl.Name)
					}
					bad[cl.Name] = true
				case 1:
					setRate(w, cl.Name, math.NaN(), now)
					bad[cl.Name] = true
				case 2:
					setRate(w, cl.Name, -5, now)
					bad[cl.Name] = true
				case 3:
					setRate(w, cl.Name, 10, now.Add(-time.Hour))
					bad[cl.Name] = true
				default:
					setRate(w, cl.Name, rapid.Float64Range(0, 3000).Draw(t, "rate"), now)
				}
			}
			if rapid.IntRange(0, 3).Draw(t, "fault") == 0 {
				m := rapid.SampledFrom(writeMethods).Draw(t, "method")
				w.FailNext(m, rapid.SampledFrom([]error{scaler.ErrThrottled, scaler.ErrNotFound, scaler.ErrBlocked, scaler.ErrConflict, errors.New("boom")}).Draw(t, "err"))
				if m == "ClassStats" {
					for _, cl := range classes {
						bad[cl.Name] = true // the first window's read fails
					}
				}
			}
			if len(w.State.Nodes) > 0 && rapid.IntRange(0, 9).Draw(t, "notice") == 0 {
				w.Notices = append(w.Notices, scaler.Interruption{Node: w.State.Nodes[0].Name, Terminates: now.Add(2 * time.Minute)})
			}
			before := map[string]int{}
			for _, dp := range w.State.Deployments {
				before[dp.Class] = dp.Replicas
			}
			podsBefore := append([]scaler.Pod(nil), w.State.Pods...)
			dec, err := c.Tick(context.Background(), now)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range dec.Actions {
				if a.Reason == "" {
					t.Fatalf("tick %d: action without reason %+v", i, a)
				}
			}
			for _, cd := range dec.Classes {
				if cd.Held {
					continue
				}
				if cd.Desired < cd.Floor || cd.Desired > cd.Max {
					t.Fatalf("tick %d: %s desired %d outside [%d,%d]: %s", i, cd.Class, cd.Desired, cd.Floor, cd.Max, cd.Reason)
				}
				if !cd.DataOK && cd.Desired < cd.Current && cd.Current <= cd.Max {
					t.Fatalf("tick %d: %s scaled down %d -> %d without data: %s", i, cd.Class, cd.Current, cd.Desired, cd.Reason)
				}
			}
			for _, call := range w.CallsTo("ScaleClass") {
				var name string
				var n int
				fmt.Sscanf(strings.Replace(call.Args, "=", " ", 1), "%s %d", &name, &n)
				cl, _ := pol.Class(name)
				if call.Err == nil && (n < 0 || n > cl.Spec.Scaling.MaxReplicas) {
					t.Fatalf("tick %d: ScaleClass %s outside [0,%d]", i, call.Args, cl.Spec.Scaling.MaxReplicas)
				}
				if bad[name] && n < before[name] && before[name] <= cl.Spec.Scaling.MaxReplicas {
					t.Fatalf("tick %d: ScaleClass %s down from %d on bad data", i, call.Args, before[name])
				}
			}
			// Voluntary drains evict at most maxUnavailable (50% in
			// testPolicy, at least 1) of a class's desired replicas per tick.
			evicted := map[string]int{}
			for _, call := range w.CallsTo("Drain") {
				if call.Err != nil || noticed(w, call.Args) {
					continue
				}
				for _, p := range podsBefore {
					if p.Node == call.Args {
						evicted[p.Class]++
					}
				}
			}
			for _, cd := range dec.Classes {
				allow := max(1, (cd.Desired+1)/2)
				if evicted[cd.Class] > allow {
					t.Fatalf("tick %d: %d replicas of %s evicted, budget %d\n%s", i, evicted[cd.Class], cd.Class, allow, dec)
				}
			}
			w.Reset()
			cordoned := 0
			for _, n := range w.State.Nodes {
				if n.Cordoned && !noticed(w, n.Name) {
					cordoned++
				}
			}
			if cordoned > budget {
				t.Fatalf("tick %d: %d nodes voluntarily cordoned, budget %d\n%s", i, cordoned, budget, dec)
			}
		}
	})
}

func noticed(w *fake.World, node string) bool {
	for _, n := range w.Notices {
		if n.Node == node {
			return true
		}
	}
	return false
}

func removeStats(s []scaler.ClassStats, class string) []scaler.ClassStats {
	out := s[:0]
	for _, v := range s {
		if v.Class != class {
			out = append(out, v)
		}
	}
	return out
}

// The Loop ticks on its clock every interval and stops with its context;
// run inside a synctest bubble, so 2 minutes of loop take no real time.
func TestLoopTicksOnInjectedClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := world(2)
		start := time.Now()
		setRate(w, "a", 100, start)
		c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{Interval: 15 * time.Second})
		var mu sync.Mutex
		var at []time.Time
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		loop := &scaler.Loop{Controller: c, OnDecision: func(d scaler.Decision) {
			mu.Lock()
			defer mu.Unlock()
			at = append(at, d.At)
			setRate(w, "a", 100, d.At.Add(15*time.Second))
		}}
		go func() { done <- loop.Run(ctx) }()
		time.Sleep(2*time.Minute + time.Second)
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
		if len(at) != 9 {
			t.Fatalf("%d ticks in 2m at 15s, want 9 (0s..120s)", len(at))
		}
		for i := 1; i < len(at); i++ {
			if at[i].Sub(at[i-1]) != 15*time.Second {
				t.Fatalf("tick %d after %v", i, at[i].Sub(at[i-1]))
			}
		}
	})
}
