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

// tailQuantile returns empiricalQuantile(a, q) without changing a. It
// brackets the wanted order statistic between two values of an evenly
// spaced sample of a (the sampling idea of Floyd & Rivest 1975, "Expected
// time bounds for selection"), counts the values below the bracket and
// keeps the few inside it in one pass, and selects among those: about n
// comparisons instead of copying and quickselecting all n. When the
// bracket misses the rank (rare) it falls back to quickselect on a copy.
// buf is scratch space.
func tailQuantile(a []float64, q float64, buf []float64) (float64, []float64) {
	n := len(a)
	if n == 0 {
		return 0, buf
	}
	k := int(math.Ceil(q*float64(n))) - 1
	k = min(max(k, 0), n-1)
	const sampleSize, guard = 64, 8 // guard ~ 3 standard deviations of the sample rank
	if n < 8*sampleSize {
		buf = append(buf[:0], a...)
		return selectK(buf, k), buf
	}
	var sample [sampleSize]float64
	for i := range sample {
		sample[i] = a[i*n/sampleSize+(n/sampleSize)/2]
	}
	sort.Float64s(sample[:])
	j := k * sampleSize / n
	lo, hi := math.Inf(-1), math.Inf(1)
	if j-guard >= 0 {
		lo = sample[j-guard]
	}
	if j+guard < sampleSize {
		hi = sample[j+guard]
	}
	below := 0
	buf = buf[:0]
	for _, v := range a {
		if v < lo {
			below++
		} else if v <= hi {
			buf = append(buf, v)
		}
	}
	if below <= k && k < below+len(buf) {
		return selectK(buf, k-below), buf
	}
	buf = append(buf[:0], a...)
	return selectK(buf, k), buf
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
