package binpack

import (
	"math"
	"slices"
	"time"
)

// The lower bound.
//
// The pattern (layout) formulation of packing, relaxed to an LP:
//
//	min  Σ_g price_g Σ_L x_gL                         (GPUs of group g with layout L)
//	s.t. Σ_o cap_co y_co >= D_c                       (demand of class c)
//	     Σ_{o on-demand} cap_co y_co >= f_c D_c        (on-demand fraction)
//	     Σ_o y_co >= max(minReplicas_c, 1)             (at least one replica)
//	     Σ_c a_cor y_co <= Σ_L b_Lr x_gL               (slots and memory r of group g)
//	     min_g <= Σ_L x_gL <= max_g                    (nodegroup size, in GPUs)
//	     x, y >= 0
//
// Relaxing the slot rows with prices π_r >= 0 (Lagrange, Held-Karp style)
// splits it: each class buys its cheapest options at prices π, and each
// group runs its most valuable layout, at min_g GPUs if that layout is
// worth less than the GPU and at max_g if more. For every π >= 0 the sum,
// L(π), is at most the LP optimum and so at most the cost of any feasible
// plan (weak duality); max_π L(π) equals the LP optimum (strong duality).
// The solver raises L by projected subgradient ascent with Polyak steps
// (Held, Wolfe, Crowder 1974) and reports the best L seen: a proven bound
// whatever the number of iterations. lpBound solves the same LP exactly
// with gonum's simplex on small instances, and the tests check the two
// agree.
//
// The class part uses the LP value D_c((1-f)a + f b), where a is the
// cheapest price per unit of capacity over all options and b over
// on-demand ones, and strengthens it with max(minReplicas,1) replicas at
// the cheapest option's price, which any integer plan pays too.

// boundTolerance is how close to the LP optimum column generation goes
// before it stops: the bound is then at least (1 - boundTolerance) times
// the LP optimum.
const boundTolerance = 1e-4

// boundBlocks is how many blocks of classes the column generation prices
// separately.
var boundBlocks = 1

type boundResult struct {
	value float64   // best proven lower bound
	lp    float64   // L(π) without the integer strengthening, at best π
	pi    []float64 // slot prices at the best bound
	// alloc[c][j] is the averaged share of class c's demand the LP puts on
	// its candidate j: a primal estimate recovered from the iterates.
	alloc [][]float64
	iters int
	// master is the restricted master's value: the LP optimum when the
	// column generation converged, above it otherwise.
	master float64
	pivots int
	// gpus[g] is the GPUs of group g in the master's solution (a primal
	// estimate, for branching).
	gpus []float64
	// warm are the class columns the master's solution uses, to start
	// another run from.
	warm []warmColumn
}

// warmColumn is a class column of the master: the slot use of one block's
// choices.
type warmColumn struct {
	block  int
	use    []float64
	choice [][2]int
}

// evalState is scratch space for evaluating L(π).
type evalState struct {
	grad []float64
	use  []float64 // slot usage of the classes' choices
	// blockUse is use split by block of classes (class index mod blocks).
	blockUse [][]float64
	choice   [][2]int // per class: cheapest candidate, cheapest on-demand
	// integer, when set, prices every class in the bound by its cheapest
	// cover by whole replicas (classCover) rather than the LP's fractional
	// one; ibox, when set, replaces the groups' sizes (see box).
	integer bool
	cover   coverScratch
	ibox    *box
}

// eval returns the LP Lagrangian, its integer-strengthened value, and
// leaves a supergradient of the LP Lagrangian in st.grad.
func (m *model) eval(pi []float64, st *evalState) (lp, strong float64) {
	for i := range st.grad {
		st.grad[i] = 0
		st.use[i] = 0
	}
	for _, u := range st.blockUse {
		for i := range u {
			u[i] = 0
		}
	}
	for ci, cm := range m.classes {
		st.choice[ci] = [2]int{-1, -1}
		if len(cm.cands) == 0 || cm.demand == 0 && cm.minRep == 0 {
			continue
		}
		a, b, minCost := math.Inf(1), math.Inf(1), math.Inf(1)
		ia, ib := -1, -1
		for j := range cm.cands {
			cd := &cm.cands[j]
			cost := pi[cd.res]
			if cd.memRes >= 0 {
				cost += pi[cd.memRes] * cd.mem
			}
			if cost < minCost {
				minCost = cost
			}
			r := cost * cd.invCap
			if r < a || (r == a && cd.listPerCap < cm.cands[ia].listPerCap) {
				a, ia = r, j
			}
			if cd.od && (r < b || (r == b && cd.listPerCap < cm.cands[ib].listPerCap)) {
				b, ib = r, j
			}
		}
		f := cm.f
		if ib < 0 {
			f = 0 // no on-demand option: the plan will report it; the bound drops the row
		}
		// With f = 0, b may be +Inf (no on-demand option), and 0 x Inf
		// is NaN: the bound was then lost.
		v := cm.demand * a
		if f > 0 {
			v = cm.demand * ((1-f)*a + f*b)
		}
		lp += v
		st.choice[ci] = [2]int{ia, ib}
		iv := math.Max(v, float64(max(cm.minRep, 1))*minCost)
		if st.integer {
			if c, ok := m.classCover(cm, pi, f, &st.cover); ok {
				iv = math.Max(iv, c)
			}
		}
		strong += iv
		if ia >= 0 && 1-f > 0 {
			m.addUsage(st.grad, &cm.cands[ia], cm.demand*(1-f)/cm.cands[ia].cap)
			m.addUsage(st.use, &cm.cands[ia], cm.demand*(1-f)/cm.cands[ia].cap)
			if st.blockUse != nil {
				m.addUsage(st.blockUse[ci%len(st.blockUse)], &cm.cands[ia], cm.demand*(1-f)/cm.cands[ia].cap)
			}
		}
		if ib >= 0 && f > 0 {
			m.addUsage(st.grad, &cm.cands[ib], cm.demand*f/cm.cands[ib].cap)
			m.addUsage(st.use, &cm.cands[ib], cm.demand*f/cm.cands[ib].cap)
			if st.blockUse != nil {
				m.addUsage(st.blockUse[ci%len(st.blockUse)], &cm.cands[ib], cm.demand*f/cm.cands[ib].cap)
			}
		}
	}
	for _, g := range m.groups {
		best, bi := 0.0, -1
		for li, pt := range g.patterns {
			w := m.patternValue(g, pt, pi)
			if w > best {
				best, bi = w, li
			}
		}
		rc := g.gpuPrice - best
		lo, hi, _ := m.gpuRange(st.ibox, g)
		n := lo
		if rc < 0 {
			n = hi
		}
		lp += n * rc
		strong += n * rc
		if bi >= 0 {
			pt := g.patterns[bi]
			for k := range g.kinds {
				st.grad[g.res0+k] -= n * pt.supply[k]
			}
			if g.memRes >= 0 {
				st.grad[g.memRes] -= n * pt.supply[len(g.kinds)]
			}
		}
	}
	return lp, strong
}

// lagrangian is L(π) over the plans in box bx (nil: the groups' sizes),
// with whole replicas when integer: a proven bound for any π >= 0.
func (m *model) lagrangian(bx *box, pi []float64, integer bool) float64 {
	st := &evalState{grad: make([]float64, m.nres), use: make([]float64, m.nres), choice: make([][2]int, len(m.classes)),
		integer: integer, ibox: bx}
	_, strong := m.eval(pi, st)
	return strong
}

func (m *model) addUsage(grad []float64, cd *cand, replicas float64) {
	grad[cd.res] += replicas
	if cd.memRes >= 0 {
		grad[cd.memRes] += replicas * cd.mem
	}
}

func (m *model) patternValue(g *group, pt pattern, pi []float64) float64 {
	w := 0.0
	for k := range g.kinds {
		w += pt.supply[k] * pi[g.res0+k]
	}
	if g.memRes >= 0 {
		w += pt.supply[len(g.kinds)] * pi[g.memRes]
	}
	return w
}

// initialPrices prices each slot by its share of a GPU: a feasible start
// (no layout is worth more than its GPU).
func (m *model) initialPrices(bx *box) []float64 {
	pi := make([]float64, m.nres)
	for _, g := range m.groups {
		for k, kind := range g.kinds {
			pi[g.res0+k] = g.gpuPrice * m.share(g, kind, 0)
		}
		if g.memRes >= 0 {
			pi[g.res0] = g.gpuPrice / 2 / float64(g.ng.TimeSlices)
			pi[g.memRes] = g.gpuPrice / 2 / g.gpu.MemoryGiB
		}
		if _, _, capped := m.gpuRange(bx, g); !capped {
			m.project(g, pi)
		}
	}
	return pi
}

// project scales a group's prices down so that no layout is worth more
// than the GPU, for a group without a max size (else L would charge it
// for an unbounded number of GPUs).
func (m *model) project(g *group, pi []float64) {
	best := 0.0
	for _, pt := range g.patterns {
		best = math.Max(best, m.patternValue(g, pt, pi))
	}
	if best > g.gpuPrice && best > 0 {
		s := g.gpuPrice / best
		for k := range g.kinds {
			pi[g.res0+k] *= s
		}
		if g.memRes >= 0 {
			pi[g.memRes] *= s
		}
	}
}

// bound runs column generation on the pattern LP. The restricted master
// (a tableau, see simplex.go) has a row per slot resource, per capped
// nodegroup and one convexity row; its columns are every legal layout of
// every nodegroup (x_gL, a few hundred: enumerated, no pricing needed) and
// the classes' joint choices (Dantzig-Wolfe over the class blocks, one
// column per round: each class's cheapest options at the master's dual
// slot prices π). Every round also evaluates L(π), a proven bound, and
// keeps the best. It stops when the new column cannot improve the master
// (then the master's value is the LP optimum), after Options.
// BoundIterations rounds, or at the deadline.
func (m *model) bound(target float64, opts Options, now func() time.Time) boundResult {
	return m.boundIn(boundRun{cutoff: math.Inf(1)}, target, opts, now)
}

// boundRun says what boundIn bounds and how far it goes.
type boundRun struct {
	// box restricts the plans to its node counts (nil: the groups' own
	// sizes).
	box *box
	// integer prices every class's replicas whole at the end (see
	// intbound.go).
	integer bool
	// warm are the columns of an earlier run to start from.
	warm []warmColumn
	// cutoff stops the run once the proven bound reaches it.
	cutoff float64
	// maxPivots, when positive, stops it after that many simplex pivots.
	maxPivots int
}

// boundIn is bound as run says. Stopped early, its value is still proven:
// L(π) at the best prices seen.
func (m *model) boundIn(run boundRun, target float64, opts Options, now func() time.Time) boundResult {
	bx, integer, warm, cutoff := run.box, run.integer, run.warm, run.cutoff
	st := &evalState{grad: make([]float64, m.nres), use: make([]float64, m.nres), choice: make([][2]int, len(m.classes)),
		integer: integer, ibox: bx}
	res := boundResult{value: math.Inf(-1), lp: math.Inf(-1), alloc: make([][]float64, len(m.classes)), gpus: make([]float64, len(m.groups))}
	for ci, cm := range m.classes {
		res.alloc[ci] = make([]float64, len(cm.cands))
	}
	// The first min_g GPUs of a group are paid whatever the plan: they
	// are columns z_gL of cost 0 under a row Σ_L z_gL <= min_g, and their
	// cost is a constant (minCost) outside the master.
	rows := m.nres
	maxRow := make([]int, len(m.groups))
	minRow := make([]int, len(m.groups))
	minCost := 0.0
	for _, g := range m.groups {
		maxRow[g.idx], minRow[g.idx] = -1, -1
		lo, _, capped := m.gpuRange(bx, g)
		if capped {
			maxRow[g.idx] = rows
			rows++
		}
		if lo > 0 {
			minRow[g.idx] = rows
			rows++
			minCost += lo * g.gpuPrice
		}
	}
	// The classes are split into blocks, each with its own convexity row
	// and a column per round: more columns per round, fewer rounds.
	nb := max(1, min(len(m.classes), boundBlocks))
	conv := rows
	rows += nb
	st.blockUse = make([][]float64, nb)
	for k := range st.blockUse {
		st.blockUse[k] = make([]float64, m.nres)
	}
	b := make([]float64, rows)
	identCost := make([]float64, rows)
	for _, g := range m.groups {
		lo, hi, _ := m.gpuRange(bx, g)
		if r := maxRow[g.idx]; r >= 0 {
			b[r] = hi
		}
		if r := minRow[g.idx]; r >= 0 {
			b[r] = lo
		}
	}
	bigM := 10*math.Abs(target) + 1
	for k := 0; k < nb; k++ {
		b[conv+k] = 1
		identCost[conv+k] = bigM
	}
	t := newTableau(b, identCost)
	groupCols := make([][]int, len(m.groups))
	for _, g := range m.groups {
		for _, pt := range g.patterns {
			a := make([]float64, rows)
			for k := range g.kinds {
				a[g.res0+k] = -pt.supply[k]
			}
			if g.memRes >= 0 {
				a[g.memRes] = -pt.supply[len(g.kinds)]
			}
			if r := maxRow[g.idx]; r >= 0 {
				a[r] = 1
			}
			groupCols[g.idx] = append(groupCols[g.idx], t.addColumn(a, g.gpuPrice))
			if r := minRow[g.idx]; r >= 0 {
				z := append([]float64(nil), a...)
				z[r] = 1
				groupCols[g.idx] = append(groupCols[g.idx], t.addColumn(z, 0))
			}
		}
	}
	type column struct {
		j, block int
		choice   [][2]int
		use      []float64
	}
	var cols []column
	pi := m.initialPrices(bx)
	if len(warm) > 0 {
		// Start from another run's columns: a box's master differs from
		// its parent's only in a group's size, so few rounds remain.
		for _, w := range warm {
			a := make([]float64, rows)
			copy(a, w.use)
			a[conv+w.block] = 1
			cols = append(cols, column{j: t.addColumn(a, 0), block: w.block, choice: w.choice, use: w.use})
		}
		n := 20 * rows
		if run.maxPivots > 0 {
			n = min(n, run.maxPivots)
		}
		if t.solve(n) {
			y := t.duals()
			for r := 0; r < m.nres; r++ {
				pi[r] = math.Max(0, -y[r])
			}
		}
	}
	eps := 1e-9 * math.Max(1, math.Abs(target))
	for round := 0; round < opts.BoundIterations; round++ {
		res.iters = round + 1
		lp, strong := m.eval(pi, st)
		if strong > res.value {
			res.value = strong
		}
		if res.pi == nil || lp > res.lp {
			res.lp = lp
			res.pi = append(res.pi[:0], pi...)
		}
		choice := append([][2]int(nil), st.choice...)
		improving := false
		for k := 0; k < nb; k++ {
			a := make([]float64, rows)
			copy(a, st.blockUse[k])
			a[conv+k] = 1
			j := t.addColumn(a, 0)
			cols = append(cols, column{j: j, block: k, choice: choice, use: slices.Clone(st.blockUse[k])})
			improving = improving || t.red[j] < -eps
		}
		// Stop when no new column can improve the master, or when the
		// master (at or above the LP optimum) is within boundTolerance of
		// the proven bound: the bound then is within that of the optimum.
		if !improving || (round > 0 && t.objective()+minCost-lp <= boundTolerance*math.Abs(lp)) {
			break
		}
		if res.value >= cutoff || !opts.Deadline.IsZero() && !now().Before(opts.Deadline) {
			break
		}
		n := 20 * rows
		if run.maxPivots > 0 {
			if t.pivots >= run.maxPivots {
				break
			}
			n = min(n, run.maxPivots-t.pivots)
		}
		if !t.solve(n) {
			break
		}
		y := t.duals()
		for r := 0; r < m.nres; r++ {
			pi[r] = math.Max(0, -y[r])
		}
	}
	if integer {
		// Whole replicas, at the best prices.
		st.integer = true
		if _, strong := m.eval(res.pi, st); strong > res.value {
			res.value = strong
		}
	}
	// Primal recovery: the master's weights on the class columns mix the
	// classes' choices into the LP's allocation.
	for _, c := range cols {
		w := t.value(c.j)
		if w <= 0 {
			continue
		}
		res.warm = append(res.warm, warmColumn{block: c.block, use: c.use, choice: c.choice})
		for ci, cm := range m.classes {
			if ci%nb != c.block {
				continue
			}
			ch := c.choice[ci]
			if ch[0] < 0 {
				continue
			}
			f := cm.f
			if ch[1] < 0 {
				f = 0
			}
			res.alloc[ci][ch[0]] += w * (1 - f)
			if ch[1] >= 0 {
				res.alloc[ci][ch[1]] += w * f
			}
		}
	}
	for gi, js := range groupCols {
		for _, j := range js {
			res.gpus[gi] += t.value(j)
		}
	}
	res.master = t.objective() + minCost
	res.pivots = t.pivots
	if math.IsInf(res.value, -1) {
		res.value = 0
	}
	res.value = math.Max(res.value, 0)
	return res
}
