package simulations

import (
	"context"
	"errors"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
)

// DefaultBoundTarget is the share of requests within the latency target the
// static and clairvoyant controllers size for (99.5%, the outcome goal).
const DefaultBoundTarget = 99.5

// choice is where a sizing controller puts a class: one nodegroup and
// profile, the cheapest per request/s of capacity.
type choice struct {
	ng      string
	profile policies.ServiceProfile
	perNode int // replicas of the class one node holds
	price   float64
}

func cheapest(env Env, mc *policies.ModelClass) (choice, bool) {
	var best choice
	bestCost := math.Inf(1)
	names := make([]string, 0, len(env.NodeTemplates))
	for n := range env.NodeTemplates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		ng, ok := env.Policy.NodeGroup(name)
		if !ok || !classMayRun(mc, ng) {
			continue
		}
		it, _ := env.Catalog.Instance(ng.Spec.InstanceType)
		for _, p := range mc.Spec.Profiles {
			if p.GPU != it.GPU {
				continue
			}
			n := 0
			for _, s := range env.NodeTemplates[name] {
				if s.Profile == p.Profile && slotFits(env, mc, name, s) {
					n++
				}
			}
			if n == 0 {
				continue
			}
			price := it.Price(ng.Spec.CapacityType)
			perRPS := price / float64(n) * p.ServiceTime.Mean.Seconds() / float64(max(p.Concurrency, 1))
			if perRPS < bestCost {
				best, bestCost = choice{ng: name, profile: p, perNode: n, price: price}, perRPS
			}
		}
	}
	return best, !math.IsInf(bestCost, 1)
}

// need is the replicas class mc needs at rate on profile p to keep target %
// of requests within the SLO latency, by the scaler's own sizing model
// (scaler.SizeReplicas); when the service time alone cannot reach target,
// it sizes for the class's SLO percentile, then for 80% utilization.
func need(mc *policies.ModelClass, p policies.ServiceProfile, rate, target float64) int {
	if rate <= 0 {
		return max(mc.Spec.Scaling.MinReplicas, 0)
	}
	m := scaler.ServiceModel{Mean: p.ServiceTime.Mean.Duration, P95: p.ServiceTime.P95.Duration, Concurrency: p.Concurrency}
	maxR := max(mc.Spec.Scaling.MaxReplicas, 1)
	for _, pct := range []float64{target, mc.Spec.SLO.Percentile} {
		if s := scaler.SizeReplicas(rate, m, mc.Spec.SLO.Latency.Duration, pct, 100000); s.Replicas > 0 {
			return min(max(s.Replicas, mc.Spec.Scaling.MinReplicas), maxR)
		}
	}
	r := int(math.Ceil(rate * p.ServiceTime.Mean.Seconds() / float64(max(p.Concurrency, 1)) / 0.8))
	return min(max(r, mc.Spec.Scaling.MinReplicas), maxR)
}

// ---- static at peak ----

// NewStatic returns the static-provisioning baseline: every class runs the
// replicas its peak rate in the whole trace needs (sized like the bound),
// on nodes that are there from the start, and nothing ever changes.
func NewStatic(target float64) ControllerFactory {
	if target <= 0 {
		target = DefaultBoundTarget
	}
	return func(env Env) (Controller, error) {
		if env.Workload == nil {
			return nil, errors.New("static: needs the workload to find the peak")
		}
		s := &static{reps: map[string]int{}}
		for c, name := range env.Workload.Classes {
			mc, _ := env.Policy.Class(name)
			ch, ok := cheapest(env, mc)
			if !ok {
				return nil, errors.New("static: class " + name + " fits no nodegroup")
			}
			s.reps[name] = need(mc, ch.profile, env.Workload.MaxRate(c, 0, math.MaxInt64), target)
		}
		return s, nil
	}
}

type static struct{ reps map[string]int }

func (s *static) Name() string                          { return "static-peak" }
func (s *static) Interval() time.Duration               { return time.Hour }
func (s *static) Tick(context.Context, time.Time) error { return nil }
func (s *static) InitialReplicas(class string) int      { return s.reps[class] }

// ---- clairvoyant ----

// NewClairvoyant returns the clairvoyant bound: a controller that knows the
// whole workload. Each tick it sets every class to the most replicas its
// true rate needs (sized like the scaler sizes, for target % within the
// SLO) over the time a new replica takes to be ready (image pull + model
// load, x1.5 for their jitter, + one tick), and every nodegroup to the
// nodes those replicas need over a node's boot time on top; it drains
// nodes gracefully before removing them. It is the cheapest capacity that
// serves the trace within SLO given the boot and load delays, with the
// world's own placement rules; it does not foresee spot interruptions.
func NewClairvoyant(target float64) ControllerFactory {
	if target <= 0 {
		target = DefaultBoundTarget
	}
	return func(env Env) (Controller, error) {
		if env.Workload == nil {
			return nil, errors.New("clairvoyant: needs the workload")
		}
		cv := &clairvoyant{env: env, target: target, shr: newShrinker(env)}
		for c, name := range env.Workload.Classes {
			mc, _ := env.Policy.Class(name)
			ch, ok := cheapest(env, mc)
			if !ok {
				return nil, errors.New("clairvoyant: class " + name + " fits no nodegroup")
			}
			ng, _ := env.Policy.NodeGroup(ch.ng)
			podLead := time.Duration(1.5*float64(30*time.Second+mc.Spec.Model.LoadTime.Duration)) + cv.Interval()
			nodeLead := podLead + time.Duration(1.3*float64(ng.Spec.BootTime.Duration))
			cv.cls = append(cv.cls, cvClass{c: c, mc: mc, ch: ch, podLead: podLead, nodeLead: nodeLead})
		}
		return cv, nil
	}
}

type cvClass struct {
	c                 int
	mc                *policies.ModelClass
	ch                choice
	podLead, nodeLead time.Duration
}

type clairvoyant struct {
	env    Env
	target float64
	cls    []cvClass
	shr    *shrinker
}

func (cv *clairvoyant) Name() string            { return "clairvoyant" }
func (cv *clairvoyant) Interval() time.Duration { return 15 * time.Second }

func (cv *clairvoyant) replicasOver(k cvClass, from, to time.Duration) int {
	w := cv.env.Workload
	return need(k.mc, k.ch.profile, w.MaxRate(k.c, int64(from), int64(to)), cv.target)
}

func (cv *clairvoyant) InitialReplicas(class string) int {
	for _, k := range cv.cls {
		if k.mc.Name == class {
			return cv.replicasOver(k, 0, k.podLead)
		}
	}
	return 0
}

func (cv *clairvoyant) Tick(ctx context.Context, now time.Time) error {
	off := now.Sub(cv.env.Start)
	var errs []error
	nodes := map[string]float64{}
	perNode := map[string]int{}
	for _, k := range cv.cls {
		errs = append(errs, cv.env.Cluster.ScaleClass(ctx, k.mc.Name, cv.replicasOver(k, off, off+k.podLead)))
		key := k.ch.ng + "/" + k.ch.profile.Profile
		nodes[key] += float64(cv.replicasOver(k, off, off+k.nodeLead))
		perNode[key] = k.ch.perNode
	}
	want := map[string]int{}
	for key, r := range nodes {
		ng, _, _ := strings.Cut(key, "/")
		want[ng] += int(math.Ceil(r / float64(perNode[key])))
	}
	errs = append(errs, cv.shr.progress(ctx, now))
	groups, err := cv.env.Cloud.NodeGroups(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	snap, err := cv.env.Cluster.Snapshot(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, g := range groups {
		target := min(max(want[g.Name], g.Min), g.Max)
		have := g.Desired - cv.shr.pending(g.Name)
		switch {
		case target > g.Desired:
			errs = append(errs, cv.env.Cloud.SetDesiredSize(ctx, g.Name, target))
		case target < have:
			// drain the emptiest ready nodes
			cands := emptiest(snap, g.Name, cv.shr)
			for i := 0; i < have-target && i < len(cands); i++ {
				if err := cv.shr.remove(ctx, now, cands[i]); err != nil && !scaler.IsBlocked(err) {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// emptiest returns nodegroup ng's ready, uncordoned nodes, fewest pods first.
func emptiest(snap scaler.ClusterState, ng string, shr *shrinker) []scaler.Node {
	pods := map[string]int{}
	for _, p := range snap.Pods {
		pods[p.Node]++
	}
	var out []scaler.Node
	for _, n := range snap.Nodes {
		if n.NodeGroup == ng && n.Ready && !n.Cordoned && !shr.removing(n.Name) {
			out = append(out, n)
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		if pods[out[a].Name] != pods[out[b].Name] {
			return pods[out[a].Name] < pods[out[b].Name]
		}
		return out[a].Name > out[b].Name
	})
	return out
}
