package binpack

import "math"

// tableau is a dense primal simplex tableau for
//
//	min cᵀx  s.t.  A x = b,  x >= 0,  b >= 0,
//
// started from an identity basis (slack and artificial columns), that
// accepts new columns between solves and reports the duals: the restricted
// master of the column generation in bound.go. gonum's lp.Simplex solves
// one LP from scratch and returns no duals, which column generation needs
// after every solve; lp.Simplex checks this solver on small instances in
// the tests. Dense is fine here: the master has one row per slot kind per
// nodegroup plus a few, some sixty rows.
type tableau struct {
	m      int
	rows   [][]float64 // m rows of B⁻¹A
	rhs    []float64   // B⁻¹b
	cost   []float64
	red    []float64 // reduced costs
	basis  []int     // basic column of each row
	ident  []int     // the initial identity column of each row
	pivots int
	nz     []int // scratch: nonzero columns of the pivot row
}

const (
	simplexEps = 1e-9
	pivotEps   = 1e-7
)

// newTableau starts a tableau whose basis is one identity column per row
// with the given costs.
func newTableau(b, identCost []float64) *tableau {
	m := len(b)
	t := &tableau{m: m, rows: make([][]float64, m), rhs: append([]float64(nil), b...), basis: make([]int, m), ident: make([]int, m)}
	for i := range t.rows {
		t.rows[i] = make([]float64, m, 4*m)
		t.rows[i][i] = 1
		t.basis[i], t.ident[i] = i, i
	}
	t.cost = append([]float64(nil), identCost...)
	t.red = make([]float64, m)
	return t
}

// duals returns y = c_Bᵀ B⁻¹, one per row.
func (t *tableau) duals() []float64 {
	y := make([]float64, t.m)
	for i, j := range t.ident {
		y[i] = t.cost[j] - t.red[j]
	}
	return y
}

// addColumn appends column a (dense, one entry per row) with cost c and
// returns its index.
func (t *tableau) addColumn(a []float64, c float64) int {
	y := t.duals()
	d := c
	for i, v := range a {
		d -= y[i] * v
	}
	for r := range t.rows {
		row := t.rows[r]
		s := 0.0
		for i, v := range a {
			if v != 0 {
				s += row[t.ident[i]] * v
			}
		}
		t.rows[r] = append(row, s)
	}
	t.cost = append(t.cost, c)
	t.red = append(t.red, d)
	return len(t.cost) - 1
}

// objective is c_Bᵀ x_B.
func (t *tableau) objective() float64 {
	v := 0.0
	for i, j := range t.basis {
		v += t.cost[j] * t.rhs[i]
	}
	return v
}

// value returns x_j.
func (t *tableau) value(j int) float64 {
	for i, b := range t.basis {
		if b == j {
			return t.rhs[i]
		}
	}
	return 0
}

// solve pivots to optimality (Dantzig's rule, Bland's after a run of
// degenerate pivots, which cannot cycle) or until maxPivots. It returns
// false when the LP is unbounded.
func (t *tableau) solve(maxPivots int) bool {
	degenerate := 0
	for p := 0; p < maxPivots; p++ {
		t.pivots++
		e := -1
		best := -simplexEps
		for j, d := range t.red {
			if d < best {
				e, best = j, d
				if degenerate > 20 {
					break // Bland: first improving column
				}
			}
		}
		if e < 0 {
			return true
		}
		// Ratio test; among near-ties take the largest pivot element,
		// which keeps the tableau numerically sound.
		r, ratio := -1, math.Inf(1)
		for i := range t.rows {
			a := t.rows[i][e]
			if a > pivotEps {
				q := t.rhs[i] / a
				if q < ratio-simplexEps || (q <= ratio+simplexEps && r >= 0 && a > t.rows[r][e]) {
					r, ratio = i, q
				}
			}
		}
		if r < 0 {
			return false
		}
		if ratio <= simplexEps {
			degenerate++
		} else {
			degenerate = 0
		}
		t.pivot(r, e)
	}
	return true
}

func (t *tableau) pivot(r, e int) {
	pr := t.rows[r]
	inv := 1 / pr[e]
	for j := range pr {
		pr[j] *= inv
	}
	t.rhs[r] *= inv
	pr[e] = 1
	// The pivot row's nonzeros, once: the row updates below touch only them.
	nz := t.nz[:0]
	for j, v := range pr {
		if v != 0 {
			nz = append(nz, j)
		}
	}
	t.nz = nz
	for i, row := range t.rows {
		if i == r {
			continue
		}
		f := row[e]
		if f == 0 {
			continue
		}
		row = row[:len(pr)]
		for _, j := range nz {
			row[j] -= f * pr[j]
		}
		row[e] = 0
		t.rhs[i] -= f * t.rhs[r]
		if t.rhs[i] < 0 && t.rhs[i] > -1e-9 {
			t.rhs[i] = 0
		}
	}
	f := t.red[e]
	for _, j := range nz {
		t.red[j] -= f * pr[j]
	}
	t.red[e] = 0
	t.basis[r] = e
}
