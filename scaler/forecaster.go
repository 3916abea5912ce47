package scaler

import (
	"fmt"
	"math"
	"time"

	"github.com/headroom-dev/headroom/forecast"
)

// The forecast seam keeps the core independent of the forecast package's
// internals: a Forecaster per class. Online (below) adapts the forecast
// package and is the default, decorated by Calibrated (calibrate.go);
// Persistence is the simple fallback.

// Forecast is a class's predicted rate at a horizon.
type Forecast struct {
	// Point is the expected rate and Upper the requested upper quantile,
	// in requests/s.
	Point, Upper float64
	Method       string
	Reason       string
}

// Forecaster predicts each class's request rate. Observe is called once per
// tick per class with a valid rate; Predict must be cheap and pure given the
// observations so far.
type Forecaster interface {
	Observe(class string, t time.Time, rate float64)
	Predict(class string, now time.Time, horizon time.Duration, quantile float64) Forecast
}

// Persistence is the built-in forecaster: the last rate as the point
// forecast, and the largest rate seen over the lookback (at least the
// horizon) times (1+Margin) as the upper quantile. It ignores the quantile
// beyond that: it is the fallback, not the forecast package.
type Persistence struct {
	Margin   float64
	Lookback time.Duration
	series   map[string][]ratePoint
}

type ratePoint struct {
	t    time.Time
	rate float64
}

// NewPersistence returns a persistence forecaster.
func NewPersistence(margin float64, lookback time.Duration) *Persistence {
	return &Persistence{Margin: margin, Lookback: lookback, series: map[string][]ratePoint{}}
}

// Observe records a rate; invalid rates are ignored.
func (p *Persistence) Observe(class string, t time.Time, rate float64) {
	if !validRate(rate) {
		return
	}
	s := append(p.series[class], ratePoint{t, rate})
	keep := max(p.Lookback, 30*time.Minute)
	i := 0
	for i < len(s) && t.Sub(s[i].t) > keep {
		i++
	}
	p.series[class] = s[i:]
}

// Predict returns the persistence forecast.
func (p *Persistence) Predict(class string, now time.Time, horizon time.Duration, q float64) Forecast {
	s := p.series[class]
	if len(s) == 0 {
		return Forecast{Method: "persistence", Reason: "no observations"}
	}
	look := max(p.Lookback, horizon)
	peak := 0.0
	for _, r := range s {
		if now.Sub(r.t) <= look {
			peak = math.Max(peak, r.rate)
		}
	}
	last := s[len(s)-1].rate
	up := math.Max(peak, last) * (1 + p.Margin)
	return Forecast{Point: last, Upper: up, Method: "persistence+margin",
		Reason: fmt.Sprintf("last %.2f req/s, peak %.2f over %v, +%.0f%% margin", last, peak, look, p.Margin*100)}
}

// Online adapts the forecast package's online forecaster to the
// Forecaster seam: one forecast.Online per class, created on first use with
// the same options (Step is the control interval). It is the controller's
// default forecaster.
type Online struct {
	opts     forecast.Options
	perClass map[string]*forecast.Online
}

// NewOnline returns the adapter. opts.Step is clamped into the forecast
// package's accepted range.
func NewOnline(opts forecast.Options) *Online {
	opts.Step = min(max(opts.Step, forecast.MinStep), forecast.MaxStep)
	return &Online{opts: opts, perClass: map[string]*forecast.Online{}}
}

func (o *Online) class(name string) *forecast.Online {
	f := o.perClass[name]
	if f == nil {
		f = forecast.NewOnline(o.opts)
		o.perClass[name] = f
	}
	return f
}

// Observe implements Forecaster.
func (o *Online) Observe(class string, t time.Time, rate float64) {
	o.class(class).Observe(t, rate)
}

// Predict implements Forecaster.
func (o *Online) Predict(class string, now time.Time, horizon time.Duration, q float64) Forecast {
	f, ok := o.perClass[class]
	if !ok || f.Len() == 0 {
		return Forecast{Method: "none", Reason: "no observations yet"}
	}
	p := f.Predict(now, horizon, q)
	return Forecast{Point: p.Point, Upper: p.Upper, Method: string(p.Method), Reason: p.Reason}
}

// Forget drops a class's forecaster (a class removed from the policy).
func (o *Online) Forget(class string) { delete(o.perClass, class) }
