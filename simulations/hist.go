package simulations

import (
	"math"
	"math/bits"
	"time"
)

// hist is a log-linear latency histogram over nanoseconds, in the style of
// HdrHistogram: values below 2^b are counted exactly, above that every
// power of two is split into 2^b buckets, so a bucket is at most 2^-b of
// its value wide (b=6: 1.6%, and quantiles interpolate inside it). Counts
// are float64 so the flow-level mode can add fractional mass.
type hist struct {
	b      uint // sub-bucket bits
	counts []float64
	total  float64
}

// maxLatency caps what a histogram records; longer waits are timeouts.
const maxLatency = int64(1) << 40 // ~18 minutes

func newHist(b uint) hist {
	return hist{b: b, counts: make([]float64, histIndex(uint64(maxLatency), b)+1)}
}

func histIndex(v uint64, b uint) int {
	sub := uint64(1) << (b + 1)
	if v < sub {
		return int(v)
	}
	shift := uint(bits.Len64(v)) - (b + 1)
	return int(shift)<<b + int(v>>shift)
}

// histBounds returns bucket idx's range [lo, hi) in nanoseconds.
func histBounds(idx int, b uint) (lo, hi float64) {
	sub := 1 << (b + 1)
	if idx < sub {
		return float64(idx), float64(idx + 1)
	}
	shift := idx>>b - 1
	m := idx - shift<<b
	return float64(uint64(m) << uint(shift)), float64(uint64(m+1) << uint(shift))
}

func (h *hist) add(ns int64, w float64) {
	if ns < 0 {
		ns = 0
	}
	if ns > maxLatency {
		ns = maxLatency
	}
	h.counts[histIndex(uint64(ns), h.b)] += w
	h.total += w
}

func (h *hist) reset() {
	clear(h.counts)
	h.total = 0
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
}

// quantile returns the q-quantile (0<q<1), interpolating linearly inside
// the bucket; 0 for an empty histogram.
func (h *hist) quantile(q float64) time.Duration {
	if h.total <= 0 {
		return 0
	}
	target := q * h.total
	cum := 0.0
	for i, c := range h.counts {
		if c <= 0 {
			continue
		}
		if cum+c >= target {
			lo, hi := histBounds(i, h.b)
			f := (target - cum) / c
			return time.Duration(math.Round(lo + f*(hi-lo)))
		}
		cum += c
	}
	lo, _ := histBounds(len(h.counts)-1, h.b)
	return time.Duration(lo)
}

// addCDF adds mass w distributed as the CDF F (over nanoseconds) to the
// histogram, evaluating F at the bucket bounds between lo and hi (ns) and
// putting the mass below lo and above hi into the end buckets.
func (h *hist) addCDF(w float64, F func(x float64) float64, lo, hi float64) {
	if w <= 0 {
		return
	}
	if lo < 1 {
		lo = 1
	}
	if hi > float64(maxLatency) {
		hi = float64(maxLatency)
	}
	i0 := histIndex(uint64(lo), h.b)
	i1 := histIndex(uint64(hi), h.b)
	prev := 0.0
	for i := i0; i <= i1; i++ {
		_, bhi := histBounds(i, h.b)
		c := 1.0
		if i < i1 {
			c = F(bhi)
		}
		if c < prev {
			c = prev
		}
		if m := (c - prev) * w; m > 0 {
			h.counts[i] += m
			h.total += m
		}
		prev = c
	}
}

// pmf is a latency distribution binned like a hist with the same b: the
// share of mass in buckets lo, lo+1, ... It lets the flow-level mode add a
// cached distribution with one multiply-add per bucket.
type pmf struct {
	lo int
	m  []float64
}

// makePMF bins the CDF F (over ns) for histograms with b sub-bucket bits,
// as addCDF would.
func makePMF(F func(float64) float64, lo, hi float64, b uint) pmf {
	h := hist{b: b, counts: make([]float64, histIndex(uint64(maxLatency), b)+1)}
	h.addCDF(1, F, lo, hi)
	first, last := -1, -1
	for i, c := range h.counts {
		if c > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return pmf{}
	}
	return pmf{lo: first, m: append([]float64(nil), h.counts[first:last+1]...)}
}

func (h *hist) addPMF(w float64, p *pmf) {
	if w <= 0 {
		return
	}
	c := h.counts[p.lo : p.lo+len(p.m)]
	for i, m := range p.m {
		c[i] += w * m
	}
	h.total += w
}
