package scaler

import (
	"fmt"
	"math"
	"testing"
	"time"
)

func p5Group(name, capacity string, maxNodes int) PackNodeGroup {
	return PackNodeGroup{Name: name, InstanceType: "p5.48xlarge", CapacityType: capacity, GPU: "H100-80GB", GPUs: 8, Mode: "mig-dynamic", Max: maxNodes, Price: 55.04}
}

func packClass(name string, replicas int) PackClass {
	return PackClass{Name: name, Replicas: replicas, Options: []PackOption{{GPU: "H100-80GB", Profile: "3g.40gb", MemoryGiB: 14}}}
}

func podsOn(class, node string, n int) []Pod {
	var out []Pod
	for i := range n {
		out = append(out, Pod{Name: fmt.Sprintf("%s-%d", class, i), Class: class, Node: node, Profile: "3g.40gb", Phase: PodReady})
	}
	return out
}

// Both packers agree on the simple cases the controller relies on.
func TestPackers(t *testing.T) {
	for _, pk := range []struct {
		name string
		p    Packer
	}{{"greedy", Greedy{}}, {"binpack", Binpack{}}} {
		t.Run(pk.name, func(t *testing.T) {
			for _, tc := range []struct {
				name     string
				req      PackRequest
				target   int
				unplaced int
			}{
				{"from scratch: 20 replicas of 3g.40gb need 2 nodes of 16 slots",
					PackRequest{AllowNew: true, NodeGroups: []PackNodeGroup{p5Group("od", "on-demand", 10)}, Classes: []PackClass{packClass("a", 20)}}, 2, 0},
				{"existing node has room",
					PackRequest{AllowNew: true, NodeGroups: []PackNodeGroup{p5Group("od", "on-demand", 10)}, Classes: []PackClass{packClass("a", 10)},
						Nodes: []PackNode{{Name: "n1", NodeGroup: "od", MIGConfig: "all-3g.40gb", Pods: podsOn("a", "n1", 4)}}}, 1, 0},
				{"max size caps, the rest is unplaced",
					PackRequest{AllowNew: true, NodeGroups: []PackNodeGroup{p5Group("od", "on-demand", 1)}, Classes: []PackClass{packClass("a", 20)}}, 1, 4},
				{"consolidation check: no new nodes",
					PackRequest{AllowNew: false, NodeGroups: []PackNodeGroup{p5Group("od", "on-demand", 10)}, Classes: []PackClass{packClass("a", 20)},
						Nodes: []PackNode{{Name: "n1", NodeGroup: "od", MIGConfig: "all-3g.40gb", Pods: podsOn("a", "n1", 16)}}}, 1, 4},
			} {
				t.Run(tc.name, func(t *testing.T) {
					res := pk.p.Pack(tc.req)
					un := 0
					for _, v := range res.Unplaced {
						un += v
					}
					if res.Targets["od"] != tc.target || (un > 0) != (tc.unplaced > 0) {
						t.Fatalf("target %d unplaced %d (%v), want %d and %d", res.Targets["od"], un, res.Reasons, tc.target, tc.unplaced)
					}
				})
			}
		})
	}
}

func TestPersistenceForecaster(t *testing.T) {
	p := NewPersistence(0.1, 5*time.Minute)
	if f := p.Predict("a", t0, time.Minute, 0.95); f.Upper != 0 || f.Reason == "" {
		t.Fatalf("empty forecast %+v", f)
	}
	p.Observe("a", t0, 100)
	p.Observe("a", t0.Add(time.Minute), 50)
	p.Observe("a", t0.Add(2*time.Minute), -1) // ignored
	f := p.Predict("a", t0.Add(2*time.Minute), time.Minute, 0.95)
	if f.Point != 50 || math.Abs(f.Upper-110) > 1e-9 {
		t.Fatalf("forecast %+v, want point 50 upper 110", f)
	}
}

func TestMIGConfigNames(t *testing.T) {
	h100 := defaultCatalog.GPUs["H100-80GB"]
	for _, tc := range []struct{ in, canonical string }{
		{"all-3g.40gb", "all-2x3g.40gb"},
		{"all-1g.10gb", "all-7x1g.10gb"},
		{"all-1x4g.40gb-1x3g.40gb", "all-1x4g.40gb-1x3g.40gb"},
		{"all-disabled", "all-disabled"},
	} {
		c, ok := layoutCounts(h100, tc.in)
		if !ok || MIGConfigName(c) != tc.canonical {
			t.Errorf("%s -> %v %v, want %s", tc.in, c, ok, tc.canonical)
		}
	}
	if uniformConfig(h100, "3g.40gb") != "all-2x3g.40gb" || !sameLayout(h100, "all-3g.40gb", "all-2x3g.40gb") {
		t.Error("uniform 3g.40gb")
	}
	for _, bad := range []string{"custom", "headroom-1234abcd", "all-", "all-0x3g.40gb", "all-ax3g.40gb"} {
		if _, ok := ParseMIGConfig(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
