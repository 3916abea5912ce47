package binpack

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// gpuAlloc is one GPU of a packed group: its layout (MIG), the slots it
// supplies per slot kind, and for time-sliced GPUs the classes on it.
type gpuAlloc struct {
	layout  catalog.Layout
	whole   bool // MIG off on a MIG-capable GPU of a mig-dynamic group
	supply  []int
	members []int // time-sliced: class index per share
	memUsed float64
}

// packer packs one group's slot demand into GPUs.
type packer func(m *model, g *group, demand []int, ts []tsItem) []gpuAlloc

// tsItem is one replica bound for a time-sliced GPU.
type tsItem struct {
	class int
	mem   float64
}

// packLP packs MIG slot demand by the cutting-stock LP over the group's
// maximal layouts (Gilmore-Gomory): min Σ x_L s.t. Σ_L b_L x_L >= d,
// solved with gonum's simplex; the integer parts of x are taken as they
// are and the remainder is packed greedily, most-covering layout first.
func packLP(m *model, g *group, demand []int, ts []tsItem) []gpuAlloc {
	if g.memRes >= 0 {
		return packTimeSliced(g, ts)
	}
	if len(g.patterns) == 1 {
		return packSingle(g, demand)
	}
	// Repair and the local search repack groups whose demand they did not
	// change; the packing of a demand vector is memoized per group.
	key := fmt.Sprint(demand)
	g.memoMu.Lock()
	out, ok := g.packMemo[key]
	g.memoMu.Unlock()
	if ok {
		return out
	}
	// Roundings run in parallel; two may pack the same demand at once and
	// store the same (deterministic) packing.
	out = packLPFresh(g, demand)
	g.memoMu.Lock()
	if g.packMemo == nil {
		g.packMemo = map[string][]gpuAlloc{}
	}
	g.packMemo[key] = out
	g.memoMu.Unlock()
	return out
}

func packLPFresh(g *group, demand []int) []gpuAlloc {
	rem := slices.Clone(demand)
	x := cuttingStockLP(g, demand)
	total := 0
	for _, v := range x {
		total += int(math.Floor(v + 1e-7))
	}
	out := make([]gpuAlloc, 0, total+len(g.kinds)+4)
	for li, v := range x {
		n := int(math.Floor(v + 1e-7))
		if n == 0 {
			continue
		}
		a := newAlloc(g, li)
		for i := 0; i < n; i++ {
			out = append(out, a)
		}
		for k := range rem {
			rem[k] -= n * int(g.patterns[li].supply[k])
		}
	}
	return append(out, greedyCover(g, rem)...)
}

// newAlloc is a GPU with layout li. Its supply slice is the pattern's
// (set by setBounds), shared: allocations from patterns are never edited.
func newAlloc(g *group, li int) gpuAlloc {
	pt := &g.patterns[li]
	return gpuAlloc{layout: pt.layout, supply: pt.isupply, whole: len(pt.layout) == 0 && g.ng.Mode == ModeMIGDynamic}
}

// greedyCover adds layouts one at a time, each the one covering the most of
// the remaining demand (weighted by slot size), until none is left.
func greedyCover(g *group, rem []int) []gpuAlloc {
	var out []gpuAlloc
	weight := make([]float64, len(g.kinds))
	for k, kind := range g.kinds {
		weight[k] = shareOf(g, kind)
	}
	for {
		left := false
		for _, r := range rem {
			if r > 0 {
				left = true
			}
		}
		if !left {
			return out
		}
		best, bi, bestSupply := -1.0, -1, math.Inf(1)
		for li, pt := range g.patterns {
			v, tot := 0.0, 0.0
			for k, s := range pt.supply[:len(g.kinds)] {
				v += math.Min(s, float64(max(rem[k], 0))) * weight[k]
				tot += s * weight[k]
			}
			if v > best+1e-12 || (math.Abs(v-best) <= 1e-12 && tot < bestSupply) {
				best, bi, bestSupply = v, li, tot
			}
		}
		out = append(out, newAlloc(g, bi))
		for k := range rem {
			rem[k] -= int(g.patterns[bi].supply[k])
		}
	}
}

func shareOf(g *group, kind string) float64 {
	switch kind {
	case catalog.ProfileWhole, catalog.ProfileTimeSliced:
		return 1
	}
	p, _ := g.gpu.Profile(kind)
	return math.Max(float64(p.Compute)/catalog.ComputeSlices, float64(p.Memory)/catalog.MemorySlices)
}

// cuttingStockLP returns the LP's GPUs per pattern, or nil when the LP
// fails (the greedy then packs everything).
func cuttingStockLP(g *group, demand []int) []float64 {
	var rows []int
	for k, d := range demand {
		if d > 0 {
			rows = append(rows, k)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	var cols []int
	for li, pt := range g.patterns {
		for _, k := range rows {
			if pt.supply[k] > 0 {
				cols = append(cols, li)
				break
			}
		}
	}
	m, n := len(rows), len(cols)+len(rows)
	a := mat.NewDense(m, n, nil)
	c := make([]float64, n)
	b := make([]float64, m)
	for i, k := range rows {
		b[i] = float64(demand[k])
		for j, li := range cols {
			a.Set(i, j, g.patterns[li].supply[k])
		}
		a.Set(i, len(cols)+i, -1) // surplus
	}
	for j := range cols {
		c[j] = 1
	}
	_, x, err := lp.Simplex(c, a, b, 1e-9, nil)
	if err != nil {
		return nil
	}
	out := make([]float64, len(g.patterns))
	for j, li := range cols {
		out[li] = x[j]
	}
	return out
}

// packSingle packs a group with one layout (mig-fixed, whole).
func packSingle(g *group, demand []int) []gpuAlloc {
	n := 0
	for k, d := range demand {
		s := int(g.patterns[0].supply[k])
		if d > 0 && s > 0 {
			n = max(n, (d+s-1)/s)
		}
	}
	out := make([]gpuAlloc, n)
	for i := range out {
		out[i] = newAlloc(g, 0)
	}
	return out
}

// packTimeSliced packs replicas onto time-sliced GPUs first-fit by
// decreasing memory: at most TimeSlices replicas and the GPU's memory.
func packTimeSliced(g *group, items []tsItem) []gpuAlloc {
	items = slices.Clone(items)
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].mem != items[j].mem {
			return items[i].mem > items[j].mem
		}
		return items[i].class < items[j].class
	})
	var out []gpuAlloc
	for _, it := range items {
		placed := false
		for i := range out {
			if len(out[i].members) < g.ng.TimeSlices && out[i].memUsed+it.mem <= g.gpu.MemoryGiB+1e-9 {
				out[i].members = append(out[i].members, it.class)
				out[i].memUsed += it.mem
				placed = true
				break
			}
		}
		if !placed {
			out = append(out, gpuAlloc{supply: []int{g.ng.TimeSlices}, members: []int{it.class}, memUsed: it.mem})
		}
	}
	return out
}

// packFFD is the first-fit-decreasing baseline: replicas, largest slice
// first, each into the first GPU with room (GPU.Place picks the start),
// else onto a new GPU.
func packFFD(m *model, g *group, demand []int, ts []tsItem) []gpuAlloc {
	if g.memRes >= 0 {
		return packTimeSliced(g, ts)
	}
	if g.ng.Mode != ModeMIGDynamic {
		return packSingleFFD(g, demand)
	}
	order := make([]int, len(g.kinds))
	for k := range order {
		order[k] = k
	}
	sort.SliceStable(order, func(i, j int) bool { return shareOf(g, g.kinds[order[i]]) > shareOf(g, g.kinds[order[j]]) })
	type open struct {
		used    uint16
		compute int
	}
	var out []gpuAlloc
	var st []open
	for _, k := range order {
		kind := g.kinds[k]
		if kind == catalog.ProfileWhole {
			for n := demand[k]; n > 0; n-- {
				a := gpuAlloc{supply: make([]int, len(g.kinds)), whole: true}
				a.supply[k] = 1
				out = append(out, a)
				st = append(st, open{used: 0xff, compute: catalog.ComputeSlices})
			}
			continue
		}
		p, _ := g.gpu.Profile(kind)
		// Items come largest first, so a GPU with no room for this kind
		// now never has room for it later: first is where to resume.
		first := 0
		for n := demand[k]; n > 0; n-- {
			placed := false
			for i := first; i < len(out) && !placed; i++ {
				if st[i].compute+p.Compute > catalog.ComputeSlices {
					first = i + 1
					continue
				}
				for si := len(p.Starts) - 1; si >= 0; si-- {
					start := p.Starts[si]
					mask := uint16((1<<p.Memory)-1) << start
					if start+p.Memory <= catalog.MemorySlices && st[i].used&mask == 0 {
						st[i].used |= mask
						st[i].compute += p.Compute
						out[i].layout = append(out[i].layout, catalog.Placement{Profile: kind, Start: start})
						out[i].supply[k]++
						placed = true
						break
					}
				}
				if !placed && i == first {
					first = i + 1
				}
			}
			if !placed {
				start := p.Starts[len(p.Starts)-1]
				a := gpuAlloc{layout: catalog.Layout{{Profile: kind, Start: start}}, supply: make([]int, len(g.kinds))}
				a.supply[k] = 1
				out = append(out, a)
				st = append(st, open{used: uint16((1<<p.Memory)-1) << start, compute: p.Compute})
			}
		}
	}
	for i := range out {
		slices.SortStableFunc(out[i].layout, func(a, b catalog.Placement) int { return a.Start - b.Start })
	}
	return out
}

// packSingleFFD fills fixed-layout GPUs slot by slot; the count is the same
// as packSingle's (one layout leaves nothing to choose).
func packSingleFFD(g *group, demand []int) []gpuAlloc {
	return packSingle(g, demand)
}
