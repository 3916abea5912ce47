package scaler

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/policies"
)

// planCluster packs the sized demand onto nodegroups and advances the node
// procedures (consolidation, MIG re-layout, spot interruption).
func (c *Controller) planCluster(d *Decision, obs *Observations, w *world, allData bool, now time.Time) {
	pol := c.policy
	desired := map[string]int{}
	for _, cd := range d.Classes {
		desired[cd.Class] = cd.Desired
	}

	// Spot notices start an interrupt procedure at once (no budget: the
	// node goes away regardless).
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

	req, held, notes := c.packRequest(desired, d.Classes, w)
	d.NotDone = append(d.NotDone, notes...)
	res := c.opts.Packer.Pack(req)
	for _, cl := range sortedKeys(res.Unplaced) {
		d.NotDone = append(d.NotDone, fmt.Sprintf("class %s: %d replicas fit no nodegroup within its max size", cl, res.Unplaced[cl]))
	}

	// Nodegroup targets.
	booting := false
	for i := range pol.NodeGroups {
		ng := &pol.NodeGroups[i]
		gs, ok := w.groups[ng.Name]
		if !ok {
			d.NotDone = append(d.NotDone, fmt.Sprintf("nodegroup %s: not reported by the cloud", ng.Name))
			continue
		}
		present := 0
		for _, n := range w.nodes {
			if n.NodeGroup == ng.Name {
				present++
				if !n.Ready {
					booting = true
				}
			}
		}
		if gs.Current < gs.Desired || present < gs.Desired {
			booting = true
		}
		lo, hi := ng.Spec.Size.Min, ng.Spec.Size.Max
		if gs.Max > 0 && (hi == 0 || gs.Max < hi) {
			hi = gs.Max
		}
		lo = max(lo, gs.Min)
		want := res.Targets[ng.Name] + held[ng.Name]
		target := want
		if target < lo {
			target = lo
		}
		if hi > 0 && target > hi {
			target = hi
		}
		ngd := NodeGroupDecision{Name: ng.Name, Current: gs.Current, Desired: gs.Desired, Target: target,
			Reason: fmt.Sprintf("packer needs %d nodes + %d held (cordoned, interrupted or not usable), bounds [%d,%d]", res.Targets[ng.Name], held[ng.Name], lo, hi)}
		switch {
		case target > gs.Desired:
			booting = true // capacity asked for now is not ready yet
			d.Actions = append(d.Actions, Action{Kind: ActNodeGroupSize, Target: ng.Name, From: strconv.Itoa(gs.Desired), To: strconv.Itoa(target),
				Reason: ngd.Reason, phase: phaseUp, from: gs.Desired, to: target})
		case target < gs.Desired && gs.Desired > present && allData:
			// Cancel boots no longer needed; running nodes only leave
			// through consolidation (cordon, drain, remove).
			to := max(target, present)
			if to < gs.Desired {
				d.Actions = append(d.Actions, Action{Kind: ActNodeGroupSize, Target: ng.Name, From: strconv.Itoa(gs.Desired), To: strconv.Itoa(to),
					Reason: ngd.Reason + fmt.Sprintf("; cancels %d booting nodes no longer needed", gs.Desired-to), phase: phaseDown, from: gs.Desired, to: to})
			}
		case target < gs.Desired && !allData:
			ngd.Reason += "; fail static: no scale-down while any class lacks data"
		}
		d.NodeGroups = append(d.NodeGroups, ngd)
	}

	// MIG re-layouts the packer asked for.
	for _, node := range sortedKeys(res.Layouts) {
		if _, busy := c.st.procs[node]; busy {
			continue
		}
		if !c.voluntaryRoom(w) {
			d.NotDone = append(d.NotDone, fmt.Sprintf("re-layout of %s to %s waits: disruption budget (maxNodesDraining) in use", node, res.Layouts[node].Name))
			continue
		}
		n := w.nodes[node]
		if n == nil || n.DoNotDisrupt || !n.Ready {
			continue // booting nodes get their layout once they join
		}
		if why := c.budgetBlocked(w.podsByNode[node], desired, d); why != "" {
			d.NotDone = append(d.NotDone, fmt.Sprintf("re-layout of %s to %s held: %s", node, res.Layouts[node].Name, why))
			continue
		}
		d.reserveEvictions(w.podsByNode[node])
		c.st.procs[node] = &procedure{Kind: procRelayout, Node: node, NodeGroup: n.NodeGroup, MIG: res.Layouts[node], Since: now,
			Reason: fmt.Sprintf("MIG re-layout %q -> %q for pending demand", n.MIGConfig, res.Layouts[node].Name)}
	}

	// Consolidation: only with complete data, no capacity booting, an open
	// window and room in the budget.
	switch {
	case !allData:
		d.NotDone = append(d.NotDone, "consolidation skipped: some class lacks fresh data (fail static)")
	case booting:
		// New capacity must be ready before old is drained.
	case len(res.Unplaced) > 0:
	case !c.windowOpen(now):
	case c.voluntaryRoom(w):
		c.consolidate(d, req, desired, w, now)
	}

	c.advanceProcedures(d, w, booting, now)
}

// packRequest builds the packer's view: usable nodes (plus booting ones as
// empty capacity) and, per nodegroup, the nodes held out of it.
func (c *Controller) packRequest(desired map[string]int, classes []ClassDecision, w *world) (req PackRequest, held map[string]int, notes []string) {
	pol := c.policy
	req = PackRequest{AllowNew: true}
	held = map[string]int{}
	for i := range pol.NodeGroups {
		ng := &pol.NodeGroups[i]
		pg := PackNodeGroup{Name: ng.Name, InstanceType: ng.Spec.InstanceType, CapacityType: ng.Spec.CapacityType,
			Mode: ng.Spec.GPU.Mode, TimeSlices: ng.Spec.GPU.Replicas, Min: ng.Spec.Size.Min, Max: ng.Spec.Size.Max}
		if pg.CapacityType == "" {
			pg.CapacityType = policies.CapacityOnDemand
		}
		if it, ok := c.opts.Catalog.Instance(ng.Spec.InstanceType); ok {
			pg.GPU, pg.GPUs, pg.Price = it.GPU, it.GPUs, it.Price(pg.CapacityType)
			if pg.Mode == "" {
				pg.Mode = policies.GPUModeWhole
				if it.GPU == "" {
					pg.Mode = policies.GPUModeNone
				}
			}
		}
		if l := ng.Spec.GPU.Layout; l != nil {
			pg.FixedLayout, pg.FixedName = l.Devices, l.Name
		}
		if pg.Mode == policies.GPUModeNone {
			continue
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
		pc := PackClass{Name: mc.Name, Replicas: desired[mc.Name], NodeGroups: mc.Spec.Placement.NodeGroups,
			Spot: mc.Spec.Placement.Spot, MinOnDemandFraction: mc.Spec.Placement.MinOnDemandFraction}
		if pc.Spot == policies.SpotNever {
			pc.MinOnDemandFraction = 1
		}
		// The right-sized profile first, then the rest in declared order;
		// the memory need is the observed one, so the packer drops slices
		// that cannot hold it.
		cd := prefs[mc.Name]
		need := cd.NeedGiB
		if need <= 0 {
			need = float64(mc.Spec.GPUMemory.Value()) / (1 << 30)
		}
		for pass := range 2 {
			for _, pr := range mc.Spec.Profiles {
				if (pr.Profile == cd.PreferredProfile) == (pass == 0) {
					pc.Options = append(pc.Options, PackOption{GPU: pr.GPU, Profile: pr.Profile, MemoryGiB: need})
				}
			}
		}
		req.Classes = append(req.Classes, pc)
	}
	return req, held, notes
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

// voluntaryRoom reports whether another node may start a voluntary
// disruption under the cluster's maxNodesDraining.
func (c *Controller) voluntaryRoom(w *world) bool {
	limit := c.policy.Cluster.Spec.Disruption.MaxNodesDraining
	if limit <= 0 {
		limit = 1
	}
	busy := 0
	for _, p := range c.st.procs {
		if p.Kind != procInterrupt {
			busy++
		}
	}
	for name, n := range w.nodes {
		if n.Cordoned && c.st.procs[name] == nil {
			busy++ // cordoned by someone else: counts against the budget
		}
	}
	return busy < limit
}

func (c *Controller) windowOpen(now time.Time) bool {
	ws := c.policy.Cluster.Spec.Disruption.Windows
	if len(ws) == 0 {
		return true
	}
	for _, win := range ws {
		s, err := c.schedule(win.Cron, win.TimeZone, win.Duration.Duration)
		if err != nil {
			continue
		}
		if open, _ := s.Open(now); open {
			return true
		}
	}
	return false
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
				warm += durOr(mc.Spec.Model.LoadTime, time.Minute).Hours()
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

// budgetBlocked says why evicting pods would break a class's disruption
// budget (maxUnavailable, counting replicas already not ready and those that
// disruptions started earlier in this tick will evict), or "".
func (c *Controller) budgetBlocked(pods []Pod, desired map[string]int, d *Decision) string {
	moved := map[string]int{}
	for _, p := range pods {
		moved[p.Class]++
	}
	ready := map[string]int{}
	for _, cd := range d.Classes {
		ready[cd.Class] = cd.Ready
	}
	for _, cl := range sortedKeys(moved) {
		mc, _ := c.policy.Class(cl)
		budget := c.policy.Cluster.Spec.Disruption.MaxUnavailable
		if mc != nil && mc.Spec.Disruption.MaxUnavailable != "" {
			budget = mc.Spec.Disruption.MaxUnavailable
		}
		allow := parseBudget(budget, desired[cl])
		unavailable := max(desired[cl]-ready[cl], 0) + d.evicting[cl]
		if unavailable+moved[cl] > allow {
			return fmt.Sprintf("class %s: moving %d with %d unavailable exceeds maxUnavailable %d", cl, moved[cl], unavailable, allow)
		}
	}
	return ""
}

// reserveEvictions records that a disruption started in this tick will
// evict pods, for budgetBlocked.
func (d *Decision) reserveEvictions(pods []Pod) {
	if d.evicting == nil {
		d.evicting = map[string]int{}
	}
	for _, p := range pods {
		d.evicting[p.Class]++
	}
}

// advanceProcedures issues the next step of every node procedure from the
// node's observed state, so a step lost to an error is simply re-issued
// (after backoff) on a later tick.
func (c *Controller) advanceProcedures(d *Decision, w *world, booting bool, now time.Time) {
	for _, name := range sortedKeys(c.st.procs) {
		p := c.st.procs[name]
		n, ok := w.nodes[name]
		if !ok {
			if !p.Removed && p.Kind != procInterrupt {
				d.NotDone = append(d.NotDone, fmt.Sprintf("node %s vanished during %s: procedure dropped", name, p.Kind))
			}
			delete(c.st.procs, name)
			continue
		}
		if p.Kind == procRelayout && p.Removed && !n.Cordoned {
			delete(c.st.procs, name) // uncordoned after the re-layout: done
			continue
		}
		pods := w.podsByNode[name]
		act := func(kind ActionKind, phase int, from, to, why string) {
			d.Actions = append(d.Actions, Action{Kind: kind, Target: name, NodeGroup: n.NodeGroup, From: from, To: to,
				Reason: p.Reason + ": " + why, phase: phase, Involuntary: p.Kind == procInterrupt})
		}
		if !n.Cordoned && !(p.Kind == procRelayout && p.Removed) {
			act(ActCordon, phaseDisrupt, "schedulable", "cordoned", "step 1: stop new replicas landing here")
		}
		switch p.Kind {
		case procInterrupt:
			lead := p.Terminates.Sub(now)
			if len(pods) > 0 {
				if !booting || lead <= c.opts.DrainLead {
					act(ActDrain, phaseDisrupt, strconv.Itoa(len(pods))+" pods", "0 pods",
						fmt.Sprintf("step 2: drain %v before termination (replacement ready: %v)", lead.Round(time.Second), !booting))
				} else {
					d.NotDone = append(d.NotDone, fmt.Sprintf("drain of %s waits for replacement capacity (%v to termination, drains at %v)", name, lead.Round(time.Second), c.opts.DrainLead))
				}
			}
		case procConsolidate:
			switch {
			case len(pods) > 0:
				act(ActDrain, phaseDisrupt, strconv.Itoa(len(pods))+" pods", "0 pods", "step 2: evict through the Eviction API (PDBs honoured)")
			case !p.Removed:
				act(ActRemoveNode, phaseDown, "1", "0", "step 3: node empty, remove it and shrink the nodegroup")
			}
		case procRelayout:
			switch {
			case len(pods) > 0:
				act(ActDrain, phaseDisrupt, strconv.Itoa(len(pods))+" pods", "0 pods", "step 2: drain before re-partitioning")
			case n.MIGConfig != p.MIG.Name:
				act(ActSetMIGConfig, phaseDisrupt, n.MIGConfig, p.MIG.Name, "step 3: set nvidia.com/mig.config")
				d.Actions[len(d.Actions)-1].mig = p.MIG
			case n.MIGState == "success" && !p.Removed:
				act(ActUncordon, phaseRestore, "cordoned", "schedulable", "step 5: layout applied, uncordon")
				p.Removed = true // done; dropped next tick
			case n.MIGState == "failed":
				d.NotDone = append(d.NotDone, fmt.Sprintf("MIG re-layout of %s to %s failed (mig.config.state=failed): node stays cordoned for an operator", name, p.MIG.Name))
			case now.Sub(p.Since) > c.opts.MIGTimeout:
				d.NotDone = append(d.NotDone, fmt.Sprintf("MIG re-layout of %s to %s stuck in %q for %v", name, p.MIG.Name, n.MIGState, now.Sub(p.Since).Round(time.Second)))
			default:
				// step 4: wait for the MIG manager.
			}
		}
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
