package forecast

import (
	"fmt"
	"math"
	"time"
)

// Options configures an Online forecaster. Only Step is required.
type Options struct {
	// Step is the sampling interval: the controller observes once per Step.
	Step time.Duration
	// Quantile is the quantile methods are chosen by; 0 means 0.95.
	// Predict answers any quantile from the chosen method's errors.
	Quantile float64
	// Methods are the candidates; nil means all.
	Methods []Method
	// History is how much history is kept (memory is about 8 bytes per
	// step of it, plus the live models); 0 means DefaultHistory.
	History time.Duration
	// ReselectEvery is how often the method is re-chosen by backtest;
	// 0 means DefaultReselectEvery.
	ReselectEvery time.Duration
	// ReselectOffset staggers the re-choices of forecasters created
	// together (every class of a controller): the first re-choice after a
	// backtested choice comes ReselectEvery-ReselectOffset later, then every
	// ReselectEvery. 0 (the default) derives the offset from a hash of the
	// series' history at its first backtested choice and of the horizon,
	// a whole number of steps in [0, ReselectEvery): classes with
	// different traffic, and the horizons of one class, re-choose on
	// different ticks, and the same data always gives the same schedule.
	// A positive value is used as given (modulo ReselectEvery); a negative
	// one turns the stagger off.
	ReselectOffset time.Duration
	// EvalWindow is the backtest window (see SelectOptions).
	EvalWindow time.Duration
	// ColdMargin is the margin over the recent peak used while there is
	// too little history to backtest; 0 means DefaultColdMargin.
	ColdMargin float64
	// Margin, Floor and PeakWindow turn on the decorators WithMargin,
	// WithFloor and WithRecentPeak (zero: off).
	Margin     float64
	Floor      float64
	PeakWindow time.Duration
	// OutlierFactor: see SelectOptions; 0 means DefaultOutlierFactor.
	OutlierFactor float64
	// PeakCap: no prediction exceeds PeakCap times the highest rate in
	// the kept history, and methods that diverge in backtest are dropped
	// (see SelectOptions); 0 means DefaultPeakCap.
	PeakCap float64
	// MaxHorizons bounds how many distinct horizons keep a live model;
	// 0 means 4. The least recently used is dropped.
	MaxHorizons int
}

// Defaults for Options.
const (
	DefaultHistory       = 15 * 24 * time.Hour
	DefaultReselectEvery = time.Hour
	DefaultColdMargin    = 0.5
	// MaxHistoryPoints caps the kept history whatever History and Step say.
	MaxHistoryPoints = 1 << 17
	coldPeakPoints   = 10
)

func (o Options) withDefaults() Options {
	if o.Quantile == 0 {
		o.Quantile = DefaultQuantile
	}
	o.Quantile = math.Min(math.Max(o.Quantile, 0.01), 0.99)
	if o.History <= 0 {
		o.History = DefaultHistory
	}
	if o.ReselectEvery <= 0 {
		o.ReselectEvery = DefaultReselectEvery
	}
	if o.ColdMargin == 0 {
		o.ColdMargin = DefaultColdMargin
	}
	if !(o.PeakCap > 0) {
		o.PeakCap = DefaultPeakCap
	}
	if o.OutlierFactor == 0 {
		o.OutlierFactor = DefaultOutlierFactor
	}
	if o.MaxHorizons <= 0 {
		o.MaxHorizons = 4
	}
	return o
}

// Online forecasts one series that is fed once per control tick. It keeps
// a bounded history, re-chooses its method by backtest every ReselectEvery
// (lazily, in Predict), and updates the chosen method's state in O(1) per
// observation. It is not safe for concurrent use.
type Online struct {
	opts     Options
	capacity int       // most points kept
	hist     []float64 // cleaned points, oldest first; the last is index last
	last     int64     // step index of the last point, -1 before the first
	t0       time.Time // time of step index 0 (the first observation)
	held     *heldPoint
	sum      float64 // sum of hist, for the outlier baseline
	peak     float64 // max of hist, for the PeakCap bound
	live     map[int]*liveModel
	chain    Estimator
	// Dropped counts observations the model did not use: unusable rates,
	// second observations in a step, and observations out of time order.
	Dropped int
}

// heldPoint is a suspected outlier waiting for the next value to tell a
// single spike (replaced) from a level shift (kept).
type heldPoint struct {
	k int64
	v float64
}

// liveModel is the chosen method for one horizon, kept current.
type liveModel struct {
	sel     Selection
	md      model // behind the upper quantile; nil for a cold start
	pmd     model // behind the point forecast; nil when it is md
	chosen  time.Time
	used    time.Time
	histLen int // len(hist) when chosen, to retry cold starts as data comes
}

// NewOnline returns an Online forecaster. It panics if opts.Step is out of
// [MinStep, MaxStep], a programming error.
func NewOnline(opts Options) *Online {
	if err := checkStep(opts.Step); err != nil {
		panic("forecast.NewOnline: " + err.Error())
	}
	o := &Online{opts: opts.withDefaults(), last: -1, live: map[int]*liveModel{}}
	o.capacity = min(MaxHistoryPoints, max(16, int(o.opts.History/o.opts.Step)))
	var e Estimator = EstimatorFunc(o.base)
	if o.opts.PeakWindow > 0 {
		e = WithRecentPeak(e, o.opts.PeakWindow)
	}
	if o.opts.Margin > 0 {
		e = WithMargin(e, o.opts.Margin)
	}
	if o.opts.Floor > 0 {
		e = WithFloor(e, o.opts.Floor)
	}
	o.chain = e
	return o
}

// Observe records the rate measured over the step ending at t. The first
// observation in a step is used; later ones in the same step, rates that
// are NaN, infinite or negative (a counter reset), and observations older
// than the last are dropped. Missing steps are filled by linear
// interpolation once the next value arrives; a value more than
// OutlierFactor times the recent level is held until the next value shows
// whether it was a single outlier (then replaced by interpolation) or the
// start of a new level (then kept).
func (o *Online) Observe(t time.Time, rate float64) {
	if !usable(rate) {
		o.Dropped++
		return
	}
	if o.last < 0 {
		o.t0 = t
		o.push(0, rate)
		return
	}
	k := int64(math.Round(float64(t.Sub(o.t0)) / float64(o.opts.Step)))
	top := o.last
	if o.held != nil {
		top = o.held.k
	}
	if k <= top {
		o.Dropped++
		return
	}
	if k-o.last > int64(o.capacity) { // a gap longer than the history: start over
		*o = *NewOnline(o.opts)
		o.t0 = t
		o.push(0, rate)
		return
	}
	base := math.Max(o.hist[len(o.hist)-1], o.sum/float64(len(o.hist)))
	high := o.opts.OutlierFactor > 1 && base > 0 && rate > o.opts.OutlierFactor*base
	if o.held != nil {
		h := o.held
		o.held = nil
		if high { // two high values in a row: a level shift, keep both
			o.push(h.k, h.v)
			o.push(k, rate)
			return
		}
		o.push(k, rate) // the held value becomes part of the filled gap
		return
	}
	if high {
		o.held = &heldPoint{k, rate}
		return
	}
	o.push(k, rate)
}

// push appends the point at step k, filling steps since the last point by
// linear interpolation, and feeds every live model.
func (o *Online) push(k int64, v float64) {
	if o.last >= 0 {
		prev := o.hist[len(o.hist)-1]
		gap := k - o.last
		for j := int64(1); j < gap; j++ {
			o.append(prev + float64(j)/float64(gap)*(v-prev))
		}
	}
	o.append(v)
	o.last = k
}

func (o *Online) append(v float64) {
	o.hist = append(o.hist, v)
	o.sum += v
	o.peak = max(o.peak, v)
	for _, lm := range o.live {
		if lm.md != nil {
			lm.md.update(v)
		}
		if lm.pmd != nil {
			lm.pmd.update(v)
		}
	}
	if len(o.hist) >= o.capacity+o.capacity/4 { // compact: keep the newest capacity points
		drop := len(o.hist) - o.capacity
		for _, x := range o.hist[:drop] {
			o.sum -= x
		}
		o.hist = append(o.hist[:0], o.hist[drop:]...)
		o.sum = math.Max(o.sum, 0)
		o.peak = 0
		for _, x := range o.hist {
			o.peak = max(o.peak, x)
		}
	}
}

// Predict forecasts the rate at now+horizon with its q-quantile. The
// method for a horizon is chosen on first use and re-chosen every
// ReselectEvery; between choices a prediction costs O(1). A horizon is
// counted from the last observation, so a caller whose data stopped gets a
// forecast further ahead, not a stale one.
func (o *Online) Predict(now time.Time, horizon time.Duration, q float64) Prediction {
	in := Input{Now: now, Horizon: horizon, Q: q, Step: o.opts.Step, Recent: o.hist}
	return sanitize(o.chain.Estimate(in))
}

// base is the undecorated estimator: the live model's point forecast and
// its backtested error quantile.
func (o *Online) base(in Input) Prediction {
	p := Prediction{Time: in.Now.Add(in.Horizon), Quantile: in.Q, Method: Persistence}
	if o.last < 0 {
		p.Reason = "no observations yet"
		return p
	}
	key := stepsFor(in.Horizon, o.opts.Step)
	lastT := o.t0.Add(time.Duration(o.last) * o.opts.Step)
	ahead := stepsFor(in.Now.Add(in.Horizon).Sub(lastT), o.opts.Step)
	lm := o.model(in.Now, key)
	if lm.md == nil {
		peak := 0.0
		for _, v := range o.hist[max(0, len(o.hist)-coldPeakPoints):] {
			peak = math.Max(peak, v)
		}
		p.Point = o.hist[len(o.hist)-1]
		p.Upper = peak * (1 + o.opts.ColdMargin)
		p.Reason = fmt.Sprintf("%s; upper = peak of the last %d points %.4g + %.0f%% cold-start margin", lm.sel.Reason, min(len(o.hist), coldPeakPoints), peak, 100*o.opts.ColdMargin)
		return p
	}
	f := clampRate(lm.md.forecast(int(ahead)))
	c := lm.sel.resid.quantile(in.Q)
	p.Point = f
	p.PointMethod = lm.sel.Method
	if lm.pmd != nil {
		p.Point = clampRate(lm.pmd.forecast(int(ahead)))
		p.PointMethod = lm.sel.PointMethod
	}
	p.Upper = f + c*math.Max(f, lm.sel.scale)
	p.Method = lm.sel.Method
	p.Reason = fmt.Sprintf("upper: %s %d steps ahead = %.4g, plus q%g of its backtest errors %+.3g x max(forecast, %.3g); point: %s = %.4g", lm.sel.Method, ahead, f, in.Q, c, lm.sel.scale, p.PointMethod, p.Point)
	if limit := o.opts.PeakCap * o.peak; o.peak > 0 && (p.Upper > limit || p.Point > limit) {
		p.Reason += fmt.Sprintf("; capped at %.0fx the highest rate seen (%.4g)", o.opts.PeakCap, o.peak)
		p.Upper, p.Point = min(p.Upper, limit), min(p.Point, limit)
	}
	if in.Q >= 0.5 && p.Upper < p.Point {
		p.Reason += "; upper raised to the point forecast (a quantile >= 0.5 is not below the median)"
		p.Upper = p.Point
	}
	return p
}

// model returns the live model for a horizon of key steps, choosing it by
// backtest when it is missing or due.
func (o *Online) model(now time.Time, key int) *liveModel {
	lm := o.live[key]
	due := lm == nil || now.Sub(lm.chosen) >= o.opts.ReselectEvery || (lm.md == nil && len(o.hist) != lm.histLen)
	if due {
		lm = o.choose(now, key)
	}
	lm.used = now
	return lm
}

func (o *Online) choose(now time.Time, key int) *liveModel {
	s := Series{Step: o.opts.Step, Values: o.hist}
	sel := selectClean(o.hist, s.Step, SelectOptions{
		Horizon: time.Duration(key) * o.opts.Step, Quantile: o.opts.Quantile,
		Methods: o.opts.Methods, EvalWindow: o.opts.EvalWindow, OutlierFactor: o.opts.OutlierFactor, PeakCap: o.opts.PeakCap,
	}.mustDefaults(), newScratch())
	lm := &liveModel{sel: sel, chosen: now, histLen: len(o.hist)}
	if prev := o.live[key]; prev == nil || prev.md == nil {
		// First backtested choice: shift the schedule by the offset.
		lm.chosen = now.Add(-o.reselectOffset(key))
	}
	if sel.Reason != "" && sel.Scored > 0 && sel.Loss < math.Inf(1) && sel.resid != nil {
		if sel.Method == Spectral {
			// Scored with the periods of the history before the backtest
			// window; run live with those of the whole history.
			if sp := fitSpectrum(o.hist, periodOf(24*time.Hour, o.opts.Step)); len(sp.comp) > 0 {
				lm.sel.spec = sp
				lm.sel.Params.Periods = sp.periods
			}
		}
		lm.md = newModel(sel.Method, lm.sel.Params, lm.sel.spec, 0)
		for _, v := range o.hist {
			lm.md.update(v)
		}
		if sel.PointMethod != sel.Method || !sameParams(sel.PointParams, sel.Params) {
			pp := sel.PointParams
			if sel.PointMethod == Spectral {
				pp.Periods = lm.sel.spec.periods
			}
			lm.pmd = newModel(sel.PointMethod, pp, lm.sel.spec, 0)
			for _, v := range o.hist {
				lm.pmd.update(v)
			}
		}
	}
	if _, ok := o.live[key]; !ok && len(o.live) >= o.opts.MaxHorizons {
		var oldest int
		var t time.Time
		first := true
		for k, m := range o.live {
			if first || m.used.Before(t) || (m.used.Equal(t) && k < oldest) {
				oldest, t, first = k, m.used, false
			}
		}
		delete(o.live, oldest)
	}
	o.live[key] = lm
	return lm
}

// reselectOffset is the stagger of the re-choices for a horizon of key
// steps (see Options.ReselectOffset).
func (o *Online) reselectOffset(key int) time.Duration {
	every := o.opts.ReselectEvery
	switch off := o.opts.ReselectOffset; {
	case off < 0:
		return 0
	case off > 0:
		return off % every
	}
	steps := uint64(every / o.opts.Step)
	if steps <= 1 {
		return 0
	}
	// FNV-1a over 64-bit words, then the splitmix64 finalizer to spread
	// the bits (Steele et al. 2014).
	x := uint64(14695981039346656037)
	mix := func(v uint64) { x = (x ^ v) * 1099511628211 }
	mix(uint64(key))
	for _, v := range o.hist {
		mix(math.Float64bits(v))
	}
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return time.Duration(x%steps) * o.opts.Step
}

// mustDefaults fills defaults for options built inside the package, which
// are valid by construction.
func (o SelectOptions) mustDefaults() SelectOptions {
	d, err := o.withDefaults()
	if err != nil {
		panic("forecast: " + err.Error())
	}
	return d
}

// Len returns how many points of history are kept.
func (o *Online) Len() int { return len(o.hist) }

func sameParams(a, b Params) bool {
	return a.Alpha == b.Alpha && a.Beta == b.Beta && a.Gamma == b.Gamma && a.Phi == b.Phi && a.Period == b.Period &&
		a.Days == b.Days && a.Width == b.Width && a.Mul == b.Mul
}
