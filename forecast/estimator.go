package forecast

import (
	"fmt"
	"math"
	"time"
)

// Prediction is a forecast of the mean rate over the step that ends at or
// after Time, with its q-quantile.
type Prediction struct {
	Time     time.Time `json:"time"`     // now + horizon
	Point    float64   `json:"point"`    // central estimate, requests per second, >= 0
	Upper    float64   `json:"upper"`    // the Quantile-quantile, >= 0
	Quantile float64   `json:"quantile"` // q
	Method   Method    `json:"method"`   // the estimator behind Upper
	// PointMethod is the estimator behind Point; it can differ from Method
	// because each is chosen by its own backtest loss.
	PointMethod Method `json:"pointMethod"`
	Reason      string `json:"reason"` // how Point and Upper were reached
}

// Band is what the spike detector compares load with.
func (p Prediction) Band() Band { return Band{Point: p.Point, Upper: p.Upper} }

// Input is what an Estimator sees for one forecast.
type Input struct {
	Now     time.Time
	Horizon time.Duration
	Q       float64
	Step    time.Duration
	// Recent holds the latest values of the series, oldest first; the
	// slice is shared and must not be changed.
	Recent []float64
}

// Estimator turns the state of a series into a Prediction. Decorators wrap
// one Estimator in another, like VPA's recommender chain (percentile ->
// margin -> confidence -> floor): the base gives the backtested quantile,
// then WithRecentPeak, WithMargin and WithFloor raise it.
type Estimator interface {
	Estimate(in Input) Prediction
}

// EstimatorFunc adapts a function to Estimator.
type EstimatorFunc func(in Input) Prediction

// Estimate calls f.
func (f EstimatorFunc) Estimate(in Input) Prediction { return f(in) }

// WithMargin raises the upper quantile by a fraction: Upper*(1+frac).
func WithMargin(e Estimator, frac float64) Estimator {
	return EstimatorFunc(func(in Input) Prediction {
		p := e.Estimate(in)
		if frac > 0 {
			u := p.Upper * (1 + frac)
			p.Reason += fmt.Sprintf("; margin %+.0f%%: upper %.4g -> %.4g", 100*frac, p.Upper, u)
			p.Upper = u
		}
		return p
	})
}

// WithFloor keeps the upper quantile at or above min.
func WithFloor(e Estimator, min float64) Estimator {
	return EstimatorFunc(func(in Input) Prediction {
		p := e.Estimate(in)
		if p.Upper < min {
			p.Reason += fmt.Sprintf("; floor: upper %.4g -> %.4g", p.Upper, min)
			p.Upper = min
		}
		return p
	})
}

// WithRecentPeak keeps the upper quantile at or above the highest value of
// the last window: capacity is not released while load that high is fresh.
func WithRecentPeak(e Estimator, window time.Duration) Estimator {
	return EstimatorFunc(func(in Input) Prediction {
		p := e.Estimate(in)
		if window <= 0 || in.Step <= 0 {
			return p
		}
		k := min(len(in.Recent), max(1, int(window/in.Step)))
		peak := 0.0
		for _, v := range in.Recent[len(in.Recent)-k:] {
			peak = math.Max(peak, v)
		}
		if p.Upper < peak {
			p.Reason += fmt.Sprintf("; recent peak over %v: upper %.4g -> %.4g", window, p.Upper, peak)
			p.Upper = peak
		}
		return p
	})
}

// sanitize is the last guard of every prediction: no NaN, no negative, no
// infinity ever leaves the package.
func sanitize(p Prediction) Prediction {
	p.Point = finiteRate(p.Point)
	p.Upper = finiteRate(p.Upper)
	return p
}

func finiteRate(v float64) float64 {
	switch {
	case math.IsNaN(v) || v < 0:
		return 0
	case v > math.MaxFloat64/4:
		return math.MaxFloat64 / 4
	}
	return v
}
