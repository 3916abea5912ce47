package forecast

import (
	"math"
	"sort"
)

// Pinball is the pinball (quantile) loss of forecasting f at quantile q when
// y happened: q*(y-f) when under (y > f), (1-q)*(f-y) when over. At q = 0.95
// an under-forecast costs 19 times an over-forecast of the same size
// (Koenker & Bassett 1978; Gneiting 2011, "Quantiles as optimal point
// forecasts").
func Pinball(q, y, f float64) float64 {
	if u := y - f; u >= 0 {
		return q * u
	} else {
		return (q - 1) * u
	}
}

// selectK partially sorts a so that a[k] is the k-th smallest (Hoare's
// quickselect with median-of-three pivots, expected O(n)).
func selectK(a []float64, k int) float64 {
	lo, hi := 0, len(a)-1
	for hi > lo {
		mid := lo + (hi-lo)/2
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[hi] < a[mid] {
			a[hi], a[mid] = a[mid], a[hi]
		}
		p := a[mid]
		i, j := lo, hi
		for i <= j {
			for a[i] < p {
				i++
			}
			for a[j] > p {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}

// empiricalQuantile returns the q-quantile of a (which it reorders), the
// order statistic at rank ceil(q*n)-1: the smallest value with at least a
// fraction q of the sample at or below it.
func empiricalQuantile(a []float64, q float64) float64 {
	if len(a) == 0 {
		return 0
	}
	k := int(math.Ceil(q*float64(len(a)))) - 1
	k = min(max(k, 0), len(a)-1)
	return selectK(a, k)
}

// tailQuantile returns empiricalQuantile(a, q) without changing a, in
// O(n log m) for the m = n - rank values at or above the rank: it keeps the
// m largest values seen in a min-heap (for q < 0.5, the smallest in a
// max-heap). At q = 0.95 m is 5% of n and most values are rejected by one
// comparison with the heap's root, several times faster than copying and
// quickselecting. heap is scratch space.
func tailQuantile(a []float64, q float64, heap []float64) (float64, []float64) {
	n := len(a)
	if n == 0 {
		return 0, heap
	}
	k := int(math.Ceil(q*float64(n))) - 1
	k = min(max(k, 0), n-1)
	sign := 1.0 // min-heap of the largest; with -1, of the smallest negated
	m := n - k
	if k+1 < m {
		sign, m = -1, k+1
	}
	heap = heap[:0]
	for _, v := range a {
		v *= sign
		if len(heap) < m {
			heap = append(heap, v)
			for i := len(heap) - 1; i > 0; { // sift up
				p := (i - 1) / 2
				if !(heap[i] < heap[p]) {
					break
				}
				heap[i], heap[p] = heap[p], heap[i]
				i = p
			}
			continue
		}
		if !(v > heap[0]) {
			continue
		}
		heap[0] = v
		for i := 0; ; { // sift down
			l, r, s := 2*i+1, 2*i+2, i
			if l < m && heap[l] < heap[s] {
				s = l
			}
			if r < m && heap[r] < heap[s] {
				s = r
			}
			if s == i {
				break
			}
			heap[i], heap[s] = heap[s], heap[i]
			i = s
		}
	}
	return sign * heap[0], heap
}

// residualSketch keeps the sorted residuals of the chosen model, thinned to
// at most maxSketch evenly spaced order statistics, so any quantile can be
// read later in bounded memory.
type residualSketch []float64

const maxSketch = 512

func newSketch(r []float64) residualSketch {
	s := append([]float64(nil), r...)
	sort.Float64s(s)
	if len(s) <= maxSketch {
		return s
	}
	out := make([]float64, maxSketch)
	for i := range out {
		out[i] = s[int(math.Round(float64(i)*float64(len(s)-1)/float64(maxSketch-1)))]
	}
	return out
}

// quantile reads the q-quantile by linear interpolation between order
// statistics; an empty sketch says 0 (no error known).
func (s residualSketch) quantile(q float64) float64 {
	if len(s) == 0 {
		return 0
	}
	switch {
	case !(q > 0): // also NaN
		q = 0
	case q > 1:
		q = 1
	}
	p := q * float64(len(s)-1)
	i := int(p)
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	f := p - float64(i)
	return s[i] + f*(s[i+1]-s[i])
}
