package binpack

import (
	"fmt"
	"math"
	"slices"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// An independent legality checker for MIG layouts, written from the rules
// in shared/reference/mig.md and deliberately not using
// catalog.GPU.ValidateLayout or the catalog's profile table: 7 compute
// slices, 8 memory slices, each instance a contiguous run of memory slices
// from one of its family's allowed starts, no overlap, compute <= 7.
type migFamily struct {
	compute, memory int
	starts          []int
}

var (
	fam1g       = migFamily{1, 1, []int{0, 1, 2, 3, 4, 5, 6}}
	fam1gDouble = migFamily{1, 2, []int{0, 2, 4, 6}}
	fam2g       = migFamily{2, 2, []int{0, 2, 4}}
	fam3g       = migFamily{3, 4, []int{0, 4}}
	fam4g       = migFamily{4, 4, []int{0}}
	fam7g       = migFamily{7, 8, []int{0}}
)

// migFamilies maps each GPU's profile names to their family (mig.md,
// "Profiles by GPU").
var migFamilies = map[string]map[string]migFamily{
	"A100-40GB":  {"1g.5gb": fam1g, "1g.10gb": fam1gDouble, "2g.10gb": fam2g, "3g.20gb": fam3g, "4g.20gb": fam4g, "7g.40gb": fam7g},
	"A100-80GB":  {"1g.10gb": fam1g, "1g.20gb": fam1gDouble, "2g.20gb": fam2g, "3g.40gb": fam3g, "4g.40gb": fam4g, "7g.80gb": fam7g},
	"H100-80GB":  {"1g.10gb": fam1g, "1g.20gb": fam1gDouble, "2g.20gb": fam2g, "3g.40gb": fam3g, "4g.40gb": fam4g, "7g.80gb": fam7g},
	"H200-141GB": {"1g.18gb": fam1g, "1g.35gb": fam1gDouble, "2g.35gb": fam2g, "3g.71gb": fam3g, "4g.71gb": fam4g, "7g.141gb": fam7g},
}

// checkLayout returns why a layout is illegal on gpu, or "" when legal.
func checkLayout(gpu string, l catalog.Layout) string {
	fams, ok := migFamilies[gpu]
	if !ok {
		if len(l) > 0 {
			return gpu + " has no MIG"
		}
		return ""
	}
	var used [8]bool
	compute := 0
	for _, p := range l {
		f, ok := fams[p.Profile]
		if !ok {
			return fmt.Sprintf("%s is not a profile of %s", p.Profile, gpu)
		}
		if !slices.Contains(f.starts, p.Start) {
			return fmt.Sprintf("%s may not start at %d", p.Profile, p.Start)
		}
		for s := p.Start; s < p.Start+f.memory; s++ {
			if s >= 8 {
				return fmt.Sprintf("%s@%d runs past the last memory slice", p.Profile, p.Start)
			}
			if used[s] {
				return fmt.Sprintf("%s@%d overlaps memory slice %d", p.Profile, p.Start, s)
			}
			used[s] = true
		}
		compute += f.compute
	}
	if compute > 7 {
		return fmt.Sprintf("%d compute slices, more than 7", compute)
	}
	return ""
}

// checkPlan checks a plan against its problem independently of the
// solver's internals and returns every violation found.
func checkPlan(p *Problem, plan *Plan) []string {
	cat := p.Catalog
	if cat == nil {
		cat = catalog.Default()
	}
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	groups := map[string]NodeGroup{}
	for _, g := range p.NodeGroups {
		if g.CapacityType == "" {
			g.CapacityType = OnDemand
		}
		if g.Mode == "" {
			g.Mode = ModeWhole
		}
		groups[g.Name] = g
	}
	classes := map[string]Class{}
	for _, c := range p.Classes {
		classes[c.Name] = c
	}
	unplaced := map[string]bool{}
	for _, u := range plan.Unplaced {
		unplaced[u.Class] = true
	}
	nodesPer := map[string]int{}
	cost := 0.0
	type served struct {
		capacity, od float64
		replicas     int
	}
	got := map[string]*served{}
	slotCount := map[string]int{} // class/group/profile
	for _, n := range plan.Nodes {
		g, ok := groups[n.NodeGroup]
		if !ok {
			fail("node %s: unknown nodegroup %s", n.Name, n.NodeGroup)
			continue
		}
		it, _ := cat.Instance(g.InstanceType)
		gpu, _ := cat.GPU(it.GPU)
		nodesPer[g.Name]++
		price := g.Price
		if price == 0 {
			price = it.Price(g.CapacityType)
		}
		cost += price
		if len(n.GPUs) != it.GPUs {
			fail("node %s: %d GPUs, instance has %d", n.Name, len(n.GPUs), it.GPUs)
		}
		for _, gp := range n.GPUs {
			if why := checkLayout(gpu.Name, gp.Layout); why != "" {
				fail("node %s GPU %d: illegal layout %s: %s", n.Name, gp.Index, gp.Layout, why)
			}
			if g.Mode == ModeMIGFixed && gp.Layout.String() != g.Layout.String() {
				fail("node %s GPU %d: layout %s on a mig-fixed group with %s", n.Name, gp.Index, gp.Layout, g.Layout)
			}
			mem := 0.0
			for _, sl := range gp.Slots {
				c, ok := classes[sl.Class]
				if !ok {
					fail("node %s: slot for unknown class %s", n.Name, sl.Class)
					continue
				}
				var opt *Option
				for i := range c.Options {
					if c.Options[i].GPU == gpu.Name && c.Options[i].Profile == sl.Profile {
						opt = &c.Options[i]
					}
				}
				if opt == nil {
					fail("class %s on %s %s: not one of its options", c.Name, gpu.Name, sl.Profile)
					continue
				}
				switch {
				case len(gp.Layout) > 0:
					if !slices.Contains(gp.Layout, catalog.Placement{Profile: sl.Profile, Start: sl.Start}) {
						fail("node %s GPU %d: slot %s@%d not in layout %s", n.Name, gp.Index, sl.Profile, sl.Start, gp.Layout)
					}
				case g.Mode == ModeTimeSliced:
					if sl.Profile != catalog.ProfileTimeSliced || len(gp.Slots) > g.TimeSlices {
						fail("node %s GPU %d: %d slots on a %d-way time-sliced GPU", n.Name, gp.Index, len(gp.Slots), g.TimeSlices)
					}
				default:
					if sl.Profile != catalog.ProfileWhole || len(gp.Slots) > 1 {
						fail("node %s GPU %d: whole GPU with slots %v", n.Name, gp.Index, gp.Slots)
					}
				}
				prof, _ := gpu.Profile(sl.Profile)
				if opt.MemoryGiB > prof.UsableGiB+1e-9 {
					fail("class %s needs %.2f GiB, %s has %.2f", c.Name, opt.MemoryGiB, sl.Profile, prof.UsableGiB)
				}
				mem += opt.MemoryGiB
				if g.CapacityType == Spot && c.Spot == SpotNever {
					fail("class %s (spot never) on spot node %s", c.Name, n.Name)
				}
				if len(c.NodeGroups) > 0 && !slices.Contains(c.NodeGroups, g.Name) {
					fail("class %s on nodegroup %s, not in its list", c.Name, g.Name)
				}
				if len(g.Tenants) > 0 && !slices.Contains(g.Tenants, c.Tenant) {
					fail("class %s (tenant %q) on nodegroup %s dedicated to %v", c.Name, c.Tenant, g.Name, g.Tenants)
				}
				s := got[c.Name]
				if s == nil {
					s = &served{}
					got[c.Name] = s
				}
				unit := opt.Capacity
				if c.Rate == 0 {
					unit = 1
				}
				s.capacity += unit
				if g.CapacityType == OnDemand {
					s.od += unit
				}
				s.replicas++
				slotCount[c.Name+"/"+g.Name+"/"+sl.Profile]++
			}
			if g.Mode == ModeTimeSliced && mem > gpu.MemoryGiB+1e-9 {
				fail("node %s GPU %d: time-sliced replicas need %.2f GiB, GPU has %.2f", n.Name, gp.Index, mem, gpu.MemoryGiB)
			}
		}
	}
	for _, g := range p.NodeGroups {
		k := nodesPer[g.Name]
		if g.Max > 0 && k > g.Max {
			fail("nodegroup %s: %d nodes, max %d", g.Name, k, g.Max)
		}
		if k < g.Min {
			fail("nodegroup %s: %d nodes, min %d", g.Name, k, g.Min)
		}
	}
	for _, c := range p.Classes {
		if unplaced[c.Name] {
			continue
		}
		s := got[c.Name]
		if s == nil {
			s = &served{}
		}
		demand := c.Rate
		if c.Rate == 0 {
			demand = float64(c.Replicas)
		}
		f := c.MinOnDemandFraction
		if c.Spot == SpotNever {
			f = 1
		}
		tol := 1e-9 * math.Max(1, demand)
		if s.capacity < demand-tol {
			fail("class %s: capacity %.3f < demand %.3f and not reported unplaced", c.Name, s.capacity, demand)
		}
		if s.od < f*demand-tol {
			fail("class %s: on-demand capacity %.3f < %.0f%% of %.3f", c.Name, s.od, f*100, demand)
		}
		want := c.MinReplicas
		if demand > 0 {
			want = max(want, 1)
		}
		if s.replicas < want {
			fail("class %s: %d replicas < %d", c.Name, s.replicas, want)
		}
	}
	for _, a := range plan.Allocations {
		if n := slotCount[a.Class+"/"+a.NodeGroup+"/"+a.Profile]; n != a.Replicas {
			fail("allocation %s on %s/%s says %d replicas, %d slots hold it", a.Class, a.NodeGroup, a.Profile, a.Replicas, n)
		}
		want := "nvidia.com/gpu"
		if a.Profile != catalog.ProfileWhole && a.Profile != catalog.ProfileTimeSliced {
			want = "nvidia.com/mig-" + a.Profile
		}
		if a.Resource != want {
			fail("allocation %s: resource %s, want %s", a.Class, a.Resource, want)
		}
	}
	if math.Abs(cost-plan.CostPerHour) > 1e-6*math.Max(1, cost) {
		fail("plan says $%.4f/h, its nodes cost $%.4f/h", plan.CostPerHour, cost)
	}
	if plan.CostPerHour < plan.LowerBound-1e-6*math.Max(1, plan.LowerBound) {
		fail("cost $%.4f/h below the lower bound $%.4f/h", plan.CostPerHour, plan.LowerBound)
	}
	return bad
}
