package scaler

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Calibrated decorates a Forecaster so that its upper quantile covers what
// actually happened: it remembers each tick's upper forecast for the
// horizon, and once the horizon has passed, the residual
//
//	r = (rate observed at made+horizon) - upper
//
// weighted by that rate, is how far the load rose above the band by the
// time new capacity could have been ready. The request-weighted
// q-quantile of the residuals of the last Lookback (q is the quantile
// asked of the forecast) is added to the upper forecast when it is
// positive; a band already wide enough is left alone, never narrowed. This
// is conformalized quantile regression (Romano, Patterson and Candès,
// NeurIPS 2019) on a rolling window (Angelopoulos and Bates, A Gentle
// Introduction to Conformal Prediction, 2021, sec. 5.3), one-sided. The
// weights are the rates because the SLO counts requests: a burst carries
// more of them than its share of the time.
//
// Worked example: a class idles at 100 req/s and bursts to 2,000 req/s for
// a minute every 4 minutes; the horizon is 10 minutes and the inner band
// follows the last rate (x1.2). A quarter of the ticks land in a burst,
// but they carry 87% of the requests, so the request-weighted 0.95
// quantile of the residuals is a burst's: about 2,000-120 req/s at a quiet
// tick. The band becomes 2,000 req/s, and the replicas for the next burst
// are already running when it comes (a node takes minutes to boot, a
// replica 1.5 minutes to load). A steady class whose band covers the rate
// gets nothing added (calibrate_test.go has both).
type Calibrated struct {
	Inner Forecaster
	// Lookback is how long residuals are remembered (default 1h).
	Lookback time.Duration
	// MinResiduals is how many resolved residuals are needed before any
	// reserve is added (default 20: 5 minutes at 15 s ticks).
	MinResiduals int
	perClass     map[string]*calState
}

type calPending struct {
	made, due time.Time
	upper     float64
}

type calResidual struct {
	at   time.Time
	r, w float64 // residual and weight (the rate it was observed at)
}

type calState struct {
	pending   []calPending
	residuals []calResidual
	scratch   []calResidual
}

// NewCalibrated wraps inner with the defaults filled in.
func NewCalibrated(inner Forecaster) *Calibrated {
	return &Calibrated{Inner: inner, Lookback: time.Hour, MinResiduals: 20, perClass: map[string]*calState{}}
}

func (c *Calibrated) state(class string) *calState {
	if c.perClass == nil {
		c.perClass = map[string]*calState{}
	}
	s := c.perClass[class]
	if s == nil {
		s = &calState{}
		c.perClass[class] = s
	}
	return s
}

// Observe implements Forecaster: it passes the rate on, raises the peak of
// every pending forecast and resolves those whose horizon has passed.
func (c *Calibrated) Observe(class string, t time.Time, rate float64) {
	c.Inner.Observe(class, t, rate)
	if !validRate(rate) {
		return
	}
	s := c.state(class)
	keep := s.pending[:0]
	for _, p := range s.pending {
		if !t.Before(p.due) {
			s.residuals = append(s.residuals, calResidual{at: t, r: rate - p.upper, w: rate})
			continue
		}
		keep = append(keep, p)
	}
	s.pending = keep
	lb := c.Lookback
	if lb <= 0 {
		lb = time.Hour
	}
	i := 0
	for i < len(s.residuals) && s.residuals[i].at.Before(t.Add(-lb)) {
		i++
	}
	s.residuals = s.residuals[i:]
}

// Predict implements Forecaster. It records the upper forecast made at now
// (once per now: a second call at the same time replaces it) and adds the
// reserve the residuals call for.
func (c *Calibrated) Predict(class string, now time.Time, horizon time.Duration, q float64) Forecast {
	f := c.Inner.Predict(class, now, horizon, q)
	if !validRate(f.Upper) || horizon <= 0 {
		return f
	}
	s := c.state(class)
	p := calPending{made: now, due: now.Add(horizon), upper: f.Upper}
	if n := len(s.pending); n > 0 && s.pending[n-1].made.Equal(now) {
		s.pending[n-1] = p
	} else {
		s.pending = append(s.pending, p)
	}
	minN := c.MinResiduals
	if minN <= 0 {
		minN = 20
	}
	if len(s.residuals) < minN || !(q > 0 && q < 1) {
		return f
	}
	if !anyWeight(s.residuals) { // an idle class: no request to calibrate for
		return f
	}
	s.scratch = append(s.scratch[:0], s.residuals...)
	slices.SortFunc(s.scratch, func(a, b calResidual) int { return cmp.Compare(a.r, b.r) })
	total := 0.0
	for _, r := range s.scratch {
		total += r.w
	}
	if !(total > 0) {
		return f
	}
	// The request-weighted q-quantile: the smallest residual below which
	// a share q of the requests arrived. The SLO counts requests, and a
	// burst carries more of them than its share of the time.
	k, cum := len(s.scratch)-1, 0.0
	for i, r := range s.scratch {
		if cum += r.w; cum >= q*total {
			k = i
			break
		}
	}
	if reserve := s.scratch[k].r; reserve > 0 {
		f.Upper += reserve
		f.Reason += fmt.Sprintf("; calibrated: +%.2f req/s, the request-weighted q%.2f of %d residuals (rate at the horizon minus the band) of the last %v",
			reserve, q, len(s.scratch), c.Lookback)
	}
	return f
}

// anyWeight reports whether a residual carries requests; without one the
// weighted quantile is undefined and Predict need not sort.
func anyWeight(rs []calResidual) bool {
	for _, r := range rs {
		if r.w > 0 {
			return true
		}
	}
	return false
}

// Forget drops a class's residuals and the inner forecaster's state when it
// can forget (a class removed from the policy).
func (c *Calibrated) Forget(class string) {
	delete(c.perClass, class)
	if f, ok := c.Inner.(interface{ Forget(string) }); ok {
		f.Forget(class)
	}
}
