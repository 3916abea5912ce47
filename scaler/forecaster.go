package scaler

import (
	"time"

	"github.com/headroom-dev/headroom/forecast"
)

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
