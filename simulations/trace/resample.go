package trace

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Interp says how a rate trace is resampled to a step finer than its windows.
type Interp int

const (
	// Hold repeats each window's rate over its whole window (the default).
	Hold Interp = iota
	// Linear interpolates between window midpoints, so a 10-minute trace
	// resampled to 1 minute ramps instead of stepping.
	Linear
)

// ResampleOptions selects and shapes the resampled series.
type ResampleOptions struct {
	// Class keeps only that class; "" sums all classes.
	Class string
	// Interp applies to rate traces resampled to a step finer than Window.
	Interp Interp
}

// MaxSteps bounds the length of a resampled series (about 190 days at 1 s),
// the windows of a rate trace, and the steps of a simulated workload.
const MaxSteps = 1 << 24

// Steps is how many steps of length step cover span (rounded up, at least
// one), or an ErrTooLarge error when that is more than MaxSteps. Every
// series, window grid and workload over a trace is allocated by this
// count, so this is the one place that bounds them.
func Steps(span, step time.Duration) (int, error) {
	if step <= 0 {
		return 0, fmt.Errorf("step %v must be positive", step)
	}
	n := span / step
	if span%step > 0 {
		n++
	}
	n = max(n, 1)
	if n > MaxSteps {
		return 0, fmt.Errorf("%w: %v in steps of %v is %d steps, more than %d", ErrTooLarge, span, step, int64(n), MaxSteps)
	}
	return int(n), nil
}

// Check validates what no single row shows: a trace must span less time
// than a time.Duration holds (about 292 years), and a rate trace at most
// MaxSteps windows. Read and ReadProm check every trace they return; the
// simulator checks traces built in code. Example: windows that start 1 ns
// apart make the window 1 ns, and a last window 4 months on makes 10^16
// of them; that is an ErrTooLarge here, not a panic in whatever allocates
// them.
func (t *Trace) Check() error {
	start, end := t.Span()
	if end.Sub(start) == math.MaxInt64 {
		return fmt.Errorf("%w: the trace spans more than %v (from %s to %s)", ErrTooLarge, time.Duration(math.MaxInt64), start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	if t.Format != FormatRates {
		return nil
	}
	if t.Window <= 0 {
		return fmt.Errorf("rate trace without a window length")
	}
	if _, err := Steps(end.Sub(start), t.Window); err != nil {
		return fmt.Errorf("rate trace windows of %v from %s to %s: %w", t.Window, start.Format(time.RFC3339), end.Format(time.RFC3339), err)
	}
	return nil
}

// Resample turns the trace into a Series at the given step. See the package
// documentation for how requests and windows become rates.
func (t *Trace) Resample(step time.Duration, opts ResampleOptions) (Series, error) {
	if step <= 0 {
		return Series{}, fmt.Errorf("resample step %v must be positive", step)
	}
	switch t.Format {
	case FormatRequests:
		return t.resampleRequests(step, opts)
	case FormatRates:
		return t.resampleRates(step, opts)
	}
	return Series{}, errors.New("trace has no format")
}

func (t *Trace) resampleRequests(step time.Duration, opts ResampleOptions) (Series, error) {
	var first, last time.Time
	n := 0
	for _, r := range t.Requests {
		if opts.Class != "" && r.Class != opts.Class {
			continue
		}
		if n == 0 {
			first = r.Time
		}
		last = r.Time
		n++
	}
	if n == 0 {
		return Series{}, fmt.Errorf("%w: no requests of class %q", ErrEmpty, opts.Class)
	}
	// Steps start at the first request; a trailing partial step is dropped
	// because its rate would be undercounted.
	whole := int64(last.Sub(first) / step)
	short := whole < 1 // shorter than one step: keep it all in one step
	if _, err := Steps(last.Sub(first), step); err != nil {
		return Series{}, err
	}
	steps := max(whole, 1)
	counts := make([]float64, steps)
	for _, r := range t.Requests {
		if opts.Class != "" && r.Class != opts.Class {
			continue
		}
		i := int64(r.Time.Sub(first) / step)
		if i >= steps {
			if !short {
				continue // in the dropped partial step
			}
			i = steps - 1
		}
		counts[i]++
	}
	sec := step.Seconds()
	for i := range counts {
		counts[i] /= sec
	}
	return Series{Start: first, Step: step, Values: counts}, nil
}

func (t *Trace) resampleRates(step time.Duration, opts ResampleOptions) (Series, error) {
	// Sum the classes into one window grid first.
	var start, end time.Time
	found := false
	for _, r := range t.Rates {
		if opts.Class != "" && r.Class != opts.Class {
			continue
		}
		if !found || r.Start.Before(start) {
			start = r.Start
		}
		if e := r.Start.Add(t.Window); !found || e.After(end) {
			end = e
		}
		found = true
	}
	if !found {
		return Series{}, fmt.Errorf("%w: no windows of class %q", ErrEmpty, opts.Class)
	}
	nw := int64(end.Sub(start) / t.Window)
	if _, err := Steps(end.Sub(start), t.Window); err != nil {
		return Series{}, err
	}
	if _, err := Steps(end.Sub(start), step); err != nil {
		return Series{}, err
	}
	grid := make([]float64, nw)
	for i := range grid {
		grid[i] = math.NaN()
	}
	for _, r := range t.Rates {
		if opts.Class != "" && r.Class != opts.Class {
			continue
		}
		// Windows off the grid (irregular starts) go to the window they start in.
		i := int64(r.Start.Sub(start) / t.Window)
		if i >= nw {
			i = nw - 1
		}
		if math.IsNaN(grid[i]) {
			grid[i] = 0
		}
		grid[i] += r.Rate
	}
	ns := int64(end.Sub(start) / step)
	if ns < 1 {
		ns = 1
	}
	out := make([]float64, ns)
	w := t.Window.Seconds()
	st := step.Seconds()
	for j := range out {
		a := float64(j) * st // step [a, b) in seconds from start
		b := a + st
		if opts.Interp == Linear && st < w {
			out[j] = linearAt(grid, w, (a+b)/2)
			continue
		}
		// Time-weighted mean of the windows the step overlaps; NaN windows
		// are left out, and a step over only NaN windows is NaN.
		sum, cover := 0.0, 0.0
		for i := int64(a / w); i < nw && float64(i)*w < b; i++ {
			lo, hi := math.Max(a, float64(i)*w), math.Min(b, float64(i+1)*w)
			if hi <= lo || math.IsNaN(grid[i]) {
				continue
			}
			sum += grid[i] * (hi - lo)
			cover += hi - lo
		}
		if cover == 0 {
			out[j] = math.NaN()
		} else {
			out[j] = sum / cover
		}
	}
	return Series{Start: start, Step: step, Values: out}, nil
}

// linearAt interpolates the window grid at x seconds, treating each window's
// rate as the value at its midpoint. Outside the first and last midpoints it
// holds; next to a NaN window it holds the known side.
func linearAt(grid []float64, w, x float64) float64 {
	p := x/w - 0.5
	i := int(math.Floor(p))
	if i < 0 {
		return grid[0]
	}
	if i >= len(grid)-1 {
		return grid[len(grid)-1]
	}
	f := p - float64(i)
	a, b := grid[i], grid[i+1]
	switch {
	case math.IsNaN(a) && math.IsNaN(b):
		return math.NaN()
	case math.IsNaN(a):
		return b
	case math.IsNaN(b):
		return a
	}
	return a + f*(b-a)
}
