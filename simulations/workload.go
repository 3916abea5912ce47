package simulations

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/headroom-dev/headroom/simulations/trace"
)

// Workload is what arrives at the router during a run, per model class:
// individual arrivals (request-level) and per-step rates (flow-level, and
// the future the clairvoyant bound knows). It is built once from a trace and
// shared read-only by every run of a comparison, so every controller sees
// exactly the same requests.
type Workload struct {
	Start    time.Time
	Duration time.Duration
	Classes  []string // policy class names, in policy order
	// Arrivals, in time order: offset from Start in ns and class index.
	// Empty for a rate trace unless Poisson arrivals were generated.
	Times []int64
	Class []int32
	// Step and Rates: Rates[c][i] is class c's mean rate (req/s) over
	// [Start+i*Step, Start+(i+1)*Step).
	Step  time.Duration
	Rates [][]float64
	// Source describes where the workload came from, for reports.
	Source string
}

// Mix maps a trace without classes onto classes: shares per class name.
type Mix map[string]float64

// ParseMix reads "class=share,class=share"; shares are normalized.
func ParseMix(s string) (Mix, error) {
	m := Mix{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("mix entry %q: want class=share", part)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 0) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("mix entry %q: share must be a non-negative number", part)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("mix names class %q twice", k)
		}
		m[k] = f
	}
	return m, nil
}

// WorkloadOptions says how a trace becomes a Workload.
type WorkloadOptions struct {
	// Classes are the policy's class names; the trace's classes (or the
	// mix) must name only these.
	Classes []string
	// Mix maps a classless trace onto classes; empty spreads it evenly
	// over Classes.
	Mix Mix
	// Scale multiplies the load. For a per-request trace it must be a
	// whole number: every request is repeated Scale times, the copies
	// moved by up to 30s either way, which keeps the trace's shape above a
	// minute; a rate trace is multiplied.
	Scale float64
	// Duration cuts the trace; 0 keeps all of it.
	Duration time.Duration
	// Step is the rate series step. Default 10s for per-request traces,
	// the trace's window (capped at 60s) for rate traces.
	Step time.Duration
	// Poisson generates Poisson arrivals from a rate trace, so it can be
	// run at request level (bounded by MaxArrivals).
	Poisson     bool
	MaxArrivals int
	Seed        uint64
}

// ErrUnknownClass: the trace or mix names a class the policy lacks.
var ErrUnknownClass = errors.New("unknown class")

// NewWorkload builds a Workload from a parsed trace.
func NewWorkload(t *trace.Trace, o WorkloadOptions) (*Workload, error) {
	if len(o.Classes) == 0 {
		return nil, errors.New("workload: the policy has no model classes")
	}
	if o.Scale == 0 {
		o.Scale = 1
	}
	if !(o.Scale > 0) || math.IsInf(o.Scale, 0) {
		return nil, fmt.Errorf("scale %v must be positive", o.Scale)
	}
	if o.MaxArrivals <= 0 {
		o.MaxArrivals = 50_000_000
	}
	index := map[string]int{}
	for i, c := range o.Classes {
		index[c] = i
	}
	shares, err := mixShares(o.Mix, o.Classes, index)
	if err != nil {
		return nil, err
	}
	if err := t.Check(); err != nil {
		return nil, err
	}
	start, end := t.Span()
	if o.Duration > 0 && start.Add(o.Duration).Before(end) {
		end = start.Add(o.Duration)
	}
	w := &Workload{Start: start, Duration: end.Sub(start), Classes: slices.Clone(o.Classes)}
	if w.Duration <= 0 {
		return nil, fmt.Errorf("%w: the trace spans no time", trace.ErrEmpty)
	}
	switch t.Format {
	case trace.FormatRequests:
		if o.Scale != math.Trunc(o.Scale) {
			return nil, fmt.Errorf("scale %v: a per-request trace scales by whole copies (1, 2, 3, ...)", o.Scale)
		}
		err = w.fromRequests(t, o, index, shares)
	case trace.FormatRates:
		err = w.fromRates(t, o, index, shares)
	default:
		err = errors.New("trace has no format")
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// mixShares returns the cumulative shares per class index for a classless
// trace.
func mixShares(m Mix, classes []string, index map[string]int) ([]float64, error) {
	sh := make([]float64, len(classes))
	if len(m) == 0 {
		for i := range sh {
			sh[i] = 1
		}
	} else {
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			i, ok := index[k]
			if !ok {
				return nil, fmt.Errorf("mix: %w %q (the policy has %s)", ErrUnknownClass, k, strings.Join(classes, ", "))
			}
			sh[i] = m[k]
		}
	}
	sum := 0.0
	for _, v := range sh {
		sum += v
	}
	if !(sum > 0) {
		return nil, errors.New("mix: shares add up to 0")
	}
	for i := range sh {
		sh[i] /= sum
	}
	return sh, nil
}

func (w *Workload) fromRequests(t *trace.Trace, o WorkloadOptions, index map[string]int, shares []float64) error {
	rng := rand.New(rand.NewPCG(o.Seed, 0x6d6978)) // "mix"
	span := int64(w.Duration)
	if span <= 0 {
		span = 1
	}
	n := 0
	for _, r := range t.Requests {
		if off := int64(r.Time.Sub(w.Start)); off <= span {
			n++
		}
	}
	k := int(o.Scale)
	if n*k > o.MaxArrivals {
		return fmt.Errorf("%w: %d requests x scale %d is more than %d arrivals; use a shorter duration or the flow mode", trace.ErrTooLarge, n, k, o.MaxArrivals)
	}
	base := make([]arr, 0, n)
	for i, r := range t.Requests {
		off := int64(r.Time.Sub(w.Start))
		if off > span {
			break
		}
		c := 0
		if r.Class != "" {
			ci, ok := index[r.Class]
			if !ok {
				return fmt.Errorf("trace request %d: %w %q (the policy has %s)", i+1, ErrUnknownClass, r.Class, strings.Join(w.Classes, ", "))
			}
			c = ci
		} else {
			c = pick(shares, rng.Float64())
		}
		base = append(base, arr{off, int32(c)})
	}
	all := base
	if k > 1 {
		// k copies of every request, each moved by up to ±30s: the rate
		// is k times higher, the trace keeps its shape above a minute, and
		// below that the copies arrive like independent users (a burst of
		// k identical arrivals within a second would be no real traffic).
		const jitter = int64(time.Minute)
		all = make([]arr, 0, n*k)
		for _, a := range base {
			for j := 0; j < k; j++ {
				t := a.t
				if j > 0 {
					t += rng.Int64N(jitter) - jitter/2
				}
				if t < 0 { // reflect at the ends: no pile-up at the edges
					t = -t
				} else if t > span {
					t = 2*span - t
				}
				all = append(all, arr{min(max(t, 0), span), a.c})
			}
		}
		sortArrivals(all, span)
	}
	w.Times = make([]int64, len(all))
	w.Class = make([]int32, len(all))
	for i, a := range all {
		w.Times[i], w.Class[i] = a.t, a.c
	}
	w.Step = o.Step
	if w.Step <= 0 {
		w.Step = 10 * time.Second
	}
	steps, err := trace.Steps(w.Duration, w.Step)
	if err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	w.Rates = ratesFromArrivals(w.Times, w.Class, len(w.Classes), w.Step, steps)
	w.Source = fmt.Sprintf("%d requests (%d per-request rows x %d)", len(all), n, k)
	return nil
}

type arr struct {
	t int64
	c int32
}

// sortArrivals sorts by time, then class, in O(n) for spread-out times: a
// counting sort into about n/4 equal-width buckets, then insertion sort
// inside each bucket.
func sortArrivals(a []arr, span int64) {
	if len(a) < 2 {
		return
	}
	nb := max(len(a)/4, 1)
	width := span/int64(nb) + 1
	count := make([]int, nb+1)
	for _, x := range a {
		count[x.t/width+1]++
	}
	for i := 1; i <= nb; i++ {
		count[i] += count[i-1]
	}
	out := make([]arr, len(a))
	pos := slices.Clone(count[:nb])
	for _, x := range a {
		b := x.t / width
		out[pos[b]] = x
		pos[b]++
	}
	less := func(x, y arr) bool { return x.t < y.t || (x.t == y.t && x.c < y.c) }
	for b := 0; b < nb; b++ {
		seg := out[count[b]:count[b+1]]
		for i := 1; i < len(seg); i++ {
			for j := i; j > 0 && less(seg[j], seg[j-1]); j-- {
				seg[j], seg[j-1] = seg[j-1], seg[j]
			}
		}
	}
	copy(a, out)
}

// ratesFromArrivals counts arrivals into steps (trace.Steps of the
// workload's duration) per class.
func ratesFromArrivals(times []int64, class []int32, nc int, step time.Duration, steps int) [][]float64 {
	r := make([][]float64, nc)
	for c := range r {
		r[c] = make([]float64, steps)
	}
	for i, t := range times {
		s := int(t / int64(step))
		if s >= steps {
			s = steps - 1
		}
		r[class[i]][s]++
	}
	for c := range r {
		for s := range r[c] {
			r[c][s] /= step.Seconds()
		}
	}
	return r
}

func pick(cum []float64, u float64) int {
	acc := 0.0
	for i, s := range cum {
		acc += s
		if u < acc {
			return i
		}
	}
	return len(cum) - 1
}

func (w *Workload) fromRates(t *trace.Trace, o WorkloadOptions, index map[string]int, shares []float64) error {
	step := o.Step
	if step <= 0 {
		step = min(t.Window, time.Minute)
	}
	w.Step = step
	steps, err := trace.Steps(w.Duration, step)
	if err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	w.Rates = make([][]float64, len(w.Classes))
	for c := range w.Rates {
		w.Rates[c] = make([]float64, steps)
	}
	fill := func(dst []float64, s trace.Series, mult float64) {
		for i := range dst {
			j := int(w.Start.Add(time.Duration(i)*step).Sub(s.Start) / s.Step)
			if j >= 0 && j < len(s.Values) && !math.IsNaN(s.Values[j]) {
				dst[i] += s.Values[j] * mult
			}
		}
	}
	classes := t.Classes()
	if len(classes) == 1 && classes[0] == "" {
		s, err := t.Resample(step, trace.ResampleOptions{})
		if err != nil {
			return err
		}
		for c := range w.Rates {
			fill(w.Rates[c], s, shares[c]*o.Scale)
		}
	} else {
		for _, name := range classes {
			ci, ok := index[name]
			if !ok {
				return fmt.Errorf("trace: %w %q (the policy has %s)", ErrUnknownClass, name, strings.Join(w.Classes, ", "))
			}
			s, err := t.Resample(step, trace.ResampleOptions{Class: name})
			if err != nil {
				return err
			}
			fill(w.Rates[ci], s, o.Scale)
		}
	}
	w.Source = fmt.Sprintf("rate trace, %d windows of %v", len(t.Rates), t.Window)
	if o.Poisson {
		return w.poisson(o)
	}
	return nil
}

// poisson draws Poisson arrivals from the rate series (piecewise constant).
func (w *Workload) poisson(o WorkloadOptions) error {
	total := 0.0
	for c := range w.Rates {
		for _, r := range w.Rates[c] {
			total += r * w.Step.Seconds()
		}
	}
	if total > float64(o.MaxArrivals) {
		return fmt.Errorf("%w: about %.0f Poisson arrivals is more than %d; use the flow mode", trace.ErrTooLarge, total, o.MaxArrivals)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x706f6973)) // "pois"
	w.Times = make([]int64, 0, int(total*1.01)+16)
	w.Class = make([]int32, 0, cap(w.Times))
	stepNs := float64(w.Step)
	for s := 0; s < len(w.Rates[0]); s++ {
		sum := 0.0
		for c := range w.Rates {
			sum += w.Rates[c][s]
		}
		if sum <= 0 {
			continue
		}
		t := 0.0
		for {
			t += rng.ExpFloat64() / sum * 1e9
			if t >= stepNs {
				break
			}
			u := rng.Float64() * sum
			c := 0
			for acc := w.Rates[0][s]; u >= acc && c < len(w.Rates)-1; {
				c++
				acc += w.Rates[c][s]
			}
			off := int64(s)*int64(w.Step) + int64(t)
			if off > int64(w.Duration) {
				break
			}
			w.Times = append(w.Times, off)
			w.Class = append(w.Class, int32(c))
		}
	}
	w.Source += fmt.Sprintf(", %d Poisson arrivals", len(w.Times))
	return nil
}

// RateAt returns class c's rate at offset off (ns), 0 outside the trace.
func (w *Workload) RateAt(c int, off int64) float64 {
	i := int(off / int64(w.Step))
	if c < 0 || c >= len(w.Rates) || i < 0 || i >= len(w.Rates[c]) {
		return 0
	}
	return w.Rates[c][i]
}

// MaxRate returns the highest rate of class c over [from, to) (ns offsets).
func (w *Workload) MaxRate(c int, from, to int64) float64 {
	m := 0.0
	for i := max(0, int(from/int64(w.Step))); i < len(w.Rates[c]) && int64(i)*int64(w.Step) < to; i++ {
		m = max(m, w.Rates[c][i])
	}
	return m
}

// RequestLevel reports whether the workload has individual arrivals.
func (w *Workload) RequestLevel() bool { return len(w.Times) > 0 }
