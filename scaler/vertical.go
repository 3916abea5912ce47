package scaler

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Vertical recommendations follow the Kubernetes Vertical Pod Autoscaler's
// recommender (k8s.io/autoscaler vertical-pod-autoscaler pkg/recommender):
// samples go into a decaying histogram with exponentially growing buckets
// (util/decaying_histogram.go), and small estimators, composed as
// decorators, turn it into a number (logic/estimator.go): percentile ->
// margin -> confidence -> floor.

// Histogram is a decaying histogram: a sample's weight doubles every
// HalfLife after the reference time, so old samples fade relative to new
// ones without rewriting the buckets. Buckets grow geometrically from First
// by Ratio, as VPA's (first bucket 0.01 cores / 10 MB, ratio 1.05).
type Histogram struct {
	First, Ratio float64
	HalfLife     time.Duration
	ref          time.Time
	weights      []float64
	total        float64
	// First and last sample times, for confidence.
	firstAt, lastAt time.Time
	samples         int
}

// NewHistogram returns an empty histogram.
func NewHistogram(first, ratio float64, halfLife time.Duration) *Histogram {
	return &Histogram{First: first, Ratio: ratio, HalfLife: halfLife}
}

func (h *Histogram) bucket(v float64) int {
	if v < h.First {
		return 0
	}
	return int(math.Log(v/h.First)/math.Log(h.Ratio)) + 1
}

// bucketStart is the lower edge of bucket i (bucket 0 is [0, First)).
func (h *Histogram) bucketStart(i int) float64 {
	if i == 0 {
		return 0
	}
	return h.First * math.Pow(h.Ratio, float64(i-1))
}

// AddSample adds value v with weight w observed at t. NaN, infinite and
// negative values and weights are ignored.
func (h *Histogram) AddSample(v, w float64, t time.Time) {
	if !(v >= 0) || math.IsInf(v, 0) || !(w > 0) || math.IsInf(w, 0) {
		return
	}
	if h.ref.IsZero() {
		h.ref = t
	}
	// Move the reference forward when weights would grow too large, as VPA
	// does, by scaling everything down.
	if t.Sub(h.ref) > 100*h.HalfLife {
		f := math.Exp2(-float64(t.Sub(h.ref)) / float64(h.HalfLife))
		for i := range h.weights {
			h.weights[i] *= f
		}
		h.total *= f
		h.ref = t
	}
	w *= math.Exp2(float64(t.Sub(h.ref)) / float64(h.HalfLife))
	b := min(h.bucket(v), 10000)
	if b >= len(h.weights) {
		h.weights = append(h.weights, make([]float64, b+1-len(h.weights))...)
	}
	h.weights[b] += w
	h.total += w
	if h.samples == 0 || t.Before(h.firstAt) {
		h.firstAt = t
	}
	if t.After(h.lastAt) {
		h.lastAt = t
	}
	h.samples++
}

// Empty reports whether no sample was added.
func (h *Histogram) Empty() bool { return h.total == 0 }

// Percentile returns the upper edge of the bucket holding percentile p in
// [0,1], as VPA does (conservative for requests); 0 when empty.
func (h *Histogram) Percentile(p float64) float64 {
	if h.total == 0 {
		return 0
	}
	target := p * h.total
	acc := 0.0
	for i, w := range h.weights {
		acc += w
		if acc >= target && w > 0 {
			return h.bucketStart(i + 1)
		}
	}
	return h.bucketStart(len(h.weights))
}

// Confidence is VPA's measure of how much history there is, in days:
// min(lifespan in days, samples / samples-per-day at one a minute).
func (h *Histogram) Confidence() float64 {
	if h.samples == 0 {
		return 0
	}
	days := h.lastAt.Sub(h.firstAt).Hours() / 24
	return math.Min(days, float64(h.samples)/(60*24))
}

// Estimator turns a histogram into a resource amount.
type Estimator interface {
	Estimate(h *Histogram) float64
}

// EstimatorFunc adapts a function to Estimator.
type EstimatorFunc func(h *Histogram) float64

// Estimate calls f.
func (f EstimatorFunc) Estimate(h *Histogram) float64 { return f(h) }

// Percentile estimates the p-th percentile (p in [0,1]).
func Percentile(p float64) Estimator {
	return EstimatorFunc(func(h *Histogram) float64 { return h.Percentile(p) })
}

// The decorators take the estimator first, as the forecast package's do:
// WithFloor(WithMargin(Percentile(0.9), 0.15), min).

// WithMargin adds a fractional safety margin: 0.15 adds 15%.
func WithMargin(e Estimator, margin float64) Estimator {
	return EstimatorFunc(func(h *Histogram) float64 { return e.Estimate(h) * (1 + margin) })
}

// WithConfidence scales by (1 + multiplier/confidence)^exponent, VPA's
// confidence multiplier: with little history the upper bound is wide
// (exponent 1) and the lower bound low (exponent -2).
func WithConfidence(e Estimator, multiplier, exponent float64) Estimator {
	return EstimatorFunc(func(h *Histogram) float64 {
		c := h.Confidence()
		if c <= 0 {
			c = 1e-3
		}
		return e.Estimate(h) * math.Pow(1+multiplier/c, exponent)
	})
}

// WithFloor never estimates below floor.
func WithFloor(e Estimator, floor float64) Estimator {
	return EstimatorFunc(func(h *Histogram) float64 { return math.Max(floor, e.Estimate(h)) })
}

// VerticalOptions tune the vertical recommender; zero fields take VPA's
// defaults.
type VerticalOptions struct {
	TargetPercentile float64 // 0.9
	Margin           float64 // 0.15
	MinCPU           float64 // cores, 0.1
	MinMemory        float64 // bytes, 250 MiB
	// OOMBumpRatio and OOMMinBump: after an OOM kill, a memory sample of
	// max(used x 1.2, used + 100 MiB) is added.
	OOMBumpRatio float64
	OOMMinBump   float64
	HalfLife     time.Duration // 24h
	// MinHistory is how long samples must span before a recommendation is
	// made (default 1h), so a new class is not resized on a few minutes
	// of warm-up.
	MinHistory time.Duration
}

func (o VerticalOptions) withDefaults() VerticalOptions {
	def := func(v *float64, d float64) {
		if !(*v > 0) {
			*v = d
		}
	}
	def(&o.TargetPercentile, 0.9)
	def(&o.Margin, 0.15)
	def(&o.MinCPU, 0.1)
	def(&o.MinMemory, 250<<20)
	def(&o.OOMBumpRatio, 1.2)
	def(&o.OOMMinBump, 100<<20)
	if o.HalfLife <= 0 {
		o.HalfLife = 24 * time.Hour
	}
	if o.MinHistory <= 0 {
		o.MinHistory = time.Hour
	}
	return o
}

// Vertical keeps one class's CPU and memory histograms.
type Vertical struct {
	opts     VerticalOptions
	cpu, mem *Histogram
	target   struct{ cpu, mem Estimator }
}

// NewVertical returns an empty recommender for one class.
func NewVertical(o VerticalOptions) *Vertical {
	o = o.withDefaults()
	v := &Vertical{opts: o,
		cpu: NewHistogram(0.01, 1.05, o.HalfLife),
		mem: NewHistogram(10e6, 1.05, o.HalfLife),
	}
	v.target.cpu = WithFloor(WithMargin(Percentile(o.TargetPercentile), o.Margin), o.MinCPU)
	v.target.mem = WithFloor(WithMargin(Percentile(o.TargetPercentile), o.Margin), o.MinMemory)
	return v
}

// Observe adds one pod's usage at t; an OOM kill adds a bumped memory sample.
func (v *Vertical) Observe(u PodUsage, t time.Time) {
	v.cpu.AddSample(u.CPUCores, math.Max(u.CPUCores, 0.1), t) // VPA weights CPU samples by usage
	v.mem.AddSample(u.MemoryBytes, 1, t)
	if u.OOMKilled && u.MemoryBytes > 0 {
		bump := math.Max(u.MemoryBytes*v.opts.OOMBumpRatio, u.MemoryBytes+v.opts.OOMMinBump)
		v.mem.AddSample(bump, 1, t)
	}
}

// Recommend returns the target resources and why; ok is false without data.
func (v *Vertical) Recommend() (Resources, string, bool) {
	if v.cpu.Empty() || v.mem.Empty() {
		return Resources{}, "no usage samples yet", false
	}
	if span := v.cpu.lastAt.Sub(v.cpu.firstAt); span < v.opts.MinHistory {
		return Resources{}, fmt.Sprintf("%v of usage history, need %v", span, v.opts.MinHistory), false
	}
	r := Resources{CPUCores: v.target.cpu.Estimate(v.cpu), MemoryBytes: v.target.mem.Estimate(v.mem)}
	return r, fmt.Sprintf("p%.0f +%.0f%% margin over %d samples (%.2f days): cpu %.3f cores, memory %.0f MiB",
		v.opts.TargetPercentile*100, v.opts.Margin*100, v.cpu.samples, v.cpu.Confidence(), r.CPUCores, r.MemoryBytes/(1<<20)), true
}

// ---------------------------------------------------------------------------
// GPU right-sizing.

// ProfileOption is one slice profile a class may run on, with what sizing
// says about it.
type ProfileOption struct {
	GPU, Profile string
	// UsableGiB is the memory a process can allocate on the slice.
	UsableGiB float64
	// Compute is the compute slices (of 7) the profile takes; 7 for whole.
	Compute int
	Sizing  Sizing
}

// RightSize picks the class's preferred profile: the smallest slice (by
// usable memory, then compute) whose usable memory holds needGiB (the
// observed p99 GPU memory plus margin, or the declared need) and whose
// sizing meets the SLO within the replica limit. It returns the index into
// opts, or -1, with the reason, naming each profile rejected and for what.
func RightSize(opts []ProfileOption, needGiB float64) (int, string) {
	idx := make([]int, len(opts))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		oa, ob := opts[idx[a]], opts[idx[b]]
		if oa.UsableGiB != ob.UsableGiB {
			return oa.UsableGiB < ob.UsableGiB
		}
		return oa.Compute < ob.Compute
	})
	var rejected []string
	for _, i := range idx {
		o := opts[i]
		switch {
		case o.UsableGiB < needGiB:
			rejected = append(rejected, fmt.Sprintf("%s %s: %.1f GiB < %.1f GiB needed", o.GPU, o.Profile, o.UsableGiB, needGiB))
		case !o.Sizing.Feasible:
			rejected = append(rejected, fmt.Sprintf("%s %s: %s", o.GPU, o.Profile, o.Sizing.Reason))
		default:
			why := fmt.Sprintf("%s %s: smallest slice holding %.1f GiB that meets the SLO with %d replicas", o.GPU, o.Profile, needGiB, o.Sizing.Replicas)
			if len(rejected) > 0 {
				why += " (rejected " + join(rejected) + ")"
			}
			return i, why
		}
	}
	return -1, "no profile fits: " + join(rejected)
}
