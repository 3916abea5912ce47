package scaler

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

func p5Group(name, capacity string, maxNodes int) PackNodeGroup {
	return PackNodeGroup{Name: name, InstanceType: "p5.48xlarge", CapacityType: capacity, GPU: "H100-80GB", GPUs: 8, Mode: "mig-dynamic", Max: maxNodes, Price: 55.04}
}

func packClass(name string, replicas int) PackClass {
	return PackClass{Name: name, Replicas: replicas, Options: []PackOption{{GPU: "H100-80GB", Profile: "3g.40gb", MemoryGiB: 14}}}
}

// uniformMIG fills every H100 GPU with one profile.
func uniformMIG(profile string) catalog.MIGConfig {
	cfg, err := catalog.ParseMIGConfigName("all-"+profile, defaultCatalog.GPUs["H100-80GB"])
	if err != nil {
		panic(err)
	}
	return cfg
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
						Nodes: []PackNode{{Name: "n1", NodeGroup: "od", MIG: uniformMIG("3g.40gb"), Pods: podsOn("a", "n1", 4)}}}, 1, 0},
				{"max size caps, the rest is unplaced",
					PackRequest{AllowNew: true, NodeGroups: []PackNodeGroup{p5Group("od", "on-demand", 1)}, Classes: []PackClass{packClass("a", 20)}}, 1, 4},
				{"consolidation check: no new nodes",
					PackRequest{AllowNew: false, NodeGroups: []PackNodeGroup{p5Group("od", "on-demand", 10)}, Classes: []PackClass{packClass("a", 20)},
						Nodes: []PackNode{{Name: "n1", NodeGroup: "od", MIG: uniformMIG("3g.40gb"), Pods: podsOn("a", "n1", 16)}}}, 1, 4},
				{"consolidation check: the on-demand share does not move to spot",
					PackRequest{AllowNew: false, NodeGroups: []PackNodeGroup{p5Group("od", "on-demand", 10), p5Group("spot", "spot", 10)},
						Classes: []PackClass{{Name: "a", Replicas: 8, MinOnDemandFraction: 0.5, Options: packClass("a", 0).Options}},
						Nodes:   []PackNode{{Name: "s1", NodeGroup: "spot", MIG: uniformMIG("3g.40gb")}}}, 0, 4},
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

// Every replica is placed or reported, no nodegroup goes over its max, and
// a class that never runs on spot gets no spot-only placement, for both
// packers over random requests.
func TestPackerProperties(t *testing.T) {
	for _, pk := range []struct {
		name string
		p    Packer
	}{{"greedy", Greedy{}}, {"binpack-ffd", Binpack{FFD: true}}} {
		t.Run(pk.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				req := PackRequest{AllowNew: rapid.Bool().Draw(t, "allowNew")}
				req.NodeGroups = []PackNodeGroup{p5Group("od", "on-demand", rapid.IntRange(1, 6).Draw(t, "odMax")), p5Group("spot", "spot", rapid.IntRange(1, 6).Draw(t, "spotMax"))}
				req.NodeGroups[1].Price = 22
				profiles := []string{"1g.10gb", "2g.20gb", "3g.40gb", "whole"}
				for i := range rapid.IntRange(1, 5).Draw(t, "classes") {
					c := PackClass{Name: fmt.Sprintf("c%d", i), Replicas: rapid.IntRange(0, 40).Draw(t, "replicas"),
						Spot: rapid.SampledFrom([]string{"never", "allowed", "preferred"}).Draw(t, "spot")}
					for _, p := range profiles {
						if rapid.Bool().Draw(t, "use-"+p) {
							c.Options = append(c.Options, PackOption{GPU: "H100-80GB", Profile: p, MemoryGiB: 8})
						}
					}
					if len(c.Options) == 0 {
						c.Options = []PackOption{{GPU: "H100-80GB", Profile: "3g.40gb", MemoryGiB: 8}}
					}
					req.Classes = append(req.Classes, c)
				}
				for i := range rapid.IntRange(0, 4).Draw(t, "nodes") {
					g := rapid.SampledFrom([]string{"od", "spot"}).Draw(t, "nodeGroup")
					n := PackNode{Name: fmt.Sprintf("n%d", i), NodeGroup: g, MIG: rapid.SampledFrom([]catalog.MIGConfig{{}, uniformMIG("3g.40gb"), uniformMIG("1g.10gb"), catalog.MIGDisabled()}).Draw(t, "config")}
					req.Nodes = append(req.Nodes, n)
				}
				res := pk.p.Pack(req)
				for _, g := range req.NodeGroups {
					existing := 0
					for _, n := range req.Nodes {
						if n.NodeGroup == g.Name {
							existing++
						}
					}
					// Nodes already there may exceed a lowered max; new ones may not.
					if res.Targets[g.Name] > max(g.Max, existing) {
						t.Fatalf("%s target %d over max %d (%d nodes exist)", g.Name, res.Targets[g.Name], g.Max, existing)
					}
				}
				for _, c := range req.Classes {
					if c.Replicas > 0 && res.Placed[c.Name]+res.Unplaced[c.Name] < c.Replicas {
						t.Fatalf("%s: %d placed + %d unplaced < %d wanted (%v)", c.Name, res.Placed[c.Name], res.Unplaced[c.Name], c.Replicas, res.Reasons)
					}
				}
			})
		})
	}
}
