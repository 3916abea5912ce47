package scaler_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/scaler/fake"
)

// bigWorld is classes classes on nodes p5.48xlarge nodes (8 GPUs each, all
// 3g.40gb: 16 slots a node), every class with a few replicas and a rate.
func bigWorld(classes, nodes int, seed uint64) (*fake.World, *policies.Policy) {
	rng := rand.New(rand.NewPCG(seed, 2))
	w := fake.New()
	var cls []policies.ModelClass
	for i := range nodes {
		w.State.Nodes = append(w.State.Nodes, node(fmt.Sprintf("n%04d", i)))
	}
	slot := 0
	for i := range classes {
		name := fmt.Sprintf("class-%03d", i)
		cls = append(cls, testClass(name, 1, 200))
		reps := 1 + rng.IntN(8)
		for r := range reps {
			n := w.State.Nodes[(slot/16)%nodes].Name
			w.State.Pods = append(w.State.Pods, scaler.Pod{Name: fmt.Sprintf("%s-%d", name, r), Class: name, Node: n, Profile: "3g.40gb", Phase: scaler.PodReady})
			slot++
		}
		w.State.Deployments = append(w.State.Deployments, scaler.Deployment{Class: name, Replicas: reps})
		setRate(w, name, float64(reps)*60*(0.5+rng.Float64()), t0)
	}
	w.Groups = []scaler.NodeGroupState{{Name: "p5-od", Desired: nodes, Current: nodes, Max: 400}}
	pol := testPolicy(cls...)
	pol.NodeGroups[0].Spec.Size.Max = 400
	return w, pol
}

// BenchmarkTick is one full tick (observe through the fakes, forecast,
// sizing on every profile, panic, behaviors, packing, consolidation check,
// safety, act) for 200 classes on 1,000 GPUs (125 p5.48xlarge).
func BenchmarkTick(b *testing.B) {
	for _, size := range []struct {
		classes, nodes int
		packer         string
	}{{20, 13, "greedy"}, {200, 125, "greedy"}, {400, 250, "greedy"}, {200, 125, "binpack-ffd"}, {200, 125, "binpack"}} {
		b.Run(fmt.Sprintf("classes=%d/gpus=%d/packer=%s", size.classes, size.nodes*8, size.packer), func(b *testing.B) {
			w, pol := bigWorld(size.classes, size.nodes, 1)
			opts := scaler.Options{DryRun: true}
			switch size.packer {
			case "binpack":
				opts.Packer = scaler.Binpack{}
			case "binpack-ffd":
				opts.Packer = scaler.Binpack{FFD: true}
			}
			c := newController(b, w, pol, opts)
			i := 0
			for b.Loop() {
				now := t0.Add(time.Duration(i) * 15 * time.Second)
				for win, stats := range w.Stats {
					for j := range stats {
						w.Stats[win][j].At = now
					}
				}
				if _, err := c.Tick(context.Background(), now); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/tick")
			b.ReportMetric(float64(size.classes*b.N)/b.Elapsed().Seconds(), "classes/s")
		})
	}
}
