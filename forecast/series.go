package forecast

import (
	"fmt"
	"math"
	"time"
)

// Series is a regularly sampled rate series: Values[i] is the mean rate over
// [Start+i*Step, Start+(i+1)*Step). NaN, Inf and negative values mean "no
// usable data" (a gap, or a counter reset turned into a negative rate).
type Series struct {
	Start  time.Time
	Step   time.Duration
	Values []float64
}

// Limits on steps: the estimators assume seconds to hours.
const (
	MinStep = time.Second
	MaxStep = 24 * time.Hour
)

func checkStep(step time.Duration) error {
	if step < MinStep || step > MaxStep {
		return fmt.Errorf("step %v out of range [%v, %v]", step, MinStep, MaxStep)
	}
	return nil
}

// usable reports whether v is a rate the estimators may consume.
func usable(v float64) bool { return v >= 0 && !math.IsInf(v, 1) && !math.IsNaN(v) }

// DefaultOutlierFactor: a value more than this many times both of its
// neighbours (and the series mean) is taken as a single-point outlier.
const DefaultOutlierFactor = 10

// clean returns a copy of v the estimators can consume: unusable values are
// filled by linear interpolation between the nearest usable neighbours
// (held flat at the ends), and isolated single-point outliers are replaced
// by the mean of their neighbours. A sustained jump (two high values in a
// row) is kept: that is a level shift, not an outlier. It returns the number
// of values filled and replaced. A series with no usable value is all zero.
func clean(v []float64, outlierFactor float64) (out []float64, filled, replaced int) {
	out = make([]float64, len(v))
	prev := -1
	for i, x := range v {
		if !usable(x) {
			filled++
			continue
		}
		out[i] = x
		if prev < 0 {
			for j := 0; j < i; j++ {
				out[j] = x
			}
		} else {
			for j := prev + 1; j < i; j++ {
				f := float64(j-prev) / float64(i-prev)
				out[j] = out[prev] + f*(x-out[prev])
			}
		}
		prev = i
	}
	if prev >= 0 {
		for j := prev + 1; j < len(v); j++ {
			out[j] = out[prev]
		}
	}
	if outlierFactor <= 1 || len(out) < 3 {
		return out, filled, 0
	}
	mean := 0.0
	for _, x := range out {
		mean += x
	}
	mean /= float64(len(out))
	for i := 1; i+1 < len(out); i++ {
		ref := math.Max(math.Max(out[i-1], out[i+1]), mean)
		if ref > 0 && out[i] > outlierFactor*ref {
			out[i] = (out[i-1] + out[i+1]) / 2
			replaced++
		}
	}
	return out, filled, replaced
}

// stepsFor converts a horizon to whole steps: the forecast for horizon h is
// the mean rate over the step that ends at or after now+h, so
// h = 15m at a 10m step is 2 steps, and h = 15m at a 1m step is 15 steps.
func stepsFor(h, step time.Duration) int {
	if h <= 0 {
		return 1
	}
	n := int((h + step - 1) / step)
	if n < 1 {
		n = 1
	}
	return n
}
