package scaler

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/headroom-dev/headroom/binpack"
	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/binpack/frompolicy"
	"github.com/headroom-dev/headroom/policies"
)

// The cluster side of one tick, stage by stage (the package doc draws it):
//
//	startInterruptions  spot notices start interrupt procedures
//	packStage           packRequest -> Packer.Pack           -> packed
//	nodeGroupTargets    packer targets + held, within bounds  -> targets
//	startRelayouts      MIG layouts the packer asked for       (procedures)
//	consolidateStage    one node whose replicas fit elsewhere  (procedures)
//	advanceProcedures   the next step of every node procedure (procedures.go)

// planCluster packs the sized demand onto nodegroups and advances the node
// procedures (consolidation, MIG re-layout, spot interruption).
func (c *Controller) planCluster(d *Decision, w *world, allData bool, now time.Time) {
	desired := map[string]int{}
	for _, cd := range d.Classes {
		desired[cd.Class] = cd.Desired
	}
	c.startInterruptions(w, now)
	pk := c.packStage(desired, d.Classes, w)
	d.NotDone = append(d.NotDone, pk.notes...)
	t := c.nodeGroupTargets(pk, w, allData)
	d.NodeGroups = append(d.NodeGroups, t.decisions...)
	d.Actions = append(d.Actions, t.actions...)
	d.NotDone = append(d.NotDone, t.notes...)
	c.startRelayouts(d, pk.res.Layouts, desired, w, now)
	c.consolidateStage(d, pk, desired, w, allData, t.booting, now)
	c.advanceProcedures(d, w, t.booting, now)
}

// startInterruptions starts an interrupt procedure for every spot notice
// at once (no budget: the node goes away regardless).
func (c *Controller) startInterruptions(w *world, now time.Time) {
	for _, node := range sortedKeys(w.interrupted) {
		n, ok := w.nodes[node]
		if !ok {
			continue
		}
		if p := c.st.procs[node]; p == nil || p.Kind != procInterrupt {
			c.st.procs[node] = &procedure{Kind: procInterrupt, Node: node, NodeGroup: n.NodeGroup, Since: now,
				Terminates: w.interrupted[node], Reason: fmt.Sprintf("spot interruption notice: terminates at %s", w.interrupted[node].UTC().Format(time.RFC3339))}
		}
	}
}

// packed is the packing stage's answer.
type packed struct {
	req PackRequest
	res PackResult
	// held counts, per nodegroup, nodes kept out of the packing (cordoned,
	// interrupted, in a procedure, or with an unreadable MIG config).
	held  map[string]int
	notes []string
}

func (c *Controller) packStage(desired map[string]int, classes []ClassDecision, w *world) packed {
	pk := c.packRequest(desired, classes, w)
	pk.res = c.opts.Packer.Pack(pk.req)
	for _, cl := range sortedKeys(pk.res.Unplaced) {
		pk.notes = append(pk.notes, fmt.Sprintf("class %s: %d replicas fit no nodegroup within its max size", cl, pk.res.Unplaced[cl]))
	}
	return pk
}

// targets is the nodegroup stage's answer.
type targets struct {
	decisions []NodeGroupDecision
	actions   []Action
	notes     []string
	// booting is true while capacity asked for is not ready yet: no node
	// is drained for consolidation meanwhile.
	booting bool
}

// nodeGroupTargets sizes every nodegroup to the packer's target plus its
// held nodes, within the policy's and the cloud's bounds. Scale-up is
// immediate; scale-down only cancels boots no longer needed (running
// nodes leave through consolidation), and never without complete data.
func (c *Controller) nodeGroupTargets(pk packed, w *world, allData bool) targets {
	var t targets
	for i := range c.policy.NodeGroups {
		ng := &c.policy.NodeGroups[i]
		gs, ok := w.groups[ng.Name]
		if !ok {
			t.notes = append(t.notes, fmt.Sprintf("nodegroup %s: not reported by the cloud", ng.Name))
			continue
		}
		present := 0
		for _, n := range w.nodes {
			if n.NodeGroup == ng.Name {
				present++
				t.booting = t.booting || !n.Ready
			}
		}
		if gs.Current < gs.Desired || present < gs.Desired {
			t.booting = true
		}
		lo, hi := max(ng.Spec.Size.Min, gs.Min), ng.Spec.Size.Max
		if gs.Max > 0 && (hi == 0 || gs.Max < hi) {
			hi = gs.Max
		}
		target := max(pk.res.Targets[ng.Name]+pk.held[ng.Name], lo)
		if hi > 0 {
			target = min(target, hi)
		}
		ngd := NodeGroupDecision{Name: ng.Name, Current: gs.Current, Desired: gs.Desired, Target: target,
			Reason: fmt.Sprintf("packer needs %d nodes + %d held (cordoned, interrupted or not usable), bounds [%d,%d]", pk.res.Targets[ng.Name], pk.held[ng.Name], lo, hi)}
		switch {
		case target > gs.Desired:
			t.booting = true // capacity asked for now is not ready yet
			t.actions = append(t.actions, Action{Kind: ActNodeGroupSize, Target: ng.Name, From: strconv.Itoa(gs.Desired), To: strconv.Itoa(target),
				Reason: ngd.Reason, phase: phaseUp, from: gs.Desired, to: target})
		case target < gs.Desired && gs.Desired > present && allData:
			if to := max(target, present); to < gs.Desired {
				t.actions = append(t.actions, Action{Kind: ActNodeGroupSize, Target: ng.Name, From: strconv.Itoa(gs.Desired), To: strconv.Itoa(to),
					Reason: ngd.Reason + fmt.Sprintf("; cancels %d booting nodes no longer needed", gs.Desired-to), phase: phaseDown, from: gs.Desired, to: to})
			}
		case target < gs.Desired && !allData:
			ngd.Reason += "; fail static: no scale-down while any class lacks data"
		}
		t.decisions = append(t.decisions, ngd)
	}
	return t
}

// startRelayouts starts a re-layout procedure for each node the packer
// wants re-partitioned, as the disruption windows and budgets allow. A
// re-layout drains a node: it is voluntary disruption, which the policy
// allows only while a window is open; outside one, demand the current
// layouts cannot hold gets new nodes instead.
func (c *Controller) startRelayouts(d *Decision, layouts map[string]catalog.MIGConfig, desired map[string]int, w *world, now time.Time) {
	if len(layouts) > 0 && !c.policy.Cluster.Spec.Disruption.AllowedAt(now) {
		d.NotDone = append(d.NotDone, fmt.Sprintf("%d re-layouts wait: no disruption window is open", len(layouts)))
		return
	}
	for node, at := range c.st.relaid {
		if now.Sub(at) >= c.opts.ConsolidationPayback {
			delete(c.st.relaid, node)
		}
	}
	for _, node := range sortedKeys(layouts) {
		if _, busy := c.st.procs[node]; busy {
			continue
		}
		to := layouts[node]
		if !c.voluntaryRoom(w) {
			d.NotDone = append(d.NotDone, fmt.Sprintf("re-layout of %s to %s waits: disruption budget (maxNodesDraining) in use", node, to.Name))
			continue
		}
		n := w.nodes[node]
		if n == nil || n.DoNotDisrupt || !n.Ready {
			continue // booting nodes get their layout once they join
		}
		if last, ok := c.st.relaid[node]; ok && now.Sub(last) < c.opts.ConsolidationPayback {
			// A layout must serve long enough to pay for its drain; a plan
			// that wants the node back within the payback window is
			// chasing the last tick's demand.
			d.NotDone = append(d.NotDone, fmt.Sprintf("re-layout of %s to %s held: re-laid out %v ago (hold %v)", node, to.Name, now.Sub(last).Round(time.Second), c.opts.ConsolidationPayback))
			continue
		}
		if why := c.budgetBlocked(w.podsByNode[node], desired, d); why != "" {
			d.NotDone = append(d.NotDone, fmt.Sprintf("re-layout of %s to %s held: %s", node, to.Name, why))
			continue
		}
		c.st.relaid[node] = now
		d.reserveEvictions(w.podsByNode[node])
		c.st.procs[node] = &procedure{Kind: procRelayout, Node: node, NodeGroup: n.NodeGroup, MIG: to, Since: now,
			Reason: fmt.Sprintf("MIG re-layout %q -> %q for pending demand", n.MIGConfig, to.Name)}
	}
}

// consolidateStage runs consolidation only with complete data, no
// capacity booting, every replica placed, an open disruption window and
// room in the budget.
func (c *Controller) consolidateStage(d *Decision, pk packed, desired map[string]int, w *world, allData, booting bool, now time.Time) {
	switch {
	case !allData:
		d.NotDone = append(d.NotDone, "consolidation skipped: some class lacks fresh data (fail static)")
	case booting:
		// New capacity must be ready before old is drained.
	case len(pk.res.Unplaced) > 0:
	case !c.policy.Cluster.Spec.Disruption.AllowedAt(now):
	case c.voluntaryRoom(w):
		c.consolidate(d, pk.req, desired, w, now)
	}
}

// packRequest builds the packer's view: usable nodes (plus booting ones as
// empty capacity) and, per nodegroup, the nodes held out of it.
func (c *Controller) packRequest(desired map[string]int, classes []ClassDecision, w *world) packed {
	pol := c.policy
	req := PackRequest{AllowNew: true}
	held := map[string]int{}
	var notes []string
	for i := range pol.NodeGroups {
		ng := &pol.NodeGroups[i]
		bg, ok, err := frompolicy.NodeGroup(ng, c.opts.Catalog)
		if err != nil {
			notes = append(notes, fmt.Sprintf("nodegroup %s not planned: %v", ng.Name, err))
			continue
		}
		if !ok {
			continue // CPU-only: not the packer's
		}
		pg := PackNodeGroup{Name: bg.Name, InstanceType: bg.InstanceType, CapacityType: bg.CapacityType, Mode: bg.Mode,
			TimeSlices: bg.TimeSlices, Min: bg.Min, Max: bg.Max, Tenants: bg.Tenants, FixedName: bg.LayoutName}
		if bg.Mode == binpack.ModeMIGFixed {
			pg.FixedLayout = bg.Layout.Counts()
		}
		if it, ok := c.opts.Catalog.Instance(ng.Spec.InstanceType); ok {
			pg.GPU, pg.GPUs, pg.Price = it.GPU, it.GPUs, it.Price(pg.CapacityType)
		}
		req.NodeGroups = append(req.NodeGroups, pg)
		present := 0
		for _, name := range sortedKeys(w.nodes) {
			n := w.nodes[name]
			if n.NodeGroup != ng.Name {
				continue
			}
			present++
			p := c.st.procs[name]
			_, gone := w.interrupted[name]
			mig, migErr := c.nodeMIG(n, ng, w.migConfigs)
			switch {
			case p != nil && p.Kind == procRelayout:
				req.Nodes = append(req.Nodes, PackNode{Name: name, NodeGroup: ng.Name, MIG: p.MIG, Pods: w.podsByNode[name]})
			case p != nil && p.Removed:
				// Removed with its group shrunk, going: neither capacity
				// nor held (held would raise the group again).
			case gone || p != nil || (n.Cordoned && n.Ready):
				held[ng.Name]++
			case migErr != nil:
				// Its slots are unknown: count it held rather than guess.
				held[ng.Name]++
				notes = append(notes, fmt.Sprintf("node %s: %v: its capacity is not planned on", name, migErr))
			default:
				// Ready or joining: its capacity counts.
				req.Nodes = append(req.Nodes, PackNode{Name: name, NodeGroup: ng.Name, MIG: mig, Booting: !n.Ready, Pods: w.podsByNode[name]})
			}
		}
		if gs, ok := w.groups[ng.Name]; ok {
			for i := present; i < gs.Desired; i++ {
				req.Nodes = append(req.Nodes, PackNode{Name: fmt.Sprintf("booting-%s-%d", ng.Name, i), NodeGroup: ng.Name, Booting: true})
			}
		}
	}
	prefs := map[string]ClassDecision{}
	for _, cd := range classes {
		prefs[cd.Class] = cd
	}
	for i := range pol.Classes {
		mc := &pol.Classes[i]
		if !usesGPU(mc) {
			// CPU-only classes (a retriever, a document store) run on
			// nodegroups the packer does not plan (those are skipped
			// above, as GPUModeNone); asking it to place them would
			// report them unplaced every tick and so hold consolidation
			// of the GPU nodes for good.
			continue
		}
		req.Classes = append(req.Classes, c.packClass(mc, desired[mc.Name], prefs[mc.Name]))
	}
	return packed{req: req, held: held, notes: notes}
}

// packClass is one class's demand for the packer: its replicas on the
// slices and nodegroups the policy allows it (frompolicy.ClassOptions, as
// `headroom pack` uses), the right-sized profile first and the rest in
// declared order, with the memory need observed, so the packer drops
// slices that cannot hold it.
func (c *Controller) packClass(mc *policies.ModelClass, replicas int, cd ClassDecision) PackClass {
	pc := PackClass{Name: mc.Name, Replicas: replicas, Spot: mc.Spec.Placement.Spot, MinOnDemandFraction: mc.Spec.Placement.MinOnDemandFraction}
	if len(mc.Spec.Tenants) == 1 {
		pc.Tenant = mc.Spec.Tenants[0]
	}
	need := cd.NeedGiB
	if need <= 0 {
		need = float64(mc.Spec.GPUMemory.Value()) / (1 << 30)
	}
	opts, _ := frompolicy.ClassOptions(c.policy, mc)
	groups := map[string]bool{}
	for pass := range 2 {
		for _, o := range opts {
			if (o.Profile.Profile == cd.PreferredProfile) != (pass == 0) {
				continue
			}
			pc.Options = append(pc.Options, PackOption{GPU: o.Profile.GPU, Profile: o.Profile.Profile, MemoryGiB: need})
			for _, g := range o.NodeGroups {
				groups[g] = true
			}
		}
	}
	pc.NodeGroups = slices.Sorted(maps.Keys(groups))
	return pc
}

// nodeMIG resolves a node's nvidia.com/mig.config: the published configs
// first, then a mig-fixed nodegroup's own layout, then the name itself. A
// node whose GPUs have no MIG has none; a joining node may have none yet.
func (c *Controller) nodeMIG(n *Node, ng *policies.NodeGroup, published map[string]catalog.MIGConfig) (catalog.MIGConfig, error) {
	it, _ := c.opts.Catalog.Instance(ng.Spec.InstanceType)
	var gpu *catalog.GPU
	if it != nil {
		gpu, _ = c.opts.Catalog.GPU(it.GPU)
	}
	switch {
	case gpu == nil || !gpu.MIG:
		return catalog.MIGConfig{}, nil
	case n.MIGConfig == "" && !n.Ready:
		return catalog.MIGConfig{}, nil
	}
	if l := ng.Spec.GPU.Layout; l != nil && n.MIGConfig == l.Name {
		if _, ok := published[l.Name]; !ok {
			return catalog.FixedMIG(l.Name, l.Devices), nil
		}
	}
	cfg, err := catalog.ResolveMIGConfig(n.MIGConfig, published, gpu)
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate(gpu, it.GPUs)
}

// consolidate looks for one node whose replicas fit on the rest (re-running
// the same packer without it and without new nodes, as Karpenter's
// SimulateScheduling does) and starts its cordon-drain-remove procedure.
func (c *Controller) consolidate(d *Decision, req PackRequest, desired map[string]int, w *world, now time.Time) {
	type cand struct {
		node  *Node
		pods  int
		price float64
	}
	groupPrice := map[string]float64{}
	for _, g := range req.NodeGroups {
		groupPrice[g.Name] = g.Price
	}
	perGroup := map[string]int{}
	for _, n := range w.nodes {
		perGroup[n.NodeGroup]++
	}
	var cands []cand
	for _, pn := range req.Nodes {
		n, ok := w.nodes[pn.Name]
		if !ok || pn.Booting || !n.Ready || n.Cordoned || n.DoNotDisrupt || c.st.procs[pn.Name] != nil {
			continue
		}
		if ng, ok := c.policy.NodeGroup(n.NodeGroup); ok && perGroup[n.NodeGroup] <= ng.Spec.Size.Min {
			continue
		}
		cands = append(cands, cand{node: n, pods: len(pn.Pods), price: groupPrice[n.NodeGroup]})
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].pods != cands[j].pods {
			return cands[i].pods < cands[j].pods
		}
		if cands[i].price != cands[j].price {
			return cands[i].price > cands[j].price
		}
		return cands[i].node.Name < cands[j].node.Name
	})
	tried := 0
	for _, cn := range cands {
		if tried >= c.opts.ConsolidationCandidates {
			break
		}
		tried++
		sim := req
		sim.AllowNew = false
		sim.Nodes = make([]PackNode, 0, len(req.Nodes))
		for _, pn := range req.Nodes {
			if pn.Name != cn.node.Name {
				sim.Nodes = append(sim.Nodes, pn)
			}
		}
		res := c.opts.Packer.Pack(sim)
		if len(res.Unplaced) > 0 {
			continue
		}
		// Class budgets and warm-up cost of the replicas moved.
		warm := 0.0 // replica-hours of warm-up
		for _, p := range w.podsByNode[cn.node.Name] {
			if mc, ok := c.policy.Class(p.Class); ok {
				warm += mc.Spec.Model.LoadTime.Hours()
			}
		}
		blocked := c.budgetBlocked(w.podsByNode[cn.node.Name], desired, d)
		if blocked != "" {
			d.NotDone = append(d.NotDone, "consolidation of "+cn.node.Name+" held: "+blocked)
			continue
		}
		slots := max(len(w.podsByNode[cn.node.Name]), 1)
		warmCost := warm * cn.price / float64(slots)
		save := cn.price * c.opts.ConsolidationPayback.Hours()
		if save <= warmCost {
			d.NotDone = append(d.NotDone, fmt.Sprintf("consolidation of %s not worth it: saves $%.2f over %v, warm-up costs $%.2f", cn.node.Name, save, c.opts.ConsolidationPayback, warmCost))
			continue
		}
		d.reserveEvictions(w.podsByNode[cn.node.Name])
		c.st.procs[cn.node.Name] = &procedure{Kind: procConsolidate, Node: cn.node.Name, NodeGroup: cn.node.NodeGroup, Since: now,
			Reason: fmt.Sprintf("consolidate: its %d replicas fit on the other nodes; saves $%.2f/h, warm-up %.2f replica-h ($%.2f)", cn.pods, cn.price, warm, warmCost)}
		return
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// usesGPU reports whether any of the class's profiles is a GPU slice.
func usesGPU(mc *policies.ModelClass) bool {
	for _, pr := range mc.Spec.Profiles {
		if pr.GPU != "" {
			return true
		}
	}
	return false
}
