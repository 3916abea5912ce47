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

// SlotTemplate is one GPU instance of a new node of a nodegroup, as the
// Cluster Autoscaler reads a node template from the group.
type SlotTemplate struct {
	GPU       int
	Profile   string
	UsableMiB float64
}

// ---- HPA + Cluster Autoscaler ----

// HPAOptions configure the HPA + Cluster Autoscaler baseline. Defaults are
// Kubernetes' (autoscaling/v2 and cluster-autoscaler v1.x).
type HPAOptions struct {
	// Metric is "rps" (requests/s per replica, default) or "inflight"
	// (requests in flight per replica).
	Metric string
	// Name is the run's name in results; default "hpa-ca". A sweep over
	// targets names each run, e.g. "hpa-ca@0.5".
	Name string
	// Utilization sets the per-replica target as a share of a replica's
	// capacity on the slowest slice it may land on: rps target =
	// Utilization x concurrency / mean service time; inflight target =
	// Utilization x concurrency. Default 0.7.
	Utilization float64
	// SyncPeriod of the HPA, default 15s; Tolerance default 0.1;
	// ScaleDownStabilization default 300s.
	SyncPeriod             time.Duration
	Tolerance              float64
	ScaleDownStabilization time.Duration
	// ScanInterval of the Cluster Autoscaler, default 10s;
	// ScaleDownUnneeded default 10m; ScaleDownUtilization default 0.5;
	// ScaleDownDelayAfterAdd default 10m.
	ScanInterval           time.Duration
	ScaleDownUnneeded      time.Duration
	ScaleDownUtilization   float64
	ScaleDownDelayAfterAdd time.Duration
}

func (o HPAOptions) withDefaults() HPAOptions {
	if o.Metric == "" {
		o.Metric = "rps"
	}
	if o.Utilization <= 0 {
		o.Utilization = defaultHPAUtilization
	}
	if o.SyncPeriod <= 0 {
		o.SyncPeriod = 15 * time.Second
	}
	if o.Tolerance <= 0 {
		o.Tolerance = 0.1
	}
	if o.ScaleDownStabilization <= 0 {
		o.ScaleDownStabilization = 300 * time.Second
	}
	if o.ScanInterval <= 0 {
		o.ScanInterval = 10 * time.Second
	}
	if o.ScaleDownUnneeded <= 0 {
		o.ScaleDownUnneeded = 10 * time.Minute
	}
	if o.ScaleDownUtilization <= 0 {
		o.ScaleDownUtilization = 0.5
	}
	if o.ScaleDownDelayAfterAdd <= 0 {
		o.ScaleDownDelayAfterAdd = 10 * time.Minute
	}
	return o
}

// defaultHPAUtilization is the HPA target when none is given: 70% of a
// replica's capacity, a common production setting.
const defaultHPAUtilization = 0.7

// NewHPACA returns the HPA + Cluster Autoscaler baseline factory.
func NewHPACA(o HPAOptions) ControllerFactory {
	o = o.withDefaults()
	return func(env Env) (Controller, error) {
		h := &hpaca{env: env, o: o, replicas: map[string]int{}, recs: map[string][]rec{}, target: map[string]policies.ServiceProfile{},
			unneeded: map[string]time.Time{}, shr: newShrinker(env)}
		return h, nil
	}
}

type rec struct {
	t time.Time
	n int
}

type hpaca struct {
	env      Env
	o        HPAOptions
	replicas map[string]int
	recs     map[string][]rec                   // HPA recommendations, for stabilization
	target   map[string]policies.ServiceProfile // the slice each class's target is set for
	lastHPA  time.Time
	lastCA   time.Time
	lastAdd  time.Time
	unneeded map[string]time.Time
	shr      *shrinker
	started  bool
}

func (h *hpaca) Name() string {
	if h.o.Name != "" {
		return h.o.Name
	}
	return "hpa-ca"
}
func (h *hpaca) Interval() time.Duration { return 5 * time.Second }

func (h *hpaca) Tick(ctx context.Context, now time.Time) error {
	var errs []error
	if !h.started || now.Sub(h.lastHPA) >= h.o.SyncPeriod {
		h.lastHPA = now
		errs = append(errs, h.hpa(ctx, now))
	}
	if !h.started || now.Sub(h.lastCA) >= h.o.ScanInterval {
		h.lastCA = now
		errs = append(errs, h.ca(ctx, now))
	}
	h.started = true
	return errors.Join(errs...)
}

// hpa runs the autoscaling/v2 algorithm for each class: desired =
// ceil(current x metric/target) outside the tolerance, with not-yet-ready
// pods counted at zero usage when scaling up; scale-up limited to
// max(+100%, +4 pods) per period; scale-down to the highest recommendation
// of the stabilization window.
func (h *hpaca) hpa(ctx context.Context, now time.Time) error {
	stats, err := h.env.Metrics.ClassStats(ctx, now, time.Minute)
	if err != nil {
		return err
	}
	snap, err := h.env.Cluster.Snapshot(ctx)
	if err != nil {
		return err
	}
	ready := map[string]int{}
	total := map[string]int{}
	for _, p := range snap.Pods {
		total[p.Class]++
		if p.Phase == scaler.PodReady {
			ready[p.Class]++
		}
	}
	var errs []error
	for _, st := range stats {
		mc, ok := h.env.Policy.Class(st.Class)
		if !ok {
			continue
		}
		cur, ok := h.replicas[st.Class]
		if !ok {
			cur = total[st.Class]
		}
		// The per-replica target is set for the slowest slice a replica may
		// land on, as an SRE would for a Deployment spread over hardware.
		prof, ok := h.target[st.Class]
		if !ok {
			if prof, ok = slowest(h.env, mc); !ok {
				prof = mc.Spec.Profiles[0]
			}
			h.target[st.Class] = prof
		}
		conc := float64(max(prof.Concurrency, 1))
		metric, target := st.Rate, h.o.Utilization*conc/prof.ServiceTime.Mean.Seconds()
		if h.o.Metric == "inflight" {
			metric, target = st.InFlight, h.o.Utilization*conc
		}
		desired := cur
		if r := ready[st.Class]; r > 0 {
			ratio := metric / float64(r) / target
			switch {
			case math.Abs(ratio-1) <= h.o.Tolerance:
			case ratio > 1:
				all := max(cur, r)
				ratio2 := metric / float64(all) / target // unready pods at zero usage
				if ratio2 > 1+h.o.Tolerance {
					desired = int(math.Ceil(ratio2 * float64(all)))
				}
			default:
				desired = int(math.Ceil(ratio * float64(r)))
			}
		} else if cur == 0 && metric > 0 {
			desired = 1
		}
		desired = min(max(desired, mc.Spec.Scaling.MinReplicas), max(mc.Spec.Scaling.MaxReplicas, 1))
		// scale-down stabilization: the highest recommendation in the window
		rs := append(h.recs[st.Class], rec{now, desired})
		k := 0
		for k < len(rs) && now.Sub(rs[k].t) > h.o.ScaleDownStabilization {
			k++
		}
		rs = rs[k:]
		h.recs[st.Class] = rs
		if desired < cur {
			for _, r := range rs {
				desired = max(desired, r.n)
			}
			desired = min(desired, cur)
		}
		if desired > cur {
			desired = min(desired, max(2*cur, cur+4))
		}
		h.replicas[st.Class] = desired
		if desired != total[st.Class] {
			errs = append(errs, h.env.Cluster.ScaleClass(ctx, st.Class, desired))
		}
	}
	return errors.Join(errs...)
}

// ca runs the Cluster Autoscaler: pending pods that fit no upcoming node
// scale up the cheapest nodegroup that fits them (the "price" expander);
// nodes below the utilization threshold whose pods fit elsewhere are
// removed after being unneeded for ScaleDownUnneeded, drained first.
func (h *hpaca) ca(ctx context.Context, now time.Time) error {
	snap, err := h.env.Cluster.Snapshot(ctx)
	if err != nil {
		return err
	}
	groups, err := h.env.Cloud.NodeGroups(ctx)
	if err != nil {
		return err
	}
	up, err := scaleUp(ctx, h.env, snap, groups)
	if up {
		h.lastAdd = now
	}
	if err != nil {
		return err
	}
	if err := h.shr.progress(ctx, now); err != nil {
		return err
	}
	if !h.lastAdd.IsZero() && now.Sub(h.lastAdd) < h.o.ScaleDownDelayAfterAdd {
		return nil
	}
	// scale-down candidates
	free := freeSlots(h.env, snap)
	podsOn := map[string][]scaler.Pod{}
	for _, p := range snap.Pods {
		if p.Node != "" {
			podsOn[p.Node] = append(podsOn[p.Node], p)
		}
	}
	sizes := map[string]int{}
	for _, g := range groups {
		sizes[g.Name] = g.Desired - h.shr.pending(g.Name)
	}
	for _, n := range snap.Nodes {
		if !n.Ready || n.Cordoned || h.shr.removing(n.Name) {
			delete(h.unneeded, n.Name)
			continue
		}
		tmpl := h.env.templates()[n.NodeGroup]
		if len(tmpl) == 0 {
			continue
		}
		util := float64(len(podsOn[n.Name])) / float64(len(tmpl))
		ng, _ := h.env.Policy.NodeGroup(n.NodeGroup)
		if util >= h.o.ScaleDownUtilization || ng == nil || sizes[n.NodeGroup] <= ng.Spec.Size.Min ||
			!fitsElsewhere(podsOn[n.Name], n.Name, free) {
			delete(h.unneeded, n.Name)
			continue
		}
		since, ok := h.unneeded[n.Name]
		if !ok {
			h.unneeded[n.Name] = now
			continue
		}
		if now.Sub(since) >= h.o.ScaleDownUnneeded {
			if err := h.shr.remove(ctx, now, n); err != nil && !scaler.IsBlocked(err) {
				return err
			}
			delete(h.unneeded, n.Name)
			sizes[n.NodeGroup]--
			for _, p := range podsOn[n.Name] {
				take(free, p, n.Name)
			}
			if len(podsOn[n.Name]) > 0 {
				break // one non-empty node per scan
			}
		}
	}
	return nil
}

// freeSlots returns, per node, the profiles of its free GPU instances.
func freeSlots(env Env, snap scaler.ClusterState) map[string][]string {
	used := map[string]map[string]int{}
	for _, p := range snap.Pods {
		if p.Node != "" {
			if used[p.Node] == nil {
				used[p.Node] = map[string]int{}
			}
			used[p.Node][p.Profile]++
		}
	}
	free := map[string][]string{}
	for _, n := range snap.Nodes {
		if !n.Ready || n.Cordoned {
			continue
		}
		u := used[n.Name]
		for _, s := range env.templates()[n.NodeGroup] {
			if u[s.Profile] > 0 {
				u[s.Profile]--
				continue
			}
			free[n.Name] = append(free[n.Name], s.Profile)
		}
	}
	return free
}

func fitsElsewhere(pods []scaler.Pod, self string, free map[string][]string) bool {
	need := map[string]int{}
	for _, p := range pods {
		need[p.Profile]++
	}
	have := map[string]int{}
	for n, fs := range free {
		if n == self {
			continue
		}
		for _, f := range fs {
			have[f]++
		}
	}
	for p, k := range need {
		if have[p] < k {
			return false
		}
	}
	return true
}

func take(free map[string][]string, p scaler.Pod, self string) {
	names := make([]string, 0, len(free))
	for n := range free {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == self {
			continue
		}
		for i, f := range free[n] {
			if f == p.Profile {
				free[n] = append(free[n][:i], free[n][i+1:]...)
				return
			}
		}
	}
}

// scaleUp adds nodes for pending pods that no upcoming (booting) node will
// hold, choosing per pod the cheapest nodegroup with a fitting slot.
func scaleUp(ctx context.Context, env Env, snap scaler.ClusterState, groups []scaler.NodeGroupState) (bool, error) {
	tmpl := env.templates()
	// capacity of nodes that are booting, and of nodes planned now
	type plan struct {
		ng    string
		slots []SlotTemplate
		used  []bool
	}
	var plans []plan
	for _, n := range snap.Nodes {
		if !n.Ready {
			t := tmpl[n.NodeGroup]
			plans = append(plans, plan{ng: n.NodeGroup, slots: t, used: make([]bool, len(t))})
		}
	}
	// launches that have not produced a node yet (shortfall retries)
	for _, g := range groups {
		booting := 0
		for _, n := range snap.Nodes {
			if n.NodeGroup == g.Name {
				booting++
			}
		}
		for k := booting; k < g.Desired; k++ {
			t := tmpl[g.Name]
			plans = append(plans, plan{ng: g.Name, slots: t, used: make([]bool, len(t))})
		}
	}
	size := map[string]int{}
	maxSize := map[string]int{}
	for _, g := range groups {
		size[g.Name] = g.Desired
		maxSize[g.Name] = g.Max
	}
	add := map[string]int{}
	for _, p := range snap.Pods {
		if p.Phase != scaler.PodPending {
			continue
		}
		mc, ok := env.Policy.Class(p.Class)
		if !ok {
			continue
		}
		placed := false
		for i := range plans {
			if s := fitSlot(env, mc, plans[i].ng, plans[i].slots, plans[i].used); s >= 0 {
				plans[i].used[s] = true
				placed = true
				break
			}
		}
		if placed {
			continue
		}
		best, bestCost := "", math.Inf(1)
		for _, ng := range env.Policy.NodeGroups {
			if !classMayRun(mc, &ng) || size[ng.Name]+add[ng.Name] >= maxSize[ng.Name] {
				continue
			}
			t := tmpl[ng.Name]
			n := 0
			for s := range t {
				if slotFits(env, mc, ng.Name, t[s]) {
					n++
				}
			}
			if n == 0 {
				continue
			}
			it, _ := env.Catalog.Instance(ng.Spec.InstanceType)
			if c := it.Price(ng.Spec.CapacityType) / float64(n); c < bestCost {
				best, bestCost = ng.Name, c
			}
		}
		if best == "" {
			continue
		}
		add[best]++
		t := tmpl[best]
		pl := plan{ng: best, slots: t, used: make([]bool, len(t))}
		pl.used[fitSlot(env, mc, best, t, pl.used)] = true
		plans = append(plans, pl)
	}
	names := make([]string, 0, len(add))
	for n := range add {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		errs = append(errs, env.Cloud.SetDesiredSize(ctx, n, size[n]+add[n]))
	}
	return len(names) > 0, errors.Join(errs...)
}

func classMayRun(mc *policies.ModelClass, ng *policies.NodeGroup) bool {
	pl := mc.Spec.Placement
	if len(pl.NodeGroups) > 0 {
		found := false
		for _, n := range pl.NodeGroups {
			found = found || n == ng.Name
		}
		if !found {
			return false
		}
	}
	if pl.Spot == policies.SpotNever && ng.Spec.CapacityType == policies.CapacitySpot {
		return false
	}
	return true
}

func fitSlot(env Env, mc *policies.ModelClass, ng string, slots []SlotTemplate, used []bool) int {
	for i, s := range slots {
		if !used[i] && slotFits(env, mc, ng, s) {
			return i
		}
	}
	return -1
}

func slotFits(env Env, mc *policies.ModelClass, ngName string, s SlotTemplate) bool {
	ng, ok := env.Policy.NodeGroup(ngName)
	if !ok || !classMayRun(mc, ng) {
		return false
	}
	it, ok := env.Catalog.Instance(ng.Spec.InstanceType)
	if !ok {
		return false
	}
	if s.Profile != profileCPU && float64(mc.Spec.GPUMemory.Value())/(1<<20) > s.UsableMiB {
		return false
	}
	for _, p := range mc.Spec.Profiles {
		if p.GPU == it.GPU && p.Profile == s.Profile {
			return true
		}
	}
	return false
}

// shrinker removes nodes gracefully: drain (cordon + evict), wait for the
// pods' termination grace period, then lower the group's desired size; the
// group terminates cordoned empty nodes first.
type shrinker struct {
	env   Env
	grace time.Duration
	nodes map[string]drainRec
}

type drainRec struct {
	ng string
	at time.Time
}

func newShrinker(env Env) *shrinker {
	return &shrinker{env: env, grace: 30 * time.Second, nodes: map[string]drainRec{}}
}

func (s *shrinker) removing(node string) bool { _, ok := s.nodes[node]; return ok }

func (s *shrinker) pending(ng string) int {
	n := 0
	for _, r := range s.nodes {
		if r.ng == ng {
			n++
		}
	}
	return n
}

func (s *shrinker) remove(ctx context.Context, now time.Time, n scaler.Node) error {
	err := s.env.Cluster.Drain(ctx, n.Name)
	if err != nil && !scaler.IsBlocked(err) {
		return err
	}
	if err != nil {
		_ = s.env.Cluster.Cordon(ctx, n.Name, false)
		return err
	}
	s.nodes[n.Name] = drainRec{ng: n.NodeGroup, at: now}
	return nil
}

// progress lowers the desired size for drained nodes past the grace period.
func (s *shrinker) progress(ctx context.Context, now time.Time) error {
	if len(s.nodes) == 0 {
		return nil
	}
	groups, err := s.env.Cloud.NodeGroups(ctx)
	if err != nil {
		return err
	}
	desired := map[string]int{}
	for _, g := range groups {
		desired[g.Name] = g.Desired
	}
	names := make([]string, 0, len(s.nodes))
	for n := range s.nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	snap, err := s.env.Cluster.Snapshot(ctx)
	if err != nil {
		return err
	}
	alive := map[string]bool{}
	for _, n := range snap.Nodes {
		alive[n.Name] = true
	}
	for _, n := range names {
		r := s.nodes[n]
		if !alive[n] {
			delete(s.nodes, n)
			continue
		}
		if now.Sub(r.at) < s.grace {
			continue
		}
		desired[r.ng]--
		if err := s.env.Cloud.SetDesiredSize(ctx, r.ng, desired[r.ng]); err != nil {
			desired[r.ng]++
			_ = s.env.Cluster.Cordon(ctx, n, false)
		}
		delete(s.nodes, n)
	}
	return nil
}
