package binpack

import (
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// lpBound solves the pattern LP of bound.go exactly with gonum's simplex
// (dense, so only for small instances: tests use it to check the
// subgradient bound). Rows with >= get surplus columns, <= slack columns.
func (m *model) lpBound() (float64, error) {
	var cols []map[int]float64
	var cost []float64
	var b []float64
	row := 0
	newRow := func(rhs float64) int { b = append(b, rhs); row++; return row - 1 }
	// Class rows.
	type crow struct{ dem, od, cnt int }
	crows := make([]crow, len(m.classes))
	for ci, cm := range m.classes {
		if len(cm.cands) == 0 {
			crows[ci] = crow{-1, -1, -1}
			continue
		}
		cr := crow{dem: newRow(cm.demand), od: -1, cnt: -1}
		hasOD := false
		for _, cd := range cm.cands {
			hasOD = hasOD || cd.od
		}
		if cm.f > 0 && hasOD {
			cr.od = newRow(cm.f * cm.demand)
		}
		want := cm.minRep
		if cm.demand > 0 {
			want = max(want, 1)
		}
		if want > 0 {
			cr.cnt = newRow(float64(want))
		}
		crows[ci] = cr
	}
	resRow := make([]int, m.nres)
	for r := range resRow {
		resRow[r] = newRow(0)
	}
	gmax := make([]int, len(m.groups))
	gmin := make([]int, len(m.groups))
	for _, g := range m.groups {
		gmax[g.idx] = -1
		if g.ng.Max > 0 {
			gmax[g.idx] = newRow(g.maxGPUs)
		}
		gmin[g.idx] = -1
		if g.minGPUs > 0 {
			gmin[g.idx] = newRow(g.minGPUs)
		}
	}
	// >= rows get a surplus column; <= rows a slack column.
	for ci, cm := range m.classes {
		cr := crows[ci]
		if cr.dem < 0 {
			continue
		}
		for _, cd := range cm.cands {
			e := map[int]float64{cr.dem: cd.cap, resRow[cd.res]: 1}
			if cd.memRes >= 0 {
				e[resRow[cd.memRes]] = cd.mem
			}
			if cr.od >= 0 && cd.od {
				e[cr.od] = cd.cap
			}
			if cr.cnt >= 0 {
				e[cr.cnt] = 1
			}
			cols = append(cols, e)
			cost = append(cost, 0)
		}
		for _, r := range []int{cr.dem, cr.od, cr.cnt} {
			if r >= 0 {
				cols = append(cols, map[int]float64{r: -1})
				cost = append(cost, 0)
			}
		}
	}
	for _, g := range m.groups {
		for _, pt := range g.patterns {
			e := map[int]float64{}
			if gmax[g.idx] >= 0 {
				e[gmax[g.idx]] = 1
			}
			if gmin[g.idx] >= 0 {
				e[gmin[g.idx]] = 1
			}
			for k := range g.kinds {
				if pt.supply[k] > 0 {
					e[resRow[g.res0+k]] = -pt.supply[k]
				}
			}
			if g.memRes >= 0 {
				e[resRow[g.memRes]] = -pt.supply[len(g.kinds)]
			}
			cols = append(cols, e)
			cost = append(cost, g.gpuPrice)
		}
		// An idle GPU (held for the min size).
		if gmin[g.idx] >= 0 {
			cols = append(cols, map[int]float64{gmin[g.idx]: 1})
			cost = append(cost, g.gpuPrice)
			cols = append(cols, map[int]float64{gmin[g.idx]: -1})
			cost = append(cost, 0)
		}
		if gmax[g.idx] >= 0 {
			cols = append(cols, map[int]float64{gmax[g.idx]: 1})
			cost = append(cost, 0)
		}
	}
	for r := range resRow {
		cols = append(cols, map[int]float64{resRow[r]: 1})
		cost = append(cost, 0)
	}
	a := mat.NewDense(row, len(cols), nil)
	for j, e := range cols {
		for r, v := range e {
			a.Set(r, j, v)
		}
	}
	for i := range b {
		if math.IsInf(b[i], 1) {
			b[i] = 1e9
		}
	}
	opt, _, err := lp.Simplex(cost, a, b, 1e-10, nil)
	return opt, err
}
