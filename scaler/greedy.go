package scaler

import (
	"fmt"
	"math"
	"sort"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// Greedy is the built-in packer: existing replicas stay; missing replicas
// go to free slots of their profile on existing nodes (on-demand share
// first, then the cheapest per slot), then onto empty mig-dynamic nodes
// re-laid out for them, then onto new nodes of the cheapest nodegroup per
// slot. Every GPU of a mig-dynamic node holds one profile. It is a
// placeholder for the binpack solver, not an optimizer.
type Greedy struct {
	Catalog *catalog.Catalog
}

type gnode struct {
	name, group string
	config      catalog.MIGConfig
	free        map[string]int // profile -> free slots
	used        int
	fresh       bool // added by the packer or re-laid out: layout still open
	gpus        int
}

// slots returns the slots of all GPUs of a node of group g under config.
func (p Greedy) slots(g PackNodeGroup, config catalog.MIGConfig) map[string]int {
	gpus := max(g.GPUs, 1)
	out := map[string]int{}
	switch g.Mode {
	case "time-sliced":
		out[catalog.ProfileTimeSliced] = max(g.TimeSlices, 1) * gpus
	case "mig-fixed":
		for k, v := range g.FixedLayout {
			out[k] = v * gpus
		}
	case "mig-dynamic":
		for _, counts := range config.PerGPU(gpus) {
			if len(counts) == 0 {
				out[catalog.ProfileWhole]++ // MIG off (or not known yet): a whole GPU
			}
			for k, v := range counts {
				out[k] += v
			}
		}
	default:
		out[catalog.ProfileWhole] = gpus
	}
	return out
}

// uniform is the config that fills every GPU of group g with one profile.
func (p Greedy) uniform(g PackNodeGroup, profile string) catalog.MIGConfig {
	gpu := p.catalogGPU(g.GPU)
	prof, ok := catalog.Profile{}, false
	if gpu != nil {
		prof, ok = gpu.Profile(profile)
	}
	if !ok || prof.Memory == 0 {
		return catalog.MIGDisabled()
	}
	return catalog.UniformMIG(map[string]int{profile: prof.MaxPerGPU()})
}

func (p Greedy) catalogGPU(name string) *catalog.GPU {
	c := p.Catalog
	if c == nil {
		c = defaultCatalog
	}
	g, _ := c.GPU(name)
	return g
}

var defaultCatalog = catalog.Default()

// Pack implements Packer.
func (p Greedy) Pack(req PackRequest) PackResult {
	res := PackResult{Targets: map[string]int{}, Layouts: map[string]catalog.MIGConfig{}, Placed: map[string]int{}, Unplaced: map[string]int{}}
	groups := map[string]PackNodeGroup{}
	for _, g := range req.NodeGroups {
		groups[g.Name] = g
		res.Targets[g.Name] = 0
	}
	var nodes []*gnode
	for _, n := range req.Nodes {
		g, ok := groups[n.NodeGroup]
		if !ok {
			continue
		}
		gn := &gnode{name: n.Name, group: g.Name, config: n.MIG, gpus: max(g.GPUs, 1), free: p.slots(g, n.MIG)}
		if g.Mode == "mig-dynamic" && n.Booting {
			gn.fresh = true
		}
		for _, pod := range n.Pods {
			if gn.free[pod.Profile] > 0 {
				gn.free[pod.Profile]--
			}
			gn.used++
			res.Placed[pod.Class]++
		}
		if g.Mode == "mig-dynamic" && gn.used == 0 {
			gn.fresh = true
		}
		nodes = append(nodes, gn)
		res.Targets[g.Name]++
	}
	// Larger demands first, ties by name: deterministic.
	classes := append([]PackClass(nil), req.Classes...)
	sort.SliceStable(classes, func(i, j int) bool {
		if classes[i].Replicas != classes[j].Replicas {
			return classes[i].Replicas > classes[j].Replicas
		}
		return classes[i].Name < classes[j].Name
	})
	for _, c := range classes {
		need := c.Replicas - res.Placed[c.Name]
		if need <= 0 {
			continue
		}
		onDemand := int(math.Ceil(c.MinOnDemandFraction*float64(c.Replicas))) - p.placedOnDemand(c.Name, req, groups)
		if c.Spot == "never" {
			onDemand = need
		}
		onDemand = min(max(onDemand, 0), need)
		placedOD := p.place(&nodes, groups, c, onDemand, true, req.AllowNew, &res)
		rest := need - placedOD
		placed := p.place(&nodes, groups, c, rest, c.Spot == "never", req.AllowNew, &res)
		if left := rest - placed + (onDemand - placedOD); left > 0 {
			// On-demand share could not be met on on-demand capacity
			// (its nodegroups at their max): place the remainder anywhere
			// allowed rather than not at all. Not when checking whether a
			// node can go (no new nodes): removing a node must not push
			// the share onto spot.
			extra := 0
			if c.Spot != "never" && onDemand > placedOD && req.AllowNew {
				extra = p.place(&nodes, groups, c, left, false, req.AllowNew, &res)
				res.Reasons = append(res.Reasons, fmt.Sprintf("%s: %d replicas of its on-demand share went to spot", c.Name, extra))
			}
			if left-extra > 0 {
				res.Unplaced[c.Name] += left - extra
				res.Reasons = append(res.Reasons, fmt.Sprintf("%s: %d replicas fit no allowed nodegroup (max sizes or profiles)", c.Name, left-extra))
			}
		}
	}
	for _, n := range nodes {
		if n.fresh && n.config.Name != "" && n.used > 0 {
			for _, orig := range req.Nodes {
				if orig.Name == n.name && !orig.Booting && !orig.MIG.Same(n.config, n.gpus) {
					res.Layouts[n.name] = n.config
				}
			}
		}
	}
	return res
}

func (p Greedy) placedOnDemand(class string, req PackRequest, groups map[string]PackNodeGroup) int {
	n := 0
	for _, node := range req.Nodes {
		if groups[node.NodeGroup].CapacityType == "spot" {
			continue
		}
		for _, pod := range node.Pods {
			if pod.Class == class {
				n++
			}
		}
	}
	return n
}

func allowed(c PackClass, g PackNodeGroup) (PackOption, bool) {
	if len(c.NodeGroups) > 0 {
		ok := false
		for _, n := range c.NodeGroups {
			ok = ok || n == g.Name
		}
		if !ok {
			return PackOption{}, false
		}
	}
	if c.Spot == "never" && g.CapacityType == "spot" {
		return PackOption{}, false
	}
	for _, o := range c.Options {
		if o.GPU != g.GPU {
			continue
		}
		switch g.Mode {
		case "mig-dynamic":
			return o, true
		case "mig-fixed":
			if g.FixedLayout[o.Profile] > 0 {
				return o, true
			}
		case "time-sliced":
			if o.Profile == catalog.ProfileTimeSliced {
				return o, true
			}
		default:
			if o.Profile == catalog.ProfileWhole {
				return o, true
			}
		}
	}
	return PackOption{}, false
}

// place puts up to n replicas of c, on on-demand capacity only when odOnly,
// and returns how many it placed.
func (p Greedy) place(nodes *[]*gnode, groups map[string]PackNodeGroup, c PackClass, n int, odOnly, allowNew bool, res *PackResult) int {
	placed := 0
	// 1. free slots on existing nodes, then fresh (open-layout) nodes.
	for pass := 0; pass < 2 && placed < n; pass++ {
		for _, node := range *nodes {
			if placed >= n {
				break
			}
			g := groups[node.group]
			if odOnly && g.CapacityType == "spot" {
				continue
			}
			o, ok := allowed(c, g)
			if !ok {
				continue
			}
			if pass == 1 && node.fresh && node.used == 0 && g.Mode == "mig-dynamic" && node.free[o.Profile] == 0 {
				// Re-lay out an empty mig-dynamic node for this profile.
				node.config = p.uniform(g, o.Profile)
				node.free = p.slots(g, node.config)
			}
			take := min(node.free[o.Profile], n-placed)
			if take > 0 {
				node.free[o.Profile] -= take
				node.used += take
				placed += take
			}
		}
	}
	// 2. new nodes of the cheapest allowed nodegroup per slot.
	for allowNew && placed < n {
		best, bestCost, bestOpt := "", math.Inf(1), PackOption{}
		for _, name := range sortedGroupNames(groups) {
			g := groups[name]
			if odOnly && g.CapacityType == "spot" {
				continue
			}
			o, ok := allowed(c, g)
			if !ok || (g.Max > 0 && res.Targets[name] >= g.Max) {
				continue
			}
			cfg := catalog.MIGConfig{}
			if g.Mode == "mig-dynamic" {
				cfg = p.uniform(g, o.Profile)
			}
			per := p.slots(g, cfg)[o.Profile]
			if per == 0 {
				continue
			}
			cost := g.Price / float64(min(per, n-placed))
			if c.Spot == "preferred" && g.CapacityType == "spot" {
				cost /= 2
			}
			if cost < bestCost {
				best, bestCost, bestOpt = name, cost, o
			}
		}
		if best == "" {
			break
		}
		g := groups[best]
		cfg := catalog.MIGConfig{}
		if g.Mode == "mig-dynamic" {
			cfg = p.uniform(g, bestOpt.Profile)
		}
		node := &gnode{name: fmt.Sprintf("new-%s-%d", best, res.Targets[best]), group: best, config: cfg, gpus: max(g.GPUs, 1), free: p.slots(g, cfg), fresh: true}
		*nodes = append(*nodes, node)
		res.Targets[best]++
		take := min(node.free[bestOpt.Profile], n-placed)
		node.free[bestOpt.Profile] -= take
		node.used += take
		placed += take
	}
	res.Placed[c.Name] += placed
	return placed
}

func sortedGroupNames(m map[string]PackNodeGroup) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
