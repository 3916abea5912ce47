package scaler

import (
	"fmt"

	"github.com/headroom-dev/headroom/binpack"
	"github.com/headroom-dev/headroom/binpack/catalog"
)

// Binpack adapts the binpack solver to the Packer seam: the sized demand
// becomes a binpack.Problem (replica demand per class, the current nodes as
// Problem.Current) and the plan's group sizes, changed layouts and unplaced
// demand come back as a PackResult. AllowNew=false (the consolidation
// check) caps every nodegroup at the nodes given.
//
// Pods do not say which GPU of a node they sit on, so the current state
// spreads each node's pods over its GPUs' slots in order; the solver's
// ChangeCost keeps it from moving replicas for small savings.
type Binpack struct {
	Catalog *catalog.Catalog
	// ChangeCost is binpack.Problem.ChangeCost ($/h per replica moved);
	// 0 takes binpack.DefaultChangeCost, as `headroom pack` does.
	ChangeCost float64
	// Options bound the solver; no Deadline (the core reads no clock).
	Options binpack.Options
	// FFD uses the first-fit-decreasing baseline only (cheaper per tick).
	FFD bool
}

// Problem is the binpack problem for a pack request.
func (b Binpack) Problem(req PackRequest) *binpack.Problem {
	cat := b.Catalog
	if cat == nil {
		cat = defaultCatalog
	}
	change := b.ChangeCost
	if change == 0 {
		change = binpack.DefaultChangeCost
	}
	p := &binpack.Problem{Catalog: cat, ChangeCost: change, Options: b.Options, Current: &binpack.State{}}
	count := map[string]int{}
	for _, n := range req.Nodes {
		count[n.NodeGroup]++
	}
	groups := map[string]PackNodeGroup{}
	for _, g := range req.NodeGroups {
		groups[g.Name] = g
		ng := binpack.NodeGroup{Name: g.Name, InstanceType: g.InstanceType, CapacityType: g.CapacityType, Mode: g.Mode,
			TimeSlices: g.TimeSlices, Min: g.Min, Max: g.Max, LayoutName: g.FixedName, Tenants: g.Tenants}
		if g.Mode == binpack.ModeMIGFixed {
			ng.Layout = layoutOf(cat, g.GPU, g.FixedLayout)
		}
		if !req.AllowNew {
			if count[g.Name] == 0 {
				continue // binpack reads max 0 as no limit: leave the group out
			}
			ng.Max = count[g.Name]
			ng.Min = min(ng.Min, ng.Max)
		}
		p.NodeGroups = append(p.NodeGroups, ng)
	}
	for _, c := range req.Classes {
		if c.Replicas <= 0 {
			continue
		}
		bc := binpack.Class{Name: c.Name, Replicas: c.Replicas, NodeGroups: c.NodeGroups, Spot: c.Spot, MinOnDemandFraction: c.MinOnDemandFraction, Tenant: c.Tenant}
		for _, o := range c.Options {
			bc.Options = append(bc.Options, binpack.Option{GPU: o.GPU, Profile: o.Profile, MemoryGiB: o.MemoryGiB})
		}
		p.Classes = append(p.Classes, bc)
	}
	for _, n := range req.Nodes {
		if _, ok := groups[n.NodeGroup]; !ok || n.Booting {
			continue
		}
		p.Current.Nodes = append(p.Current.Nodes, currentNode(cat, groups[n.NodeGroup], n))
	}
	return p
}

// Pack implements Packer.
func (b Binpack) Pack(req PackRequest) PackResult {
	res := PackResult{Targets: map[string]int{}, Layouts: map[string]catalog.MIGConfig{}, Placed: map[string]int{}, Unplaced: map[string]int{}}
	p := b.Problem(req)
	solve := binpack.Solve
	if b.FFD {
		solve = binpack.SolveFFD
	}
	plan, err := solve(p)
	if plan == nil {
		res.Reasons = append(res.Reasons, fmt.Sprintf("binpack: %v", err))
		for _, c := range req.Classes {
			res.Unplaced[c.Name] += c.Replicas
		}
		return res
	}
	for _, g := range plan.NodeGroups {
		res.Targets[g.Name] = g.Nodes
	}
	for _, a := range plan.Allocations {
		res.Placed[a.Class] += a.Replicas
	}
	for _, u := range plan.Unplaced {
		res.Unplaced[u.Class] += max(u.Replicas, 1)
		res.Reasons = append(res.Reasons, fmt.Sprintf("%s: %s", u.Class, u.Reason))
	}
	// A node needs a re-layout only when some GPU the plan uses gets a
	// layout other than the one it has; GPUs the plan leaves empty keep
	// theirs.
	current := map[string]binpack.Node{}
	for _, n := range p.Current.Nodes {
		current[n.Name] = n
	}
	for _, n := range plan.Nodes {
		cur, ok := current[n.Name]
		if !ok || n.MIGConfig == "" {
			continue
		}
		for i, g := range n.GPUs {
			if len(g.Layout) == 0 || i >= len(cur.GPUs) {
				continue
			}
			if !catalog.UniformMIG(g.Layout.Counts()).Same(catalog.UniformMIG(cur.GPUs[i].Layout.Counts()), 1) {
				res.Layouts[n.Name] = catalog.MIGConfig{Name: n.MIGConfig, Entries: plan.MIGConfigs[n.MIGConfig]}
				break
			}
		}
	}
	for _, r := range plan.Reasons {
		res.Reasons = append(res.Reasons, fmt.Sprintf("%s: %s (%s)", r.Subject, r.Decision, r.Why))
	}
	return res
}

// layoutOf builds a per-GPU layout with the given profile counts; nil when
// they fit no legal layout.
func layoutOf(cat *catalog.Catalog, gpu string, counts map[string]int) catalog.Layout {
	g, ok := cat.GPU(gpu)
	if !ok {
		return nil
	}
	l, _ := g.LayoutFor(counts)
	return l
}

// currentNode is a node's current GPUs for binpack: the layout its MIG
// config names, with the node's pods spread over the matching slots.
func currentNode(cat *catalog.Catalog, g PackNodeGroup, n PackNode) binpack.Node {
	out := binpack.Node{Name: n.Name, NodeGroup: n.NodeGroup, MIGConfig: n.MIG.Name}
	gpus := max(g.GPUs, 1)
	perGPU := n.MIG.PerGPU(gpus)
	pods := append([]Pod(nil), n.Pods...)
	for i := range gpus {
		var per catalog.Layout
		switch g.Mode {
		case binpack.ModeMIGFixed:
			per = layoutOf(cat, g.GPU, g.FixedLayout)
		case binpack.ModeMIGDynamic:
			per = layoutOf(cat, g.GPU, perGPU[i])
		}
		bg := binpack.GPU{Index: i, Layout: per}
		switch {
		case len(per) > 0:
			for _, pl := range per {
				for j, p := range pods {
					if p.Profile == pl.Profile {
						bg.Slots = append(bg.Slots, binpack.Slot{Class: p.Class, Profile: p.Profile, Start: pl.Start})
						pods = append(pods[:j], pods[j+1:]...)
						break
					}
				}
			}
		case g.Mode == binpack.ModeTimeSliced:
			for s := 0; s < max(g.TimeSlices, 1) && len(pods) > 0; s++ {
				bg.Slots = append(bg.Slots, binpack.Slot{Class: pods[0].Class, Profile: catalog.ProfileTimeSliced, Start: s})
				pods = pods[1:]
			}
		default:
			if len(pods) > 0 {
				bg.Slots = append(bg.Slots, binpack.Slot{Class: pods[0].Class, Profile: catalog.ProfileWhole})
				pods = pods[1:]
			}
		}
		out.GPUs = append(out.GPUs, bg)
	}
	return out
}
