package simulations

import (
	"context"
	"errors"
	"math"
	"sort"
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
	sized   policies.ServiceProfile // the slowest slice it may land on: what replicas are sized for
	perNode int                     // replicas of the class one node holds
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
		// the slice the world gives the class on this nodegroup: the
		// smallest fitting one in the node template
		var prof *policies.ServiceProfile
		size := math.Inf(1)
		n := 0
		for i, p := range mc.Spec.Profiles {
			if p.GPU != it.GPU {
				continue
			}
			k, u := 0, 0.0
			for _, s := range env.NodeTemplates[name] {
				if s.Profile == p.Profile && slotFits(env, mc, name, s) {
					k++
					u = s.UsableMiB
				}
			}
			if k > 0 && u < size {
				prof, size, n = &mc.Spec.Profiles[i], u, k
			}
		}
		if prof == nil {
			continue
		}
		price := it.Price(ng.Spec.CapacityType)
		perRPS := price / float64(n) * prof.ServiceTime.Mean.Seconds() / float64(max(prof.Concurrency, 1))
		if perRPS < bestCost {
			best, bestCost = choice{ng: name, profile: *prof, perNode: n, price: price}, perRPS
		}
	}
	return best, !math.IsInf(bestCost, 1)
}

// slowest returns the class's profile with the least capacity per replica
// among those its nodegroups offer: static provisioning sizes for the worst
// slice a replica may land on.
func slowest(env Env, mc *policies.ModelClass) (policies.ServiceProfile, bool) {
	var best policies.ServiceProfile
	found := false
	for _, ng := range env.Policy.NodeGroups {
		if !classMayRun(mc, &ng) {
			continue
		}
		for _, s := range env.NodeTemplates[ng.Name] {
			it, _ := env.Catalog.Instance(ng.Spec.InstanceType)
			for _, p := range mc.Spec.Profiles {
				if p.GPU != it.GPU || p.Profile != s.Profile || !slotFits(env, mc, ng.Name, s) {
					continue
				}
				c := float64(max(p.Concurrency, 1)) / p.ServiceTime.Mean.Seconds()
				if !found || c < float64(max(best.Concurrency, 1))/best.ServiceTime.Mean.Seconds() {
					best, found = p, true
				}
			}
		}
	}
	return best, found
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
		// Searching past maxR changes nothing (the answer is capped at it)
		// and costs O(replicas) per queue evaluated: a trace scaled by 1e6
		// took 20 s more.
		if s := scaler.SizeReplicas(rate, m, mc.Spec.SLO.Latency.Duration, pct, maxR); s.Replicas > 0 {
			return min(max(s.Replicas, mc.Spec.Scaling.MinReplicas), maxR)
		}
	}
	r := int(math.Ceil(rate * p.ServiceTime.Mean.Seconds() / float64(max(p.Concurrency, 1)) / 0.8))
	return min(max(r, mc.Spec.Scaling.MinReplicas), maxR)
}

// ---- static at peak ----

// NewStatic returns the static-provisioning baseline: every class runs the
// replicas its peak rate in the whole trace needs (sized like the bound,
// on the slowest slice it may land on),
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
			p, ok := slowest(env, mc)
			if !ok {
				return nil, errors.New("static: class " + name + " fits no nodegroup")
			}
			s.reps[name] = need(mc, p, env.Workload.MaxRate(c, 0, math.MaxInt64), target)
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
			if p, ok := slowest(env, mc); ok {
				ch.sized = p
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
	return need(k.mc, k.ch.sized, w.MaxRate(k.c, int64(from), int64(to)), cv.target)
}

func (cv *clairvoyant) InitialReplicas(class string) int {
	reps, _ := cv.plan(0, func(k cvClass) time.Duration { return k.podLead })
	return reps[class]
}

func (cv *clairvoyant) Tick(ctx context.Context, now time.Time) error {
	off := now.Sub(cv.env.Start)
	var errs []error
	reps, _ := cv.plan(off, func(k cvClass) time.Duration { return k.podLead })
	for _, k := range cv.cls {
		errs = append(errs, cv.env.Cluster.ScaleClass(ctx, k.mc.Name, reps[k.mc.Name]))
	}
	_, want := cv.plan(off, func(k cvClass) time.Duration { return k.nodeLead })
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

// plan places the capacity every class needs over its lead time from off,
// sized on the slowest slice the class may land on (so wherever the
// scheduler puts a replica, it serves at least that): first into the
// slots of the nodegroups' minimum nodes (paid for anyway), smallest slice
// first as the world's scheduler does; the rest on new
// nodes of the class's cheapest nodegroup, each class counting the
// fraction of a node its replicas fill. It returns the replicas per class
// and the nodes per nodegroup.
func (cv *clairvoyant) plan(off time.Duration, lead func(cvClass) time.Duration) (map[string]int, map[string]int) {
	free := map[string]map[string]int{} // nodegroup -> profile -> free slots on min nodes
	size := map[string]map[string]float64{}
	for _, ng := range cv.env.Policy.NodeGroups {
		free[ng.Name] = map[string]int{}
		size[ng.Name] = map[string]float64{}
		for _, s := range cv.env.NodeTemplates[ng.Name] {
			free[ng.Name][s.Profile] += ng.Spec.Size.Min
			size[ng.Name][s.Profile] = s.UsableMiB
		}
	}
	type opt struct {
		ng   string
		p    policies.ServiceProfile
		size float64
	}
	reps := map[string]int{}
	extra := map[string]float64{} // nodegroup -> nodes beyond the minimum
	for _, k := range cv.cls {
		units := float64(cv.replicasOver(k, off, off+lead(k)))
		var opts []opt
		for _, ng := range cv.env.Policy.NodeGroups {
			if !classMayRun(k.mc, &ng) {
				continue
			}
			it, _ := cv.env.Catalog.Instance(ng.Spec.InstanceType)
			for _, p := range k.mc.Spec.Profiles {
				if p.GPU == it.GPU && free[ng.Name][p.Profile] > 0 {
					opts = append(opts, opt{ng.Name, p, size[ng.Name][p.Profile]})
				}
			}
		}
		sort.SliceStable(opts, func(a, b int) bool { return opts[a].size < opts[b].size })
		n := 0
		for _, o := range opts {
			if units <= 0 {
				break
			}
			use := min(free[o.ng][o.p.Profile], int(math.Ceil(units)))
			free[o.ng][o.p.Profile] -= use
			units -= float64(use)
			n += use
		}
		if units > 0 {
			r := math.Ceil(units)
			extra[k.ch.ng] += r / float64(k.ch.perNode)
			n += int(r)
		}
		reps[k.mc.Name] = min(max(n, k.mc.Spec.Scaling.MinReplicas), max(k.mc.Spec.Scaling.MaxReplicas, 1))
	}
	want := map[string]int{}
	for _, ng := range cv.env.Policy.NodeGroups {
		want[ng.Name] = ng.Spec.Size.Min + int(math.Ceil(extra[ng.Name]-1e-9))
	}
	return reps, want
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

// ---- analytic lower bound ----

// LowerBound returns a cost no controller can go below on this workload,
// computed, not simulated: for every step of the workload's rate series,
// each class needs at least the replicas its rate needs on its fastest
// profile (sized like the bound, for target % within the SLO) and each
// replica costs at least the cheapest price per fitting slice of any
// nodegroup it may use; the cluster pays at least its nodegroups'
// minimum sizes. Step cost = max(minimum nodes, replicas x cheapest slice),
// summed over the steps. It ignores boot and load delays, bin-packing and
// whole nodes, so it is below what any real run costs; the clairvoyant
// run shows how close a perfect-foresight controller gets in the world.
func LowerBound(env Env, wl *Workload, target float64) float64 {
	if target <= 0 {
		target = DefaultBoundTarget
	}
	fixed := 0.0
	for _, ng := range env.Policy.NodeGroups {
		if it, ok := env.Catalog.Instance(ng.Spec.InstanceType); ok {
			fixed += float64(ng.Spec.Size.Min) * it.Price(ng.Spec.CapacityType)
		}
	}
	type cls struct {
		mc      *policies.ModelClass
		fastest policies.ServiceProfile
		slot    float64 // cheapest $/h per fitting slice
		memo    map[float64]int
	}
	var cs []cls
	for _, name := range wl.Classes {
		mc, _ := env.Policy.Class(name)
		k := cls{mc: mc, slot: math.Inf(1), memo: map[float64]int{}}
		best := 0.0
		for _, ng := range env.Policy.NodeGroups {
			if !classMayRun(mc, &ng) {
				continue
			}
			it, _ := env.Catalog.Instance(ng.Spec.InstanceType)
			for _, p := range mc.Spec.Profiles {
				if p.GPU != it.GPU {
					continue
				}
				n := 0
				for _, s := range env.NodeTemplates[ng.Name] {
					if s.Profile == p.Profile && slotFits(env, mc, ng.Name, s) {
						n++
					}
				}
				if n == 0 {
					continue
				}
				k.slot = math.Min(k.slot, it.Price(ng.Spec.CapacityType)/float64(n))
				if c := float64(max(p.Concurrency, 1)) / p.ServiceTime.Mean.Seconds(); c > best {
					best, k.fastest = c, p
				}
			}
		}
		if math.IsInf(k.slot, 1) {
			k.slot = 0
		}
		cs = append(cs, k)
	}
	hours := wl.Step.Hours()
	steps := 0
	if len(wl.Rates) > 0 {
		steps = len(wl.Rates[0])
	}
	total := 0.0
	for i := 0; i < steps; i++ {
		dt := hours
		if end := time.Duration(i+1) * wl.Step; end > wl.Duration {
			dt = (wl.Duration - time.Duration(i)*wl.Step).Hours()
		}
		reps := 0.0
		for c := range cs {
			k := &cs[c]
			rate := wl.Rates[c][i]
			n, ok := k.memo[rate]
			if !ok {
				n = need(k.mc, k.fastest, rate, target)
				k.memo[rate] = n
			}
			reps += float64(n) * k.slot
		}
		total += math.Max(fixed, reps) * dt
	}
	return round6(total)
}
