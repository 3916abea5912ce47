package binpack

import (
	"cmp"
	"fmt"
	"github.com/headroom-dev/headroom/binpack/catalog"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// solution is a packing before it becomes a Plan: replicas per class per
// candidate, GPUs per group.
type solution struct {
	reps     [][]int
	gpus     [][]gpuAlloc
	unplaced map[int]string // class index -> why demand is short
	strategy string
	seats    []tsSeating // filled by materialize
	// capGroup, when >= 0, is a group the local search caps at capGPUs
	// GPUs for a trial (instead of its max).
	capGroup int
	capGPUs  float64
}

// maxGPUs is group g's GPU cap in solution s.
func (m *model) maxGPUs(s *solution, g *group) float64 {
	if s.capGroup == g.idx {
		return s.capGPUs
	}
	return g.maxGPUs
}

func newSolution(m *model, strategy string) *solution {
	return &solution{reps: make([][]int, len(m.classes)), gpus: make([][]gpuAlloc, len(m.groups)),
		unplaced: map[int]string{}, strategy: strategy, capGroup: -1}
}

// costFunc prices one replica of class ci on its candidate j.
type costFunc func(ci, j int) float64

// Solve plans the cheapest packing it can find for the problem and proves a
// lower bound on the cost of any feasible plan. It is deterministic: the
// same problem gives the same plan.
//
// Input errors (bad numbers, unknown names) return a *ProblemError and no
// plan. When part of the demand cannot be placed, or the plan breaks the
// cost ceiling, Solve returns the best partial plan with Plan.Unplaced
// filled and an *InfeasibleError.
func Solve(p *Problem) (*Plan, error) {
	return SolveAt(p, nil)
}

// SolveAt is Solve with a clock for Options.Deadline; nil uses time.Now
// only when a deadline is set.
func SolveAt(p *Problem, now func() time.Time) (*Plan, error) {
	m, err := compile(p)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	opts := p.Options.withDefaults()

	ffd := m.solveWith("ffd", m.listCost, nil, packFFD, opts, false)
	ffdCost := m.cost(ffd)
	target := ffdCost
	if len(ffd.unplaced) > 0 || m.overMax(ffd) {
		// A partial baseline may cost less than the LP optimum; the bound
		// needs a target (and big-M) above it.
		for _, g := range m.groups {
			target += m.gpuCap(g) * g.gpuPrice
		}
	}
	if target <= 0 {
		target = 1
	}
	br := m.bound(target, opts, now)
	// Round the LP's allocation a few ways, each weighing list price a
	// little differently against the LP's slot prices when topping up
	// classes, and keep the cheapest.
	// Each weight is rounded twice, with and without refine; the local
	// search then runs on the best improveTop of these.
	type candidate struct {
		s    *solution
		cost costFunc
	}
	weights, top := listWeights, improveTopLarge
	if len(m.classes) <= smallProblemClasses {
		weights, top = listWeightsSmall, improveTop
	}
	cands := make([]candidate, 2*len(weights))
	parallel(opts.Workers, len(cands), func(i int) {
		cost := m.priceCost(br.pi, weights[i/2])
		cands[i] = candidate{m.solveWith("lp-guided", cost, br.alloc, packLP, opts, i%2 == 1), cost}
	})
	slices.SortStableFunc(cands, func(a, b candidate) int {
		switch {
		case m.better(a.s, b.s):
			return -1
		case m.better(b.s, a.s):
			return 1
		}
		return 0
	})
	polished := cands[:min(top, len(cands))]
	parallel(opts.Workers, len(polished), func(i int) {
		m.improve(polished[i].s, polished[i].cost, packLP, opts, nil)
	})
	var best *solution
	for _, c := range polished {
		if best == nil || m.better(c.s, best) {
			best = c.s
		}
	}
	if m.better(ffd, best) {
		best = ffd
	}
	plan := m.materialize(best, br.pi)
	if m.p.Current != nil && len(m.p.Current.Nodes) > 0 && disrupts(plan.Changes) {
		// Keeping what runs (current replicas, topped up or trimmed to the
		// demand) wins unless the fresh plan saves more than the change
		// cost of the replicas it moves.
		keep := m.materialize(m.keepSolution(m.priceCost(br.pi, listWeights[0]), opts), br.pi)
		if len(keep.Unplaced) <= len(plan.Unplaced) &&
			keep.CostPerHour+keep.Changes.Penalty <= plan.CostPerHour+plan.Changes.Penalty+1e-9 {
			plan = keep
		}
	}
	if len(plan.Unplaced) > 0 {
		// The bound holds for plans that place everything; with demand
		// unplaced, bound the plans that place the rest instead.
		br.value = m.boundWithout(plan.Unplaced, target, opts, now)
	} else if m.withinSizes(plan) {
		// A plan that places everything within the sizes is an
		// incumbent for the integer-aware bound.
		br.value = m.proveBound(br, plan.CostPerHour, target, opts, now)
	}
	plan.LowerBound = round6(br.value)
	if plan.LowerBound > 0 {
		plan.Gap = round6((plan.CostPerHour - plan.LowerBound) / plan.LowerBound)
	}
	return plan, m.planError(plan)
}

// SolveFFD returns the first-fit-decreasing baseline's plan: each class on
// its cheapest option by list price, replicas packed largest first into
// the first GPU with room. For comparison; Solve is never worse.
func SolveFFD(p *Problem) (*Plan, error) {
	m, err := compile(p)
	if err != nil {
		return nil, err
	}
	opts := p.Options.withDefaults()
	s := m.solveWith("ffd", m.listCost, nil, packFFD, opts, false)
	plan := m.materialize(s, nil)
	return plan, m.planError(plan)
}

func (m *model) planError(plan *Plan) error {
	ie := &InfeasibleError{Unplaced: plan.Unplaced, Cost: plan.CostPerHour, Ceiling: m.p.CostCeiling}
	if m.p.CostCeiling > 0 && plan.CostPerHour > m.p.CostCeiling+1e-9 {
		ie.OverCeiling = true
	}
	if len(ie.Unplaced) == 0 && !ie.OverCeiling {
		return nil
	}
	return ie
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// listCost prices a replica by its share of the GPU at the group's price,
// with spot-preferred classes nudged to spot on ties.
func (m *model) listCost(ci, j int) float64 {
	cm := m.classes[ci]
	cd := &cm.cands[j]
	return m.nudge(cm, cd, cd.list)
}

func (m *model) nudge(cm *classM, cd *cand, cost float64) float64 {
	if cm.c.Spot == SpotPreferred && !cd.od {
		return cost * (1 - 1e-6)
	}
	return cost
}

// listWeights are the weights of list price against slot prices that
// Solve tries when rounding; see priceCost.
var listWeights = []float64{0, 0.2, 0.5}

// listWeightsSmall are the weights for problems of at most
// smallProblemClasses classes: rounding them is cheap, and whole nodes
// make small fleets sensitive to it.
var listWeightsSmall = []float64{0, 0.05, 0.1, 0.2, 0.3, 0.5, 1}

// improveTop is how many of the roundings the local search polishes;
// improveTopLarge for problems of more than smallProblemClasses classes,
// where each polish costs more and matters less.
const (
	improveTop          = 14
	improveTopLarge     = 2
	smallProblemClasses = 100
)

// priceCost prices a replica at the bound's slot prices π plus w times its
// list price: π alone says what a slot is worth at the margin but is blind
// among slots the LP values equally (and zero for slots in surplus).
func (m *model) priceCost(pi []float64, w float64) costFunc {
	return func(ci, j int) float64 {
		cm := m.classes[ci]
		cd := &cm.cands[j]
		c := pi[cd.res] + w*cd.list
		if cd.memRes >= 0 {
			c += pi[cd.memRes] * cd.mem
		}
		return m.nudge(cm, cd, c)
	}
}

// solveWith chooses replicas (starting from the LP's shares when alloc is
// set), packs every group, and moves replicas off groups over their max.
func (m *model) solveWith(name string, cost costFunc, alloc [][]float64, pack packer, opts Options, refine bool) *solution {
	s := newSolution(m, name)
	blocked := make([]bool, len(m.groups))
	for ci, cm := range m.classes {
		s.reps[ci] = make([]int, len(cm.cands))
		if alloc != nil {
			for j, share := range alloc[ci] {
				s.reps[ci][j] = int(math.Floor(share*cm.demand/cm.cands[j].cap + 1e-6))
			}
		}
		m.fill(s, ci, cost, blocked)
		m.trim(s, ci, cost)
		if refine {
			m.refine(s, ci, cost, blocked)
		}
	}
	m.packAll(s, pack, nil)
	for round := 0; round < opts.RepairRounds; round++ {
		if !m.repair(s, cost, blocked, pack, round) {
			break
		}
	}
	return s
}

// fill tops up class ci's replicas so that it meets its on-demand share,
// its demand and its minimum, each with the cheapest single-option cover
// among candidates on groups not blocked.
func (m *model) fill(s *solution, ci int, cost costFunc, blocked []bool) {
	cm := m.classes[ci]
	reps := s.reps[ci]
	if len(cm.cands) == 0 {
		return
	}
	total, od, n := 0.0, 0.0, 0
	for j, r := range reps {
		total += float64(r) * cm.cands[j].cap
		n += r
		if cm.cands[j].od {
			od += float64(r) * cm.cands[j].cap
		}
	}
	eps := 1e-9 * math.Max(1, cm.demand)
	cover := func(need float64, odOnly bool) bool {
		bj, bn, bc := -1, 0, math.Inf(1)
		for j := range cm.cands {
			cd := &cm.cands[j]
			if blocked[cd.g] || (odOnly && !cd.od) {
				continue
			}
			k := max(1, int(math.Ceil(need/cd.cap-1e-9)))
			if c := float64(k) * cost(ci, j); c < bc {
				bj, bn, bc = j, k, c
			}
		}
		if bj < 0 {
			return false
		}
		reps[bj] += bn
		total += float64(bn) * cm.cands[bj].cap
		n += bn
		if cm.cands[bj].od {
			od += float64(bn) * cm.cands[bj].cap
		}
		return true
	}
	if need := cm.f*cm.demand - od; need > eps {
		if !cover(need, true) {
			s.unplaced[ci] = m.blockedReason(cm, blocked, true)
		}
	}
	if need := cm.demand - total; need > eps {
		if !cover(need, false) {
			s.unplaced[ci] = m.blockedReason(cm, blocked, false)
		}
	}
	want := cm.minRep
	if cm.demand > 0 {
		want = max(want, 1)
	}
	for ; n < want; n++ {
		bj, bc := -1, math.Inf(1)
		for j := range cm.cands {
			if !blocked[cm.cands[j].g] {
				if c := cost(ci, j); c < bc {
					bj, bc = j, c
				}
			}
		}
		if bj < 0 {
			s.unplaced[ci] = m.blockedReason(cm, blocked, false)
			return
		}
		reps[bj]++
	}
}

func (m *model) blockedReason(cm *classM, blocked []bool, odOnly bool) string {
	var full []string
	seen := map[int]bool{}
	for _, cd := range cm.cands {
		if odOnly && !cd.od {
			continue
		}
		if blocked[cd.g] && !seen[cd.g] {
			seen[cd.g] = true
			g := m.groups[cd.g]
			full = append(full, fmt.Sprintf("%s (max %d nodes)", g.ng.Name, g.ng.Max))
		}
	}
	what := "demand"
	if odOnly {
		what = fmt.Sprintf("on-demand share %.0f%%", cm.f*100)
		if len(full) == 0 {
			return what + " cannot be met: no allowed on-demand nodegroup offers a slice that fits"
		}
	}
	return what + " exceeds what nodegroup max sizes allow: " + strings.Join(full, ", ") + " full"
}

func (m *model) packAll(s *solution, pack packer, only []bool) {
	// One pass over the classes collects every group's demand.
	demand := make([][]int, len(m.groups))
	ts := make([][]tsItem, len(m.groups))
	for _, g := range m.groups {
		if only == nil || only[g.idx] {
			demand[g.idx] = make([]int, len(g.kinds))
		}
	}
	for ci, cm := range m.classes {
		for j, r := range s.reps[ci] {
			if r == 0 {
				continue
			}
			cd := &cm.cands[j]
			d := demand[cd.g]
			if d == nil {
				continue
			}
			d[cd.kind] += r
			if m.groups[cd.g].memRes >= 0 {
				for ; r > 0; r-- {
					ts[cd.g] = append(ts[cd.g], tsItem{class: ci, mem: cd.mem})
				}
			}
		}
	}
	for _, g := range m.groups {
		if demand[g.idx] != nil {
			s.gpus[g.idx] = pack(m, g, demand[g.idx], ts[g.idx])
		}
	}
}

// repair moves replicas off groups packed beyond their max size: those
// whose class loses least by moving go first, to the class's next cheapest
// candidate on a group not full. It returns whether anything changed.
//
// Round r evicts r/2 GPUs' worth more than the excess: a packing can
// need as many GPUs after losing a GPU's worth of scattered slots.
func (m *model) repair(s *solution, cost costFunc, blocked []bool, pack packer, round int) bool {
	changed := false
	dirty := make([]bool, len(m.groups))
	for _, g := range m.groups {
		excess := float64(len(s.gpus[g.idx])) - m.maxGPUs(s, g)
		if excess <= 0 {
			continue
		}
		excess += float64(round / 2)
		blocked[g.idx] = true
		type victim struct {
			ci, j int
			delta float64
		}
		var vs []victim
		for ci, cm := range m.classes {
			for j, r := range s.reps[ci] {
				if r == 0 || cm.cands[j].g != g.idx {
					continue
				}
				here := cost(ci, j) / cm.cands[j].cap
				alt := math.Inf(1)
				for k := range cm.cands {
					if !blocked[cm.cands[k].g] {
						alt = math.Min(alt, cost(ci, k)/cm.cands[k].cap)
					}
				}
				vs = append(vs, victim{ci, j, alt - here})
			}
		}
		slices.SortStableFunc(vs, func(a, b victim) int { return cmp.Compare(a.delta, b.delta) })
		removed := 0.0
		touched := map[int]bool{}
		for _, v := range vs {
			if removed >= excess || math.IsInf(v.delta, 1) {
				break
			}
			cd := &m.classes[v.ci].cands[v.j]
			share := shareOf(g, g.kinds[cd.kind])
			if g.memRes >= 0 {
				share = math.Max(1/float64(g.ng.TimeSlices), cd.mem/g.gpu.MemoryGiB)
			}
			for s.reps[v.ci][v.j] > 0 && removed < excess {
				s.reps[v.ci][v.j]--
				removed += share
			}
			touched[v.ci] = true
		}
		if removed == 0 {
			continue
		}
		changed = true
		dirty[g.idx] = true
		cis := make([]int, 0, len(touched))
		for ci := range touched {
			cis = append(cis, ci)
		}
		sort.Ints(cis)
		for _, ci := range cis {
			m.fill(s, ci, cost, blocked)
			m.trim(s, ci, cost)
			for j, r := range s.reps[ci] {
				if r > 0 {
					dirty[m.classes[ci].cands[j].g] = true
				}
			}
		}
	}
	if changed {
		m.packAll(s, pack, dirty)
	}
	return changed
}

// nodes is the node count of group g in a solution: enough for its GPUs,
// at least min, at most max.
func (m *model) nodes(g *group, n int) int {
	k := (n + g.gpn - 1) / g.gpn
	k = max(k, g.ng.Min)
	if g.ng.Max > 0 {
		k = min(k, g.ng.Max)
	}
	return k
}

func (m *model) cost(s *solution) float64 {
	c := 0.0
	for _, g := range m.groups {
		c += float64(m.nodes(g, len(s.gpus[g.idx]))) * g.nodePrice
	}
	return c
}

// withinSizes reports whether every nodegroup of the plan is within its
// min and max and holds its GPUs: a feasible incumbent for proveBound.
func (m *model) withinSizes(plan *Plan) bool {
	for i, gp := range plan.NodeGroups {
		g := m.groups[i]
		if gp.Nodes < g.ng.Min || g.ng.Max > 0 && gp.Nodes > g.ng.Max || gp.GPUs > gp.Nodes*g.gpn {
			return false
		}
	}
	return len(plan.NodeGroups) == len(m.groups)
}

// boundWithout is the lower bound of the problem without the demand of
// the unplaced classes: what any plan placing the rest must cost. A partial
// plan places all of that and some more, so it costs at least as much.
func (m *model) boundWithout(unplaced []Unplaced, target float64, opts Options, now func() time.Time) float64 {
	q := *m.p
	q.Classes = append([]Class(nil), m.p.Classes...)
	drop := map[string]bool{}
	for _, u := range unplaced {
		drop[u.Class] = true
	}
	for i := range q.Classes {
		if drop[q.Classes[i].Name] {
			q.Classes[i].Rate, q.Classes[i].Replicas, q.Classes[i].MinReplicas = 0, 0, 0
		}
	}
	sub, err := compile(&q)
	if err != nil {
		return 0
	}
	return sub.bound(target, opts, now).value
}

// keepSolution starts from the replicas that run now: each class keeps its
// current replicas on the same nodegroup and slice, less those it no longer
// needs (most expensive first), and is topped up like any other class.
func (m *model) keepSolution(cost costFunc, opts Options) *solution {
	s := newSolution(m, "lp-guided+keep")
	for ci, cm := range m.classes {
		s.reps[ci] = make([]int, len(cm.cands))
	}
	groupIdx := map[string]int{}
	for _, g := range m.groups {
		groupIdx[g.ng.Name] = g.idx
	}
	for _, n := range m.p.Current.Nodes {
		gi, ok := groupIdx[n.NodeGroup]
		if !ok {
			continue
		}
		g := m.groups[gi]
		for _, gpu := range n.GPUs {
			for _, sl := range gpu.Slots {
				ci, ok := m.byName[sl.Class]
				k := slices.Index(g.kinds, sl.Profile)
				if !ok || k < 0 {
					continue
				}
				if j := m.candIndex(ci, gi, k); j >= 0 {
					s.reps[ci][j]++
				}
			}
		}
	}
	current := make([][]int, len(s.reps))
	for ci := range s.reps {
		current[ci] = slices.Clone(s.reps[ci])
	}
	blocked := make([]bool, len(m.groups))
	for ci := range m.classes {
		m.trim(s, ci, cost)
		m.fill(s, ci, cost, blocked)
	}
	pack := m.packKeep()
	m.packAll(s, pack, nil)
	for round := 0; round < opts.RepairRounds; round++ {
		if !m.repair(s, cost, blocked, pack, round) {
			break
		}
	}
	// The local search may move running replicas only where the node it
	// saves pays ChangeCost for each.
	running := make([][]int, len(s.reps))
	for ci := range s.reps {
		running[ci] = slices.Clone(current[ci])
	}
	m.improve(s, cost, pack, opts, func(from, to *solution) float64 {
		moved := 0
		for ci := range running {
			for j, r := range running[ci] {
				if r > 0 {
					moved += max(0, min(r, from.reps[ci][j])-to.reps[ci][j])
				}
			}
		}
		return float64(moved) * m.p.ChangeCost
	})
	return s
}

// packKeep packs a group's demand into the layouts its GPUs have now first
// (each current GPU whose layout serves some of the remaining demand keeps
// it), and the rest as packLP does.
func (m *model) packKeep() packer {
	current := map[int][]catalog.Layout{}
	for _, n := range sortedNodes(m.p.Current) {
		g := m.groupByName(n.NodeGroup)
		if g == nil || g.ng.Mode != ModeMIGDynamic {
			continue
		}
		for _, gpu := range n.GPUs {
			if len(gpu.Layout) > 0 && g.gpu.ValidateLayout(gpu.Layout) == nil {
				current[g.idx] = append(current[g.idx], gpu.Layout)
			}
		}
	}
	return func(m *model, g *group, demand []int, ts []tsItem) []gpuAlloc {
		layouts := current[g.idx]
		if len(layouts) == 0 {
			return packLP(m, g, demand, ts)
		}
		rem := slices.Clone(demand)
		var out []gpuAlloc
		for _, l := range layouts {
			// Keep a GPU's layout when most of it (by GPU share) serves
			// demand still unplaced; else it is free for a new layout.
			a := gpuAlloc{layout: l, supply: make([]int, len(g.kinds))}
			left := slices.Clone(rem)
			used, all := 0.0, 0.0
			for _, pl := range l {
				k := slices.Index(g.kinds, pl.Profile)
				a.supply[k]++
				w := shareOf(g, pl.Profile)
				all += w
				if left[k] > 0 {
					left[k]--
					used += w
				}
			}
			if used < 0.5*all {
				continue
			}
			for k, v := range a.supply {
				rem[k] -= v
			}
			out = append(out, a)
		}
		for k := range rem {
			rem[k] = max(rem[k], 0)
		}
		return append(out, packLPFresh(g, rem)...)
	}
}

// trim removes class ci's replicas, the dearest per unit of capacity first,
// while it still meets its demand, on-demand share and minimum without them.
func (m *model) trim(s *solution, ci int, cost costFunc) {
	cm := m.classes[ci]
	reps := s.reps[ci]
	want := cm.minRep
	if cm.demand > 0 {
		want = max(want, 1)
	}
	eps := 1e-9 * math.Max(1, cm.demand)
	for {
		total, od, n := 0.0, 0.0, 0
		for j, r := range reps {
			total += float64(r) * cm.cands[j].cap
			n += r
			if cm.cands[j].od {
				od += float64(r) * cm.cands[j].cap
			}
		}
		bj, bv := -1, -1.0
		for j, r := range reps {
			if r == 0 {
				continue
			}
			cd := &cm.cands[j]
			odAfter := od
			if cd.od {
				odAfter -= cd.cap
			}
			if n-1 < want || total-cd.cap < cm.demand-eps || odAfter < cm.f*cm.demand-eps {
				continue
			}
			if v := cost(ci, j) / cd.cap; v > bv {
				bj, bv = j, v
			}
		}
		if bj < 0 {
			return
		}
		reps[bj]--
	}
}

// refine lowers the cost of class ci's whole replicas: it tries giving
// back one or two replicas of each option it uses and covering what is
// then missing with the cheapest single option (often a smaller slice),
// and keeps the cheapest result. Rounding each class up to whole replicas
// is most of what separates a plan from the LP bound.
func (m *model) refine(s *solution, ci int, cost costFunc, blocked []bool) {
	cm := m.classes[ci]
	if len(cm.cands) < 2 {
		return
	}
	total := func(reps []int) float64 {
		c := 0.0
		for j, r := range reps {
			if r > 0 {
				c += float64(r) * cost(ci, j)
			}
		}
		return c
	}
	best := slices.Clone(s.reps[ci])
	bestCost := total(best)
	for j := range cm.cands {
		for take := 1; take <= 2 && take <= best[j]; take++ {
			trial := slices.Clone(best)
			trial[j] -= take
			saved := s.reps[ci]
			s.reps[ci] = trial
			_, had := s.unplaced[ci]
			m.fill(s, ci, cost, blocked)
			m.trim(s, ci, cost)
			if _, has := s.unplaced[ci]; has && !had {
				delete(s.unplaced, ci)
				s.reps[ci] = saved
				continue
			}
			if c := total(s.reps[ci]); c < bestCost-1e-9 {
				best, bestCost = slices.Clone(s.reps[ci]), c
			}
			s.reps[ci] = saved
		}
	}
	s.reps[ci] = best
}

// better orders solutions: fewer classes short of demand, then not over
// any nodegroup's max (repair can fall short by a GPU), then cheaper.
func (m *model) better(a, b *solution) bool {
	if len(a.unplaced) != len(b.unplaced) {
		return len(a.unplaced) < len(b.unplaced)
	}
	if oa, ob := m.overMax(a), m.overMax(b); oa != ob {
		return !oa
	}
	return m.cost(a) < m.cost(b)-1e-9
}

// disrupts says whether changes move or destroy anything that runs: a
// plan that only adds needs no comparison with keeping what runs.
func disrupts(c Changes) bool {
	return c.ReplicasMoved > 0 || c.ReplicasGone > 0 || len(c.LayoutsChanged) > 0 || len(c.NodesRemoved) > 0
}

// parallel runs f(0..n-1) on up to workers goroutines and waits. Each f(i)
// writes only its own result, so the outcome does not depend on the
// schedule.
func parallel(workers, n int, f func(i int)) {
	if workers <= 1 || n <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}
