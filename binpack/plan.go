package binpack

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// materialize turns a solution into a Plan: nodes with GPUs, layouts and
// slots, reusing the current state's nodes, layouts and replica positions
// where the solution allows, and lists the changes against it.
func (m *model) materialize(s *solution, pi []float64) *Plan {
	plan := &Plan{Strategy: s.strategy, MIGConfigs: map[string][]catalog.MIGEntry{}}
	cur := m.currentByGroup()
	// want[ci][(group,kind)] = replicas still to seat.
	for _, g := range m.groups {
		gp := m.buildGroupNodes(s, g, cur[g.ng.Name], plan)
		plan.NodeGroups = append(plan.NodeGroups, gp)
		plan.CostPerHour += gp.CostPerHour
		plan.GPUs += gp.GPUs
	}
	plan.CostPerHour = round6(plan.CostPerHour)
	for _, ct := range []string{OnDemand, Spot} {
		sum := CapacitySummary{CapacityType: ct}
		for _, gp := range plan.NodeGroups {
			if gp.CapacityType == ct {
				sum.Nodes += gp.Nodes
				sum.GPUs += gp.GPUs
				sum.CostPerHour += gp.CostPerHour
			}
		}
		sum.CostPerHour = round6(sum.CostPerHour)
		plan.ByCapacityType = append(plan.ByCapacityType, sum)
	}
	m.seat(s, plan)
	m.allocations(s, plan)
	m.diff(plan)
	m.reasons(s, pi, plan)
	for ci, cm := range m.classes {
		if cm.held != nil {
			// Whatever else went short, this says it all.
			unit := "replicas"
			if cm.c.Rate > 0 {
				unit = "requests/s"
			}
			s.unplaced[ci] = fmt.Sprintf("%s is more than its nodegroups could ever serve at their max sizes (at most %.4g %s); the plan serves what fits",
				demandText(cm.c), *cm.held, unit)
		}
	}
	for ci, why := range s.unplaced {
		cm := m.classes[ci]
		plan.Unplaced = append(plan.Unplaced, Unplaced{Class: cm.c.Name, Rate: cm.c.Rate, Replicas: cm.c.Replicas, Reason: why})
	}
	plan.Unplaced = append(plan.Unplaced, m.unplaced...)
	sort.SliceStable(plan.Unplaced, func(i, j int) bool { return plan.Unplaced[i].Class < plan.Unplaced[j].Class })
	plan.Unplaced = dedupeUnplaced(plan.Unplaced)
	if len(plan.MIGConfigs) == 0 {
		plan.MIGConfigs = nil
	}
	return plan
}

func dedupeUnplaced(us []Unplaced) []Unplaced {
	out := us[:0]
	for i, u := range us {
		if i > 0 && u.Class == us[i-1].Class && u.Reason == us[i-1].Reason {
			continue
		}
		out = append(out, u)
	}
	return out
}

func (m *model) groupByName(name string) *group {
	for _, g := range m.groups {
		if g.ng.Name == name {
			return g
		}
	}
	return nil
}

func (m *model) currentByGroup() map[string][]Node {
	out := map[string][]Node{}
	if m.p.Current == nil {
		return out
	}
	for _, n := range m.p.Current.Nodes {
		out[n.NodeGroup] = append(out[n.NodeGroup], n)
	}
	for k := range out {
		sort.SliceStable(out[k], func(i, j int) bool { return out[k][i].Name < out[k][j].Name })
	}
	return out
}

// layoutKey identifies a GPU's partitioning for matching against the
// current state: the MIG layout, "whole" or "timesliced".
func (g *group) layoutKey(a gpuAlloc) string {
	switch {
	case g.memRes >= 0:
		return catalog.ProfileTimeSliced
	case g.ng.Mode == ModeWhole || a.whole:
		return catalog.ProfileWhole
	}
	return a.layout.String()
}

func (g *group) currentKey(gpu GPU) string {
	switch {
	case g.memRes >= 0:
		return catalog.ProfileTimeSliced
	case len(gpu.Layout) == 0:
		return catalog.ProfileWhole
	}
	return gpu.Layout.String()
}

// buildGroupNodes lays the group's GPUs out on nodes. Existing nodes are
// kept in order of how many of their GPUs already have a wanted layout
// (then by name); wanted layouts go first onto GPUs that already have
// them, so an unchanged demand changes nothing.
func (m *model) buildGroupNodes(s *solution, g *group, current []Node, plan *Plan) GroupPlan {
	allocs := s.gpus[g.idx]
	nNodes := m.nodes(g, len(allocs))
	if g.ng.Max > 0 && len(allocs) > nNodes*g.gpn {
		allocs = allocs[:nNodes*g.gpn] // repair failed: seating reports the rest
	}
	// Sort wanted GPUs by layout so equal layouts share nodes.
	order := make([]int, len(allocs))
	keys := make([]string, len(allocs))
	for i := range order {
		order[i] = i
		keys[i] = g.layoutKey(allocs[i])
	}
	sort.SliceStable(order, func(a, b int) bool { return keys[order[a]] < keys[order[b]] })
	pool := map[string][]int{}
	for _, i := range order {
		k := keys[i]
		pool[k] = append(pool[k], i)
	}
	// Score current nodes by matching GPUs.
	type scored struct {
		n     Node
		score int
	}
	var cs []scored
	tmp := map[string]int{}
	for k, v := range pool {
		tmp[k] = len(v)
	}
	for _, n := range current {
		sc := 0
		for _, gpu := range n.GPUs {
			k := g.currentKey(gpu)
			if tmp[k] > 0 {
				tmp[k]--
				sc++
			}
		}
		cs = append(cs, scored{n, sc})
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].score > cs[j].score })
	keep := min(len(cs), nNodes)
	// A kept node with no matching GPU and no replicas wanted is still
	// kept: dropping it and adding a new one is churn.
	nodes := make([]Node, 0, nNodes)
	assigned := make([]int, 0, nNodes*g.gpn) // alloc index per GPU position, -1 free
	for i := 0; i < keep; i++ {
		n := cs[i].n
		nodes = append(nodes, Node{Name: n.Name, NodeGroup: g.ng.Name})
		for gi := 0; gi < g.gpn; gi++ {
			idx := -1
			if gi < len(n.GPUs) {
				k := g.currentKey(n.GPUs[gi])
				if len(pool[k]) > 0 {
					idx = pool[k][0]
					pool[k] = pool[k][1:]
				}
			}
			assigned = append(assigned, idx)
		}
	}
	for i := keep; i < nNodes; i++ {
		nodes = append(nodes, Node{Name: m.newNodeName(g, current, i-keep), NodeGroup: g.ng.Name})
		for gi := 0; gi < g.gpn; gi++ {
			assigned = append(assigned, -1)
		}
	}
	// Remaining wanted GPUs fill free positions in order.
	var rest []int
	for _, i := range order {
		k := keys[i]
		if len(pool[k]) > 0 && pool[k][0] == i {
			rest = append(rest, i)
			pool[k] = pool[k][1:]
		}
	}
	for pos := range assigned {
		if assigned[pos] < 0 && len(rest) > 0 {
			assigned[pos], rest = rest[0], rest[1:]
		}
	}
	gpus := 0
	for ni := range nodes {
		n := &nodes[ni]
		for gi := 0; gi < g.gpn; gi++ {
			gpu := GPU{Index: gi}
			if idx := assigned[ni*g.gpn+gi]; idx >= 0 {
				gpus++
				a := allocs[idx]
				if g.ng.Mode == ModeMIGDynamic || g.ng.Mode == ModeMIGFixed {
					gpu.Layout = slices.Clone(a.layout)
				}
			} else if g.ng.Mode == ModeMIGFixed {
				gpu.Layout = slices.Clone(g.ng.Layout)
			}
			n.GPUs = append(n.GPUs, gpu)
		}
		if cfg, ok := nodeMIG(g, n.GPUs); ok {
			n.MIGConfig = cfg.Name
			plan.MIGConfigs[cfg.Name] = cfg.Entries
		}
	}
	// Time-sliced members travel with their GPU; record them for seating.
	plan.Nodes = append(plan.Nodes, nodes...)
	s.seats = append(s.seats, tsSeating{group: g.idx, nodes: len(plan.Nodes) - len(nodes), assigned: assigned, allocs: allocs})
	return GroupPlan{Name: g.ng.Name, CapacityType: g.ng.CapacityType, InstanceType: g.ng.InstanceType,
		Nodes: nNodes, Min: g.ng.Min, Max: g.ng.Max, GPUs: gpus, CostPerHour: round6(float64(nNodes) * g.nodePrice)}
}

// tsSeating remembers which packed GPU sits at which position of a group's
// nodes, for time-sliced groups whose members were packed by memory.
type tsSeating struct {
	group    int
	nodes    int // index of the group's first node in plan.Nodes
	assigned []int
	allocs   []gpuAlloc
}

func (m *model) newNodeName(g *group, current []Node, i int) string {
	taken := map[string]bool{}
	for _, n := range current {
		taken[n.Name] = true
	}
	for k := i; ; k++ {
		name := fmt.Sprintf("%s-new-%d", g.ng.Name, k)
		if !taken[name] {
			return name
		}
	}
}

// nodeMIG is a node's MIG config (nvidia.com/mig.config and its mig-parted
// entry): the nodegroup's named layout for mig-fixed, all-disabled for
// MIG-capable GPUs used whole or time-sliced, else the per-GPU layouts;
// ok is false for GPUs without MIG.
func nodeMIG(g *group, gpus []GPU) (cfg catalog.MIGConfig, ok bool) {
	if !g.gpu.MIG {
		return catalog.MIGConfig{}, false
	}
	switch g.ng.Mode {
	case ModeMIGFixed:
		if g.ng.LayoutName != "" {
			return catalog.FixedMIG(g.ng.LayoutName, g.ng.Layout.Counts()), true
		}
	case ModeWhole, ModeTimeSliced:
		return catalog.MIGDisabled(), true
	}
	per := make([]map[string]int, len(gpus))
	for i, gpu := range gpus {
		per[i] = gpu.Layout.Counts()
	}
	return catalog.NodeMIG(per), true
}

// seat puts each replica into a slot: first where the same class already
// sits in the same slot, then into free slots in node, GPU, start order.
// Replicas that find no slot are reported unplaced.
func (m *model) seat(s *solution, plan *Plan) {
	type key struct{ g, kind int }
	want := map[key][]int{} // per (group, kind): replica count per class
	for ci, cm := range m.classes {
		for j, r := range s.reps[ci] {
			if r == 0 {
				continue
			}
			cd := &cm.cands[j]
			k := key{cd.g, cd.kind}
			if want[k] == nil {
				want[k] = make([]int, len(m.classes))
			}
			want[k][ci] += r
		}
	}
	curSlots := map[string]string{} // node/gpu/profile@start -> class
	if m.p.Current != nil {
		for _, n := range m.p.Current.Nodes {
			for _, gpu := range n.GPUs {
				for _, sl := range gpu.Slots {
					curSlots[fmt.Sprintf("%s/%d/%s@%d", n.Name, gpu.Index, sl.Profile, sl.Start)] = sl.Class
				}
			}
		}
	}
	lookup := func(node string, gpu int, sl Slot) (string, bool) {
		if len(curSlots) == 0 {
			return "", false
		}
		cls, ok := curSlots[fmt.Sprintf("%s/%d/%s@%d", node, gpu, sl.Profile, sl.Start)]
		return cls, ok
	}
	// Time-sliced: members were packed per GPU.
	for _, ts := range s.seats {
		g := m.groups[ts.group]
		if g.memRes < 0 {
			continue
		}
		for pos, idx := range ts.assigned {
			if idx < 0 {
				continue
			}
			n := &plan.Nodes[ts.nodes+pos/g.gpn]
			gpu := &n.GPUs[pos%g.gpn]
			for share, ci := range ts.allocs[idx].members {
				gpu.Slots = append(gpu.Slots, Slot{Class: m.classes[ci].c.Name, Profile: catalog.ProfileTimeSliced, Start: share})
				want[key{g.idx, 0}][ci]--
			}
		}
	}
	type free struct {
		node, gpu int
		profile   string
		start     int
		kind      int
		g         int
	}
	var frees []free
	for ni := range plan.Nodes {
		n := &plan.Nodes[ni]
		g := m.groupByName(n.NodeGroup)
		if g.memRes >= 0 {
			continue
		}
		for gi := range n.GPUs {
			gpu := &n.GPUs[gi]
			var slots []Slot
			if len(gpu.Layout) > 0 {
				for _, pl := range gpu.Layout {
					slots = append(slots, Slot{Profile: pl.Profile, Start: pl.Start})
				}
			} else if m.gpuUsed(s, g, ni, gi, plan) {
				slots = []Slot{{Profile: catalog.ProfileWhole}}
			}
			for _, sl := range slots {
				k := slices.Index(g.kinds, sl.Profile)
				if k < 0 {
					continue
				}
				w := want[key{g.idx, k}]
				if w == nil {
					frees = append(frees, free{ni, gi, sl.Profile, sl.Start, k, g.idx})
					continue
				}
				if cls, ok := lookup(n.Name, gpu.Index, sl); ok {
					if ci, ok := m.byName[cls]; ok && w[ci] > 0 {
						w[ci]--
						gpu.Slots = append(gpu.Slots, Slot{Class: cls, Profile: sl.Profile, Start: sl.Start})
						continue
					}
				}
				frees = append(frees, free{ni, gi, sl.Profile, sl.Start, k, g.idx})
			}
		}
	}
	next := map[key]int{} // next class index to seat per key
	for _, f := range frees {
		k := key{f.g, f.kind}
		w := want[k]
		if w == nil {
			continue
		}
		ci := next[k]
		for ci < len(w) && w[ci] == 0 {
			ci++
		}
		next[k] = ci
		if ci == len(w) {
			continue
		}
		w[ci]--
		gpu := &plan.Nodes[f.node].GPUs[f.gpu]
		gpu.Slots = append(gpu.Slots, Slot{Class: m.classes[ci].c.Name, Profile: f.profile, Start: f.start})
	}
	for ni := range plan.Nodes {
		for gi := range plan.Nodes[ni].GPUs {
			sl := plan.Nodes[ni].GPUs[gi].Slots
			sort.SliceStable(sl, func(a, b int) bool { return sl[a].Start < sl[b].Start })
		}
	}
	// Anything left had no slot: the group hit its max.
	keys := make([]key, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].g != keys[b].g {
			return keys[a].g < keys[b].g
		}
		return keys[a].kind < keys[b].kind
	})
	for _, k := range keys {
		for ci, left := range want[k] {
			if left <= 0 {
				continue
			}
			g := m.groups[k.g]
			s.reps[ci][m.candIndex(ci, k.g, k.kind)] -= left
			if _, ok := s.unplaced[ci]; !ok {
				s.unplaced[ci] = fmt.Sprintf("%d replicas on %s %s found no slot: nodegroup %s is at its max of %d nodes",
					left, g.gpu.Name, g.kinds[k.kind], g.ng.Name, g.ng.Max)
			}
		}
	}
}

func (m *model) candIndex(ci, g, kind int) int {
	for j, cd := range m.classes[ci].cands {
		if cd.g == g && cd.kind == kind {
			return j
		}
	}
	return -1
}

// gpuUsed says whether the GPU at (node, gpu) holds a packed whole-GPU
// allocation (whole GPUs have no layout to tell).
func (m *model) gpuUsed(s *solution, g *group, ni, gi int, plan *Plan) bool {
	for _, ts := range s.seats {
		if ts.group != g.idx {
			continue
		}
		pos := (ni-ts.nodes)*g.gpn + gi
		return pos >= 0 && pos < len(ts.assigned) && ts.assigned[pos] >= 0
	}
	return false
}

// allocations sums replicas per class per (group, profile).
func (m *model) allocations(s *solution, plan *Plan) {
	for ci, cm := range m.classes {
		for j, r := range s.reps[ci] {
			if r <= 0 {
				continue
			}
			cd := &cm.cands[j]
			g := m.groups[cd.g]
			capacity := float64(r) * cd.cap
			if cm.c.Rate == 0 {
				capacity = float64(r)
			}
			plan.Allocations = append(plan.Allocations, Allocation{Class: cm.c.Name, NodeGroup: g.ng.Name, GPU: g.gpu.Name,
				Profile: g.kinds[cd.kind], Replicas: r, Capacity: round6(capacity), Resource: catalog.ResourceName(g.kinds[cd.kind]), MemoryGiB: cd.mem})
		}
	}
	sort.SliceStable(plan.Allocations, func(i, j int) bool {
		a, b := plan.Allocations[i], plan.Allocations[j]
		if a.Class != b.Class {
			return a.Class < b.Class
		}
		if a.NodeGroup != b.NodeGroup {
			return a.NodeGroup < b.NodeGroup
		}
		return a.Profile < b.Profile
	})
}

// diff lists the changes from the current state to the plan.
func (m *model) diff(plan *Plan) {
	ch := &plan.Changes
	cur := map[string]Node{}
	if m.p.Current != nil {
		for _, n := range m.p.Current.Nodes {
			cur[n.Name] = n
		}
	}
	inPlan := map[string]bool{}
	curCount, newCount := map[string]int{}, map[string]int{}
	kept := map[string]int{}
	for _, n := range plan.Nodes {
		inPlan[n.Name] = true
		old, existed := cur[n.Name]
		if !existed {
			ch.NodesAdded = append(ch.NodesAdded, n.Name)
		}
		for _, gpu := range n.GPUs {
			for _, sl := range gpu.Slots {
				newCount[sl.Class]++
			}
			if !existed {
				continue
			}
			var og *GPU
			for i := range old.GPUs {
				if old.GPUs[i].Index == gpu.Index {
					og = &old.GPUs[i]
				}
			}
			if og == nil {
				continue
			}
			if og.Layout.String() != gpu.Layout.String() {
				ch.LayoutsChanged = append(ch.LayoutsChanged, LayoutChange{Node: n.Name, GPU: gpu.Index, From: og.Layout.String(), To: gpu.Layout.String()})
			}
			for _, sl := range gpu.Slots {
				for _, os := range og.Slots {
					if os == sl {
						kept[sl.Class]++
						break
					}
				}
			}
		}
	}
	for _, n := range sortedNodes(m.p.Current) {
		for _, gpu := range n.GPUs {
			for _, sl := range gpu.Slots {
				curCount[sl.Class]++
			}
		}
		if !inPlan[n.Name] {
			ch.NodesRemoved = append(ch.NodesRemoved, n.Name)
		}
	}
	classes := map[string]bool{}
	for c := range curCount {
		classes[c] = true
	}
	for c := range newCount {
		classes[c] = true
	}
	for c := range classes {
		oldN, newN, k := curCount[c], newCount[c], kept[c]
		moved := min(oldN, newN) - k
		ch.ReplicasMoved += max(moved, 0)
		if newN > oldN {
			ch.ReplicasAdded += newN - oldN
		} else {
			ch.ReplicasGone += oldN - newN
		}
	}
	ch.Penalty = round6(float64(ch.ReplicasMoved) * m.p.ChangeCost)
}

func sortedNodes(s *State) []Node {
	if s == nil {
		return nil
	}
	out := slices.Clone(s.Nodes)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// reasons explains, per class, the option chosen and the cheapest one by
// list price that was not, and per nodegroup the size.
func (m *model) reasons(s *solution, pi []float64, plan *Plan) {
	for ci, cm := range m.classes {
		var chosen []string
		chosenSet := map[int]bool{}
		for j, r := range s.reps[ci] {
			if r > 0 {
				cd := &cm.cands[j]
				chosen = append(chosen, fmt.Sprintf("%d x %s/%s", r, m.groups[cd.g].ng.Name, m.groups[cd.g].kinds[cd.kind]))
				chosenSet[j] = true
			}
		}
		if len(chosen) == 0 {
			continue
		}
		r := Reason{Subject: "class " + cm.c.Name, Decision: strings.Join(chosen, ", ")}
		// The cheapest candidate by list $/h per unit of capacity that was
		// not used, and why.
		bj, bv := -1, math.Inf(1)
		for j, cd := range cm.cands {
			if !chosenSet[j] && cd.list/cd.cap < bv {
				bj, bv = j, cd.list/cd.cap
			}
		}
		switch {
		case bj >= 0:
			cd := &cm.cands[bj]
			g := m.groups[cd.g]
			r.Rejected = fmt.Sprintf("%s/%s at $%.4f/h per unit by list price", g.ng.Name, g.kinds[cd.kind], bv)
			why := "first-fit-decreasing takes the cheapest option by list price only"
			if pi != nil {
				here, there := m.chosenUnit(ci, s, pi), m.unitPrice(cd, pi)
				switch {
				case here < 1e-9 && cd.g != m.chosenGroup(ci, s):
					why = "the choice uses GPUs already paid for (nodes held at their min size or free GPUs on a node), so it adds nothing to the cost"
				case math.Abs(there-here) <= 1e-6*here:
					why = fmt.Sprintf("it costs the same per unit at the LP's slot prices ($%.4f/h); the tie went to the option whose rounding to whole replicas and nodes cost less", here)
				case there > here:
					why = fmt.Sprintf("at the LP's slot prices, which charge a slot for the GPU share it blocks and for scarcity, it costs $%.4f/h per unit against $%.4f/h for the choice", there, here)
				default:
					why = fmt.Sprintf("cheaper per unit at the LP's slot prices ($%.4f/h against $%.4f/h), but whole replicas of the chosen mix cover the demand with less left over, or its slots are taken", there, here)
				}
			}
			if g.ng.Max > 0 && len(s.gpus[g.idx]) >= g.ng.Max*g.gpn {
				why = fmt.Sprintf("nodegroup %s is at its max of %d nodes", g.ng.Name, g.ng.Max)
			}
			r.Why = why
		default:
			r.Why = "the only options that fit"
		}
		if len(cm.rejects) > 0 {
			r.Why += "; not possible: " + strings.Join(cm.rejects, "; ")
		}
		plan.Reasons = append(plan.Reasons, r)
	}
	for _, gp := range plan.NodeGroups {
		why := fmt.Sprintf("%d GPUs used of %d", gp.GPUs, gp.Nodes*m.groupByName(gp.Name).gpn)
		if gp.Nodes == gp.Min && gp.Min > 0 {
			why += fmt.Sprintf("; held at min %d", gp.Min)
		}
		if gp.Max > 0 && gp.Nodes == gp.Max {
			why += fmt.Sprintf("; at max %d", gp.Max)
		}
		plan.Reasons = append(plan.Reasons, Reason{Subject: "nodegroup " + gp.Name,
			Decision: fmt.Sprintf("%d nodes (%s), $%.2f/h", gp.Nodes, gp.CapacityType, gp.CostPerHour), Why: why})
	}
}

// chosenGroup is the group of class ci's first chosen candidate.
func (m *model) chosenGroup(ci int, s *solution) int {
	for j, r := range s.reps[ci] {
		if r > 0 {
			return m.classes[ci].cands[j].g
		}
	}
	return -1
}

func (m *model) chosenUnit(ci int, s *solution, pi []float64) float64 {
	cm := m.classes[ci]
	best := math.Inf(1)
	for j, r := range s.reps[ci] {
		if r > 0 {
			best = math.Min(best, m.unitPrice(&cm.cands[j], pi))
		}
	}
	return best
}

// unitPrice is a candidate's $/h per unit of capacity at slot prices pi.
func (m *model) unitPrice(cd *cand, pi []float64) float64 {
	c := pi[cd.res]
	if cd.memRes >= 0 {
		c += pi[cd.memRes] * cd.mem
	}
	return c / cd.cap
}
