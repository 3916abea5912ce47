package binpack

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// The integer-aware bound.
//
// The LP of bound.go relaxes two things a plan cannot: a class's replicas
// come whole, and so do nodes (the 8 GPUs of a p4de.24xlarge are paid
// together). On a small fleet that is most of the gap. Worked example, MIG
// scenario 2 (testdata/mig): the LP bound is $27.433/h, a hair under one
// p4de node ($27.447/h); whole replicas lift it past one node, whole nodes
// round it up to two ($54.894/h), which is what the plan costs: it is
// proved optimal, where the LP bound alone showed a 100% gap. proveBound
// takes three steps, each a proven bound on its own:
//
//  1. Whole replicas: at the LP's slot prices π, each class's part of the
//     Lagrangian L(π) becomes an integer covering problem, min Σ_o π_o y_o
//     over whole y with Σ cap_o y_o >= D, Σ_{on-demand} cap_o y_o >= f D
//     and Σ y_o >= minReplicas (classCover, exact by a small branch and
//     bound). Every plan's replicas are such a cover, so for any π >= 0
//     the sum over classes and groups is still at most every plan's cost
//     (weak duality), and at least the LP's L(π).
//  2. Whole nodes: every plan costs Σ_g nodePrice_g n_g for whole n_g, so a
//     bound v rounds up to the cheapest such sum that is >= v
//     (latticeRound).
//  3. Branch and bound on node counts: a box lo_g <= n_g <= hi_g restricts
//     the LP to at most gpn_g hi_g GPUs and pays at least lo_g nodes; its
//     bound (column generation in the box, then steps 1 and 2) holds for
//     every plan in the box. The box with the lowest bound is split at its
//     fractional node count (n_g <= k, n_g >= k+1) until Options.
//     BoundNodes boxes were bounded, the boxes took an eighth of the LP
//     bound's simplex pivots and boundPivotsExtra more, or the deadline
//     passed. The bound is the lowest over the boxes left, and never above
//     the plan found (the incumbent), which is feasible: boxes whose bound
//     reaches it are dropped, and the incumbent caps each group's nodes (a
//     cheaper plan cannot pay for more). A box with too few nodes for the
//     demand bounds at or above the incumbent, so it goes.
//
// All three use only the incumbent's cost, never its structure, so the
// bound stays proven whatever plan the heuristics found.

// DefaultBoundNodes is the default number of boxes the branch and bound on
// node counts bounds (Options.BoundNodes).
const DefaultBoundNodes = 40

// coverNodeLimit caps the branch and bound of one class's integer cover;
// past it the class falls back to its LP value, still a bound.
const coverNodeLimit = 1000

// boundPivotsExtra is the simplex pivots the branch and bound may take
// beyond an eighth of those of the LP bound.
const boundPivotsExtra = 500

// coverMaxReplicas is the most replicas (of its largest option) a class
// may need for classCover to price it whole.
const coverMaxReplicas = 64

// boxPivotsMin is the fewest simplex pivots a box of the branch and bound
// gets, whatever is left of the budget.
const boxPivotsMin = 100

// latticeLimit caps the search of latticeRound; past it the bound is not
// rounded.
const latticeLimit = 5000

// box is a range of node counts per group, lo[g] <= n_g <= hi[g].
type box struct {
	lo, hi []int
	lb     float64 // proven bound on every plan in the box
	gpus   []float64
	warm   []warmColumn
}

// gpuRange is group g's GPU range in box bx (nil: the group's own min and
// max, or gpuCap without a max) and whether the range has a max row.
func (m *model) gpuRange(bx *box, g *group) (lo, hi float64, capped bool) {
	if bx == nil {
		return g.minGPUs, m.gpuCap(g), g.ng.Max > 0
	}
	return float64(bx.lo[g.idx] * g.gpn), float64(bx.hi[g.idx] * g.gpn), true
}

// coverScratch is classCover's reusable memory.
type coverScratch struct {
	order           []int
	cost            []float64
	sufRatio, sufOD []float64
	sufMin          []float64
}

// classCover is class cm's cheapest cover by whole replicas at slot prices
// pi: min Σ_j c_j y_j over whole y >= 0 with Σ cap_j y_j >= D,
// Σ_{on-demand} cap_j y_j >= f D and Σ y_j >= max(minReplicas, 1), where
// c_j is candidate j's slot (and memory) price. Exact by depth-first
// branch and bound over the candidates in order of price per capacity,
// each LP-bounded; ok is false when it stops at coverNodeLimit or the
// class needs more than coverMaxReplicas replicas.
func (m *model) classCover(cm *classM, pi []float64, f float64, sc *coverScratch) (cost float64, ok bool) {
	n := len(cm.cands)
	maxCap := 0.0
	for j := range cm.cands {
		maxCap = math.Max(maxCap, cm.cands[j].cap)
	}
	if cm.demand/maxCap > coverMaxReplicas {
		// Whole replicas change a large class's cost by less than one
		// replica in coverMaxReplicas: the LP value stands.
		return 0, false
	}
	sc.order = sc.order[:0]
	sc.cost = slices.Grow(sc.cost[:0], n)[:n]
	for j := range cm.cands {
		cd := &cm.cands[j]
		c := pi[cd.res]
		if cd.memRes >= 0 {
			c += pi[cd.memRes] * cd.mem
		}
		sc.cost[j] = c
	}
	// A candidate no cheaper, no larger and no more on-demand than another
	// is never needed in a cheapest cover (the first of equals stays).
	for j := range cm.cands {
		dominated := false
		for k := range cm.cands {
			if k != j && sc.cost[k] <= sc.cost[j] && cm.cands[k].cap >= cm.cands[j].cap && (cm.cands[k].od || !cm.cands[j].od) &&
				(k < j || sc.cost[k] < sc.cost[j] || cm.cands[k].cap > cm.cands[j].cap || cm.cands[k].od != cm.cands[j].od) {
				dominated = true
				break
			}
		}
		if !dominated {
			sc.order = append(sc.order, j)
		}
	}
	n = len(sc.order)
	slices.SortStableFunc(sc.order, func(a, b int) int {
		return cmp.Compare(sc.cost[a]*cm.cands[a].invCap, sc.cost[b]*cm.cands[b].invCap)
	})
	grow := func(s []float64) []float64 { return slices.Grow(s[:0], n+1)[:n+1] }
	sc.sufRatio, sc.sufOD, sc.sufMin = grow(sc.sufRatio), grow(sc.sufOD), grow(sc.sufMin)
	sc.sufRatio[n], sc.sufOD[n], sc.sufMin[n] = math.Inf(1), math.Inf(1), math.Inf(1)
	for i := n - 1; i >= 0; i-- {
		j := sc.order[i]
		r := sc.cost[j] * cm.cands[j].invCap
		sc.sufRatio[i] = math.Min(sc.sufRatio[i+1], r)
		sc.sufOD[i] = sc.sufOD[i+1]
		if cm.cands[j].od {
			sc.sufOD[i] = math.Min(sc.sufOD[i], r)
		}
		sc.sufMin[i] = math.Min(sc.sufMin[i+1], sc.cost[j])
	}
	want := cm.minRep
	if cm.demand > 0 {
		want = max(want, 1)
	}
	eps := 1e-9 * math.Max(1, cm.demand)
	best, nodes := math.Inf(1), 0
	// lower is an LP bound on covering what remains with candidates
	// order[i:].
	lower := func(i int, d, od float64, k int) float64 {
		v := 0.0
		if d > eps {
			v = d * sc.sufRatio[i]
		}
		if od > eps {
			v = math.Max(v, od*sc.sufOD[i])
		}
		if k > 0 {
			v = math.Max(v, float64(k)*sc.sufMin[i])
		}
		return v
	}
	var rec func(i int, c, d, od float64, k int)
	rec = func(i int, c, d, od float64, k int) {
		if d <= eps && od <= eps && k <= 0 {
			best = math.Min(best, c)
			return
		}
		if i == n || nodes > coverNodeLimit {
			return
		}
		j := sc.order[i]
		cd := &cm.cands[j]
		top := max(k, 0)
		if d > eps {
			top = max(top, int(math.Ceil(d/cd.cap-1e-9)))
		}
		if od > eps && cd.od {
			top = max(top, int(math.Ceil(od/cd.cap-1e-9)))
		}
		for y := top; y >= 0; y-- {
			nodes++
			if nodes > coverNodeLimit {
				return
			}
			fy := float64(y)
			cy, dy, ky := c+fy*sc.cost[j], d-fy*cd.cap, k-y
			ody := od
			if cd.od {
				ody -= fy * cd.cap
			}
			// The demand part of the bound only grows as y falls (the
			// candidates after j cost at least as much per capacity), so
			// once it alone prunes, every smaller y is pruned too.
			if dy > eps && cy+dy*sc.sufRatio[i+1] >= best {
				break
			}
			if cy+lower(i+1, dy, ody, ky) >= best {
				continue
			}
			rec(i+1, cy, dy, ody, ky)
		}
	}
	odNeed := 0.0
	if f > 0 {
		odNeed = f * cm.demand
	}
	if f == 0 && n > 0 {
		// Without an on-demand share, whole replicas of the cheapest
		// option per capacity that meet demand and count exactly are
		// the LP's cover, so optimal.
		j := sc.order[0]
		k := max(want, int(math.Ceil(cm.demand/cm.cands[j].cap-1e-9)))
		if c := float64(k) * sc.cost[j]; c <= math.Max(cm.demand*sc.sufRatio[0], float64(want)*sc.sufMin[0])*(1+1e-12) {
			return c, true
		}
	}
	rec(0, 0, cm.demand, odNeed, want)
	if nodes > coverNodeLimit || math.IsInf(best, 1) {
		return 0, false
	}
	return best, true
}

// latticeRound returns the cheapest node cost Σ_g nodePrice_g n_g with
// lo_g <= n_g <= hi_g that is at least v (every plan in the box costs such
// a sum, and at least v), +Inf when none is, or v itself when the search
// passes latticeLimit.
func (m *model) latticeRound(bx *box, v float64) float64 {
	if math.IsNaN(v) {
		return math.Inf(-1) // no bound (a NaN would round to +Inf)
	}
	tol := 1e-9 * math.Max(1, math.Abs(v))
	base, top := 0.0, 0.0
	var gs []*group
	for _, g := range m.groups {
		base += float64(bx.lo[g.idx]) * g.nodePrice
		top += float64(bx.hi[g.idx]) * g.nodePrice
		if g.nodePrice > 0 && bx.hi[g.idx] > bx.lo[g.idx] {
			gs = append(gs, g)
		}
	}
	if base >= v-tol {
		return base
	}
	if top < v-tol {
		return math.Inf(1)
	}
	// Dearest first: fewer sums to try before they pass v.
	slices.SortStableFunc(gs, func(a, b *group) int { return cmp.Compare(b.nodePrice, a.nodePrice) })
	rest := make([]float64, len(gs)+1)
	for i := len(gs) - 1; i >= 0; i-- {
		g := gs[i]
		rest[i] = rest[i+1] + float64(bx.hi[g.idx]-bx.lo[g.idx])*g.nodePrice
	}
	best, steps := math.Inf(1), 0
	var rec func(i int, sum float64)
	rec = func(i int, sum float64) {
		steps++
		if sum >= v-tol {
			best = math.Min(best, sum)
			return
		}
		if i == len(gs) || sum+rest[i] < v-tol || steps > latticeLimit {
			return
		}
		g := gs[i]
		for k := 0; k <= bx.hi[g.idx]-bx.lo[g.idx]; k++ {
			s := sum + float64(k)*g.nodePrice
			if s >= best || steps > latticeLimit {
				break
			}
			rec(i+1, s)
			if s >= v-tol {
				break
			}
		}
	}
	rec(0, base)
	if steps > latticeLimit {
		return v
	}
	return best
}

// proveBound strengthens the LP bound root by whole replicas, whole nodes
// and a branch and bound on node counts (see above), given the cost of a
// feasible plan, incumbent. It returns a proven bound, at most incumbent.
// It runs for problems of at most smallProblemClasses classes, where the
// integrality of small fleets is most of the gap; larger ones keep root.
func (m *model) proveBound(root boundResult, incumbent, target float64, opts Options, now func() time.Time) float64 {
	if opts.BoundNodes < 0 || len(m.classes) > smallProblemClasses || root.value >= incumbent {
		return math.Min(root.value, incumbent)
	}
	tol := 1e-9 * math.Max(1, incumbent)
	rb := &box{lo: make([]int, len(m.groups)), hi: make([]int, len(m.groups))}
	minCost := 0.0
	for _, g := range m.groups {
		rb.lo[g.idx] = g.ng.Min
		minCost += float64(g.ng.Min) * g.nodePrice
	}
	for _, g := range m.groups {
		hi := g.ng.Max
		if hi == 0 {
			hi = int(math.Ceil(m.gpuCap(g)/float64(g.gpn) - 1e-9))
		}
		// A plan cheaper than the incumbent has no more nodes of g than
		// the incumbent's cost pays for beyond the other groups' minimums.
		if g.nodePrice > 0 {
			hi = min(hi, g.ng.Min+int(math.Floor((incumbent-minCost)/g.nodePrice+1e-9)))
		}
		rb.hi[g.idx] = max(hi, rb.lo[g.idx])
	}
	// The boxes may take an eighth of the simplex pivots the LP bound
	// took, and boundPivotsExtra more: small fleets, where integrality is
	// most of the gap, get every box (the six MIG scenarios and
	// problem.yaml take under 250 pivots); large ones, where a box's
	// master alone takes hundreds of pivots and whole nodes matter
	// little, one or two.
	pivots, budget := 0, root.pivots/8+boundPivotsExtra
	expired := func() bool { return !opts.Deadline.IsZero() && !now().Before(opts.Deadline) }
	evalBox := func(bx *box, warm []warmColumn) {
		// Each box may spend what is left of the budget, at least
		// boxPivotsMin: a box cut short still bounds (its parent's bound
		// holds in it too).
		br := m.boundIn(boundRun{box: bx, integer: true, warm: warm, cutoff: incumbent, maxPivots: max(budget-pivots, boxPivotsMin)}, target, opts, now)
		bx.lb, bx.gpus, bx.warm = m.latticeRound(bx, br.value), br.gpus, br.warm
		pivots += br.pivots
	}
	if expired() {
		return math.Min(root.value, incumbent)
	}
	// The root box is the LP's own, less the sizes the incumbent rules
	// out: its prices need no new run, only whole replicas and nodes.
	rb.lb = m.latticeRound(rb, math.Max(root.value, m.lagrangian(rb, root.pi, true)))
	rb.gpus, rb.warm = root.gpus, root.warm
	open := []*box{rb}
	leaves := math.Inf(1)
	for evaluated := 0; len(open) > 0; {
		slices.SortStableFunc(open, func(a, b *box) int { return cmp.Compare(a.lb, b.lb) })
		bx := open[0]
		if bx.lb >= incumbent-tol || evaluated >= opts.BoundNodes || pivots > budget || expired() {
			break
		}
		open = open[1:]
		g, k := m.branchGroup(bx)
		if g < 0 {
			leaves = math.Min(leaves, bx.lb)
			continue
		}
		left := &box{lo: slices.Clone(bx.lo), hi: slices.Clone(bx.hi)}
		right := &box{lo: slices.Clone(bx.lo), hi: slices.Clone(bx.hi)}
		left.hi[g], right.lo[g] = k, k+1
		for _, child := range []*box{left, right} {
			// A child is a subset of its parent: the parent's bound
			// holds, and stands alone once the budget is spent (the
			// search then stops before it would split the child).
			if pivots <= budget {
				evalBox(child, bx.warm)
				evaluated++
			}
			child.lb = math.Max(child.lb, bx.lb)
			if child.lb < incumbent-tol {
				open = append(open, child)
			}
		}
	}
	lb := math.Min(incumbent, leaves)
	for _, bx := range open {
		lb = math.Min(lb, bx.lb)
	}
	return math.Max(math.Min(root.value, incumbent), lb)
}

// branchGroup picks the group to split box bx on and the split, n_g <= k
// or n_g >= k+1: the group whose node count in the box's LP is
// fractional, the dearest fraction first; else the group with the widest
// range by price, at its LP node count. g is -1 when every range is one
// count.
func (m *model) branchGroup(bx *box) (g, k int) {
	g, best := -1, 0.0
	for _, gr := range m.groups {
		lo, hi := bx.lo[gr.idx], bx.hi[gr.idx]
		if lo >= hi {
			continue
		}
		n := bx.gpus[gr.idx] / float64(gr.gpn)
		if fr := n - math.Floor(n); fr > 1e-6 && fr < 1-1e-6 {
			if w := 1 + fr*gr.nodePrice; w > best {
				g, k, best = gr.idx, min(max(int(math.Floor(n)), lo), hi-1), w
			}
		}
	}
	if g >= 0 {
		return g, k
	}
	for _, gr := range m.groups {
		lo, hi := bx.lo[gr.idx], bx.hi[gr.idx]
		if lo >= hi {
			continue
		}
		if w := float64(hi-lo) * gr.nodePrice / 1e6; g < 0 || w > best {
			n := int(math.Round(bx.gpus[gr.idx] / float64(gr.gpn)))
			g, k, best = gr.idx, min(max(n, lo), hi-1), w
		}
	}
	return g, k
}
