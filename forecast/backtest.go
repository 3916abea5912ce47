package forecast

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// BacktestOptions configures Backtest.
type BacktestOptions struct {
	Horizon  time.Duration // required
	Quantile float64       // 0 means DefaultQuantile
	// Methods are the fixed methods to report beside the automatic choice;
	// nil means all. The automatic choice picks from Online.Methods (nil:
	// all), not from these.
	Methods []Method
	// Warmup is the history before the first scored origin; 0 means half
	// the series, at most 7 days.
	Warmup time.Duration
	// Online is the template for each forecaster (Step and Methods are
	// set by Backtest).
	Online Options
	// KeepPoints keeps the automatic choice's forecasts for plotting.
	KeepPoints bool
}

// Metrics are forecast-quality figures over the scored origins.
type Metrics struct {
	N int `json:"n"` // forecasts scored
	// WAPE = sum|y-f| / sum|y| (weighted absolute percentage error).
	WAPE float64 `json:"wape"`
	// SMAPE = mean 2|y-f|/(|y|+|f|), 0 where both are 0 (Makridakis 1993).
	SMAPE float64 `json:"smape"`
	// MASE = mean|y-f| / mean|y_t - y_t-1| over the whole series: the
	// error relative to a one-step naive forecast (Hyndman & Koehler 2006).
	MASE float64 `json:"mase"`
	// Pinball is the mean pinball loss of Upper at the quantile, rate units.
	Pinball float64 `json:"pinball"`
	// Coverage is the fraction of actuals at or below Upper.
	Coverage float64 `json:"coverage"`
}

// MethodResult is one forecaster's backtest.
type MethodResult struct {
	Method  string  `json:"method"` // a Method, or "auto"
	Metrics Metrics `json:"metrics"`
	// Chosen counts, for the automatic choice, how many forecasts each
	// method made.
	Chosen map[Method]int `json:"chosen,omitempty"`
	Note   string         `json:"note,omitempty"`
}

// BacktestPoint is one scored forecast.
type BacktestPoint struct {
	Time   time.Time `json:"time"`
	Actual float64   `json:"actual"`
	Point  float64   `json:"point"`
	Upper  float64   `json:"upper"`
}

// BacktestResult is the outcome of Backtest.
type BacktestResult struct {
	Step         time.Duration   `json:"step"`
	Horizon      time.Duration   `json:"horizon"`
	HorizonSteps int             `json:"horizonSteps"`
	Quantile     float64         `json:"quantile"`
	Origins      int             `json:"origins"`
	WarmupSteps  int             `json:"warmupSteps"`
	Results      []MethodResult  `json:"results"` // "auto" first, then Methods in AllMethods order
	Points       []BacktestPoint `json:"points,omitempty"`
}

// Auto is the name of the automatic choice in backtest results.
const Auto = "auto"

// Backtest replays a series through Online forecasters exactly as the
// controller would run them: each point is observed in turn, and from
// every origin after the warm-up each forecaster predicts Horizon ahead
// with only the past in hand (re-choosing its method every
// Online.ReselectEvery). It scores the automatic choice and each fixed
// method on the same origins.
func Backtest(s Series, o BacktestOptions) (BacktestResult, error) {
	if err := checkStep(s.Step); err != nil {
		return BacktestResult{}, err
	}
	if o.Horizon <= 0 {
		return BacktestResult{}, errors.New("backtest horizon must be positive")
	}
	if o.Quantile == 0 {
		o.Quantile = DefaultQuantile
	}
	if !(o.Quantile > 0 && o.Quantile < 1) {
		return BacktestResult{}, fmt.Errorf("quantile %g out of (0, 1)", o.Quantile)
	}
	methods := o.Methods
	if methods == nil {
		methods = AllMethods()
	}
	n := len(s.Values)
	h := stepsFor(o.Horizon, s.Step)
	warm := n / 2
	if o.Warmup > 0 {
		warm = int(o.Warmup / s.Step)
	} else {
		warm = min(warm, int(7*24*time.Hour/s.Step))
	}
	if warm+h >= n {
		return BacktestResult{}, fmt.Errorf("series of %d steps is too short for a %d-step warm-up and a %d-step horizon", n, warm, h)
	}
	res := BacktestResult{Step: s.Step, Horizon: o.Horizon, HorizonSteps: h, Quantile: o.Quantile, WarmupSteps: warm}
	scale := naiveMAE(s.Values)
	run := func(name string, ms []Method, keep bool) MethodResult {
		opts := o.Online
		opts.Step, opts.Methods = s.Step, ms
		if opts.Quantile == 0 {
			opts.Quantile = o.Quantile
		}
		on := NewOnline(opts)
		mr := MethodResult{Method: name, Chosen: map[Method]int{}}
		var acc metricsAcc
		for i, v := range s.Values {
			t := s.Start.Add(time.Duration(i) * s.Step)
			on.Observe(t, v)
			if i < warm || i+h >= n || !usable(s.Values[i+h]) {
				continue
			}
			p := on.Predict(t, o.Horizon, o.Quantile)
			y := s.Values[i+h]
			acc.add(o.Quantile, y, p.Point, p.Upper)
			mr.Chosen[p.Method]++
			if keep {
				res.Points = append(res.Points, BacktestPoint{Time: t.Add(time.Duration(h) * s.Step), Actual: y, Point: p.Point, Upper: p.Upper})
			}
		}
		mr.Metrics = acc.metrics(scale)
		if name != Auto {
			if k := mr.Chosen[ms[0]]; k < acc.n {
				mr.Note = fmt.Sprintf("used for %d of %d forecasts; the cold-start fallback (persistence + margin) otherwise: %s", k, acc.n, firstSkip(on, ms[0]))
			}
			mr.Chosen = nil
		}
		return mr
	}
	res.Results = append(res.Results, run(Auto, o.Online.Methods, o.KeepPoints))
	res.Origins = res.Results[0].Metrics.N
	for _, m := range allMethods {
		if contains(methods, m) {
			res.Results = append(res.Results, run(string(m), []Method{m}, false))
		}
	}
	return res, nil
}

// naiveMAE is the mean absolute one-step change of the usable values, the
// MASE scale.
func naiveMAE(v []float64) float64 {
	s, n := 0.0, 0
	for i := 1; i < len(v); i++ {
		if usable(v[i]) && usable(v[i-1]) {
			s += math.Abs(v[i] - v[i-1])
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return s / float64(n)
}

type metricsAcc struct {
	n                               int
	absErr, absY, smape, pin, cover float64
}

func (a *metricsAcc) add(q, y, f, upper float64) {
	a.n++
	e := math.Abs(y - f)
	a.absErr += e
	a.absY += math.Abs(y)
	if d := math.Abs(y) + math.Abs(f); d > 0 {
		a.smape += 2 * e / d
	}
	a.pin += Pinball(q, y, upper)
	if y <= upper {
		a.cover++
	}
}

func (a *metricsAcc) metrics(naive float64) Metrics {
	if a.n == 0 {
		return Metrics{}
	}
	n := float64(a.n)
	m := Metrics{N: a.n, SMAPE: a.smape / n, Pinball: a.pin / n, Coverage: a.cover / n}
	if a.absY > 0 {
		m.WAPE = a.absErr / a.absY
	}
	if naive > 0 {
		m.MASE = a.absErr / n / naive
	}
	return m
}

// firstSkip says why the online forecaster could not use m, from its
// latest choice.
func firstSkip(on *Online, m Method) string {
	for _, lm := range on.live {
		for _, c := range lm.sel.Candidates {
			if c.Method == m && c.Skipped != "" {
				return c.Skipped
			}
		}
		if lm.md == nil {
			return "too little history to backtest"
		}
	}
	return "too little history at first"
}
