package forecast

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// SelectOptions configures model choice by backtest. The zero value, with
// Horizon set, is usable.
type SelectOptions struct {
	// Horizon is how far ahead the forecast is for (required, > 0).
	Horizon time.Duration
	// Quantile is the quantile the backtest scores with the pinball loss;
	// 0 means DefaultQuantile.
	Quantile float64
	// Methods are the candidates; nil means all.
	Methods []Method
	// EvalWindow is the recent history the candidates are scored on; 0
	// means DefaultEvalWindow. It is cut to half the history when longer.
	EvalWindow time.Duration
	// MinEval is the fewest scored forecasts for a choice by backtest; with
	// fewer, Select falls back to persistence. 0 means DefaultMinEval.
	MinEval int
	// OutlierFactor is the single-point outlier threshold (see clean); 0
	// means DefaultOutlierFactor, a value <= 1 turns outlier removal off.
	OutlierFactor float64
	// PeakCap bounds every forecast at PeakCap times the highest rate in
	// the history before the evaluation window; a method whose backtest
	// forecasts hit that bound more than DivergedShare of the time is
	// dropped as diverging (alone and from combinations). 0 means
	// DefaultPeakCap.
	PeakCap float64

	// fullBacktest turns off the shortcut for constant histories, so a
	// test can check it against the backtest it replaces.
	fullBacktest bool
}

// DefaultPeakCap is the stated multiple of the highest rate seen that no
// forecast may exceed: a multiplicative season over near-zero troughs can
// amplify a spike a thousandfold, and no capacity plan should follow it.
// DivergedShare is the share of capped backtest forecasts past which a
// method counts as diverging.
const (
	DefaultPeakCap = 4.0
	DivergedShare  = 0.01
)

// Defaults for SelectOptions.
const (
	DefaultQuantile   = 0.95
	DefaultEvalWindow = 3 * 24 * time.Hour
	DefaultMinEval    = 20
)

func (o SelectOptions) withDefaults() (SelectOptions, error) {
	if o.Horizon <= 0 {
		return o, errors.New("forecast horizon must be positive")
	}
	if o.Quantile == 0 {
		o.Quantile = DefaultQuantile
	}
	if !(o.Quantile > 0 && o.Quantile < 1) {
		return o, fmt.Errorf("quantile %g out of (0, 1)", o.Quantile)
	}
	if o.Methods == nil {
		o.Methods = AllMethods()
	}
	for _, m := range o.Methods {
		if _, err := ParseMethod(string(m)); err != nil {
			return o, err
		}
	}
	if o.EvalWindow <= 0 {
		o.EvalWindow = DefaultEvalWindow
	}
	if o.MinEval <= 0 {
		o.MinEval = DefaultMinEval
	}
	if o.OutlierFactor == 0 {
		o.OutlierFactor = DefaultOutlierFactor
	}
	if !(o.PeakCap > 0) {
		o.PeakCap = DefaultPeakCap
	}
	return o, nil
}

// Candidate is one method's result in a backtest: its fitted parameters and
// losses, or why it was not considered. Parameters are fitted twice: for
// the upper quantile (Params, Loss) and for the point forecast
// (PointParams, PointLoss).
type Candidate struct {
	Method Method  `json:"method"`
	Params Params  `json:"params"`
	Loss   float64 `json:"loss"` // mean pinball loss of the upper quantile, rate units
	// PointLoss is the mean pinball loss at 0.5 (half the mean absolute
	// error) of the point forecast with PointParams.
	PointParams Params  `json:"pointParams"`
	PointLoss   float64 `json:"pointLoss"`
	Skipped     string  `json:"skipped,omitempty"` // why it was not scored
}

// Selection is the outcome of choosing a model for one series. The upper
// quantile and the point forecast are chosen separately, each by its own
// loss: a smoother's band can be the tightest while persistence tracks the
// level best.
type Selection struct {
	Method Method `json:"method"` // behind the upper quantile
	Params Params `json:"params"`
	// PointMethod is behind the point forecast, chosen by mean absolute
	// error (pinball at 0.5).
	PointMethod Method  `json:"pointMethod"`
	PointParams Params  `json:"pointParams"`
	PointLoss   float64 `json:"pointLoss"`
	Horizon     int     `json:"horizonSteps"`
	Quantile    float64 `json:"quantile"`
	Loss        float64 `json:"loss"`
	// Scored is how many forecasts the backtest scored per candidate.
	Scored int `json:"scored"`
	// Candidates holds every method considered, in AllMethods order.
	Candidates []Candidate `json:"candidates"`
	Reason     string      `json:"reason"`
	// Filled and Replaced count the gaps filled and outliers replaced
	// before fitting.
	Filled, Replaced int `json:"-"`

	resid residualSketch // scaled residuals of the chosen model, sorted
	scale float64        // scale floor of the residuals (see residualScale)
	spec  spectrum       // for Spectral
}

// scaleFloorFraction: residuals are scaled by max(forecast, this fraction
// of the series mean), so the band is proportional to the forecast where
// load is high and does not collapse to zero where it is nearly idle.
const scaleFloorFraction = 0.05

func residualScale(y []float64) float64 {
	s := 0.0
	for _, v := range y {
		s += v
	}
	if len(y) > 0 {
		s /= float64(len(y))
	}
	return scaleFloorFraction*s + 1e-9
}

// Select chooses the estimator for a series by rolling-origin backtest over
// its recent history: every candidate (with its parameters fitted on the
// same history) forecasts Horizon ahead from every origin whose target lies
// in the evaluation window; the forecasts become a q-quantile band with the
// empirical q-quantile of the scaled errors, and the candidate with the
// lowest mean pinball loss at q wins (ties: the earlier method in
// AllMethods). With too little history it chooses persistence.
func Select(s Series, opts SelectOptions) (Selection, error) {
	if err := checkStep(s.Step); err != nil {
		return Selection{}, err
	}
	o, err := opts.withDefaults()
	if err != nil {
		return Selection{}, err
	}
	y, filled, replaced := clean(s.Values, o.OutlierFactor)
	sel := selectClean(y, s.Step, o, newScratch())
	sel.Filled, sel.Replaced = filled, replaced
	return sel, nil
}

// SelectMany runs Select over many series with up to workers goroutines
// (0 means GOMAXPROCS). Results are in input order; errs[i] is Select's
// error for series i.
func SelectMany(series []Series, opts SelectOptions, workers int) ([]Selection, []error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	out := make([]Selection, len(series))
	errs := make([]error, len(series))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := newScratch()
			for i := range next {
				s := series[i]
				if err := checkStep(s.Step); err != nil {
					errs[i] = err
					continue
				}
				o, err := opts.withDefaults()
				if err != nil {
					errs[i] = err
					continue
				}
				y, f, r := clean(s.Values, o.OutlierFactor)
				out[i] = selectClean(y, s.Step, o, sc)
				out[i].Filled, out[i].Replaced = f, r
			}
		}()
	}
	for i := range series {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, errs
}

// scratch holds per-goroutine buffers reused across passes.
type scratch struct {
	resid, scale, tmp []float64
	best, winner      []float64
	persist           []float64
	// fc holds the forecasts of the latest pass, bestF those of fit's
	// point winner, and partF every scored candidate's, so a combination
	// is scored without running its parts again.
	fc, bestF []float64
	partF     map[Method][]float64
}

// persistenceEdge is how much lower (relative) another method's backtest
// loss must be than persistence's for it to be chosen.
const persistenceEdge = 0.03

func newScratch() *scratch { return &scratch{partF: map[Method][]float64{}} }

// evalPlan says which forecasts a backtest scores.
type evalPlan struct {
	h        int     // horizon in steps
	from     int     // first target index scored
	q        float64 // quantile
	scaleMin float64 // residual scale floor
	limit    float64 // the most any forecast may say (PeakCap x the peak); 0: none
}

// bound makes a model output a usable rate, at most limit.
func (p evalPlan) bound(v float64) float64 {
	v = clampRate(v)
	if p.limit > 0 {
		v = min(v, p.limit)
	}
	return v
}

// peakLimit is capFactor times the highest value of y; 0 (no limit)
// without a positive one.
func peakLimit(y []float64, capFactor float64) float64 {
	peak := 0.0
	for _, v := range y {
		peak = max(peak, v)
	}
	return capFactor * peak
}

// selectClean is Select on a cleaned series.
func selectClean(y []float64, step time.Duration, o SelectOptions, sc *scratch) Selection {
	h := stepsFor(o.Horizon, step)
	n := len(y)
	evalLen := int(o.EvalWindow / step)
	evalLen = min(evalLen, n/2)
	sel := Selection{Horizon: h, Quantile: o.Quantile}
	if evalLen-h < o.MinEval {
		sel.Method, sel.PointMethod = Persistence, Persistence
		sel.Reason = fmt.Sprintf("cold start: %d points of history is too little to backtest a %d-step horizon (need %d scored forecasts)", n, h, o.MinEval)
		sel.Candidates = []Candidate{{Method: Persistence, Skipped: "cold start"}}
		return sel
	}
	plan := evalPlan{h: h, from: n - evalLen, q: o.Quantile, scaleMin: residualScale(y)}
	plan.limit = peakLimit(y[:plan.from], o.PeakCap)
	sel.Scored = evalLen
	if !o.fullBacktest && constant(y) && contains(o.Methods, Persistence) {
		// Persistence forecasts a constant history exactly (loss 0) and
		// comes first in the tie-break order, so the backtest below
		// would choose it for both the band and the point: skip it. A
		// class without traffic is such a series, and the controller
		// re-chooses every hour for every class.
		sel.Method, sel.PointMethod = Persistence, Persistence
		sel.Candidates = []Candidate{{Method: Persistence}}
		sel.resid = newSketch(make([]float64, evalLen))
		sel.scale = plan.scaleMin
		sel.Reason = fmt.Sprintf("over %d forecasts %d steps ahead the history is constant (%.4g): persistence forecasts it exactly", evalLen, h, y[0])
		return sel
	}
	daily, weekly := periodOf(24*time.Hour, step), periodOf(7*24*time.Hour, step)
	hasZero := false
	for _, v := range y[:plan.from] {
		if v <= 0 {
			hasZero = true
			break
		}
	}
	var spec spectrum
	var parts []Candidate // scored candidates, in AllMethods order
	bestLoss, bestPoint := math.Inf(1), math.Inf(1)
	combo := contains(o.Methods, Combination)
	for _, m := range allMethods {
		if m == Combination {
			continue
		}
		// With a combination asked for, every method is scored as a
		// possible part, but only those in o.Methods can be chosen alone.
		eligible := contains(o.Methods, m)
		if !eligible && !combo {
			continue
		}
		c := Candidate{Method: m}
		// The model must be initialized before the first scored origin.
		origin0 := plan.from - h
		switch m {
		case SeasonalNaiveDaily, HoltWintersDaily, HoltWintersDailyMul, SeasonalNaiveWeekly, HoltWintersWeekly, HoltWintersWeekMul, ProfileDaily:
			if daily < 2 {
				c.Skipped = fmt.Sprintf("the step %v does not divide a day into 2 or more steps", step)
			}
		}
		switch m {
		case SeasonalNaiveDaily, HoltWintersDaily, HoltWintersDailyMul, ProfileDaily:
			if c.Skipped == "" && origin0 < daily {
				c.Skipped = fmt.Sprintf("needs %d points (a day) before the evaluation window, has %d", daily, origin0)
			}
		case SeasonalNaiveWeekly, HoltWintersWeekly, HoltWintersWeekMul:
			if c.Skipped == "" && origin0 < weekly {
				c.Skipped = fmt.Sprintf("needs %d points (a week) before the evaluation window, has %d", weekly, origin0)
			}
		case Spectral:
			// Fitted on the history before the evaluation window, so the
			// backtest is out of sample like everyone else's.
			spec = fitSpectrum(y[:origin0], periodOf(24*time.Hour, step))
			if len(spec.comp) == 0 {
				c.Skipped = "no periodic component found"
			}
		}
		if (m == HoltWintersDailyMul || m == HoltWintersWeekMul) && hasZero && c.Skipped == "" {
			c.Skipped = "multiplicative season needs a history without zeros"
		}
		if c.Skipped == "" {
			c.Params, c.Loss, c.PointParams, c.PointLoss = fit(m, y, step, plan, spec, sc)
			if share := cappedShare(sc.bestF, plan.limit); share > DivergedShare {
				c.Skipped = fmt.Sprintf("diverges: %.0f%% of its backtest forecasts hit %.0fx the peak", 100*share, o.PeakCap)
				c.Params, c.Loss, c.PointParams, c.PointLoss = Params{}, 0, Params{}, 0
			}
		}
		if c.Skipped == "" {
			sc.partF[m] = append(sc.partF[m][:0], sc.bestF...)
			if m == Persistence {
				sc.persist = append(sc.persist[:0], sc.best...)
			}
			if !eligible {
				parts = append(parts, c)
				continue
			}
			if c.Loss < bestLoss {
				bestLoss = c.Loss
				sel.Method, sel.Params, sel.Loss = m, c.Params, c.Loss
				sc.winner = append(sc.winner[:0], sc.best...)
			}
			if c.PointLoss < bestPoint {
				bestPoint = c.PointLoss
				sel.PointMethod, sel.PointParams, sel.PointLoss = m, c.PointParams, c.PointLoss
			}
		}
		if eligible {
			sel.Candidates = append(sel.Candidates, c)
		}
		if c.Skipped == "" && eligible {
			parts = append(parts, c)
		}
	}
	if combo {
		c := scoreCombination(parts, y, plan, sc)
		if c.Skipped == "" {
			if c.Loss < bestLoss {
				sel.Method, sel.Params, sel.Loss = c.Method, c.Params, c.Loss
				sc.winner = append(sc.winner[:0], sc.resid...)
			}
			if c.PointLoss < bestPoint {
				sel.PointMethod, sel.PointParams, sel.PointLoss = c.Method, c.PointParams, c.PointLoss
			}
		}
		sel.Candidates = append(sel.Candidates, c)
	}
	// Parsimony: a method beats persistence only by a clear margin, so noise
	// in the backtest does not swap a robust forecaster for a fragile one.
	for _, c := range sel.Candidates {
		if c.Method != Persistence || c.Skipped != "" {
			continue
		}
		if sel.Method != Persistence && sel.Loss > (1-persistenceEdge)*c.Loss {
			sel.Method, sel.Params, sel.Loss = Persistence, c.Params, c.Loss
			sc.winner = append(sc.winner[:0], sc.persist...)
		}
		if sel.PointMethod != Persistence && sel.PointLoss > (1-persistenceEdge)*c.PointLoss {
			sel.PointMethod, sel.PointParams, sel.PointLoss = Persistence, c.PointParams, c.PointLoss
		}
	}
	if sel.Method == "" { // every candidate skipped
		sel.Method, sel.PointMethod = Persistence, Persistence
		sel.Reason = "no candidate could be scored; persistence"
		return sel
	}
	sel.resid = newSketch(sc.winner)
	sel.scale = plan.scaleMin
	sel.spec = spec
	sel.Reason = selectionReason(sel)
	return sel
}

func selectionReason(sel Selection) string {
	r := fmt.Sprintf("over %d forecasts %d steps ahead, %s (%s) has the lowest pinball loss at q=%g (%.4g) and %s (%s) the lowest absolute error (%.4g); others (q loss / point loss):",
		sel.Scored, sel.Horizon, sel.Method, sel.Params, sel.Quantile, sel.Loss, sel.PointMethod, sel.PointParams, sel.PointLoss)
	for _, c := range sel.Candidates {
		if c.Skipped != "" {
			r += fmt.Sprintf(" %s skipped: %s;", c.Method, c.Skipped)
		} else {
			r += fmt.Sprintf(" %s %.4g/%.4g;", c.Method, c.Loss, c.PointLoss)
		}
	}
	return strings.TrimSuffix(r, ";")
}

func contains(ms []Method, m Method) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// periodOf returns the whole number of steps in d, or 0 if d is not a
// multiple of step.
func periodOf(d, step time.Duration) int {
	if step <= 0 || d%step != 0 {
		return 0
	}
	return int(d / step)
}

// Parameter grids. Smoothing parameters are fitted by coordinate descent
// over these grids, minimizing the same backtest loss the choice uses, so
// they are tuned for the horizon and quantile asked for (a direct multi-step
// criterion rather than one-step squared error; Hyndman et al. 2008, ch. 5).
var (
	alphaGrid  = []float64{0.05, 0.15, 0.35, 0.7}
	betaGrid   = []float64{0, 0.05}
	gammaGrid  = []float64{0.05, 0.15, 0.4}
	holtBeta   = []float64{0.02, 0.1, 0.3}
	specAlpha  = []float64{0.02, 0.1, 0.3, 0.7}
	weekAlpha  = []float64{0.05, 0.15, 0.35}
	weekGamma  = []float64{0.05, 0.15}
	dampingPhi = 0.98
	// A daily profile: days averaged, level smoothing (slower than the
	// others: the profile carries the shape, the level only drifts).
	profileDays  = []float64{3, 7}
	profileAlpha = []float64{0.02, 0.05, 0.15, 0.35, 0.7}
)

// maxProfileWidth caps the profile's smoothing half-width in steps, which
// bounds its update cost at fine steps.
const maxProfileWidth = 15

// maxParts is the most members of a Combination.
const maxParts = 3

// scoreCombination builds the combinations of the 2 and of the maxParts
// scored candidates with the lowest point loss (each with its point
// parameters), scores both, and keeps the one with the lower point loss:
// averaging two good forecasts that err independently halves their error
// variance, but a third, weaker one can cost more bias than it saves. The
// parts' backtest forecasts are averaged as they are (sc.partF), so the
// combination costs no model run. The winner's residuals are left in
// sc.resid.
func scoreCombination(scored []Candidate, y []float64, plan evalPlan, sc *scratch) Candidate {
	c := Candidate{Method: Combination}
	best := append([]Candidate(nil), scored...)
	sort.SliceStable(best, func(i, j int) bool { return best[i].PointLoss < best[j].PointLoss })
	if len(best) < 2 {
		c.Skipped = "needs at least two scored methods"
		return c
	}
	var keep []float64
	for k := 2; k <= min(maxParts, len(best)); k++ {
		t := Candidate{Method: Combination}
		for _, b := range best[:k] {
			t.Params.Parts = append(t.Params.Parts, Part{Method: b.Method, Params: b.PointParams})
		}
		t.Loss, t.PointLoss = scoreMean(best[:k], y, plan, sc)
		t.PointParams = t.Params
		if k == 2 || t.PointLoss < c.PointLoss {
			c = t
			keep = append(keep[:0], sc.resid...)
		}
	}
	sc.resid = append(sc.resid[:0], keep...)
	return c
}

// scoreMean scores the mean of the parts' backtest forecasts as score
// does a model's; comboModel computes the same mean live.
func scoreMean(parts []Candidate, y []float64, plan evalPlan, sc *scratch) (float64, float64) {
	sc.resid, sc.scale = sc.resid[:0], sc.scale[:0]
	n := len(y) - plan.from
	for _, p := range parts {
		n = min(n, len(sc.partF[p.Method]))
	}
	k := float64(len(parts))
	fs := make([][]float64, len(parts))
	for j, p := range parts {
		fs[j] = sc.partF[p.Method][:n]
	}
	for i := 0; i < n; i++ {
		sum := 0.0
		for _, f := range fs {
			sum += f[i]
		}
		f := plan.bound(sum / k)
		s := max(f, plan.scaleMin)
		sc.resid = append(sc.resid, (y[plan.from+i]-f)/s)
		sc.scale = append(sc.scale, s)
	}
	return finishScore(plan, sc)
}

// warmup is how many steps before the first scored origin a candidate's
// state is built from in a backtest: the rolling-origin backtest needs the
// state at each origin, not the whole history, and starting later saves
// most of the fitting time on long histories. It is a season plus two days
// for daily models, a season plus a day for weekly ones (initialization, then adaptation), one day for
// the others (an EWMA with alpha >= 0.05 forgets its start in ~100 steps).
// A daily profile needs its cycles (at most 3: more cost time and change
// little), then profileWarmLevel steps for its level EWMA to forget its
// start.
func warmup(m Method, p Params, step time.Duration) int {
	day := int(24 * time.Hour / step)
	switch m {
	case SeasonalNaiveDaily, HoltWintersDaily, HoltWintersDailyMul:
		return 3 * day
	case SeasonalNaiveWeekly, HoltWintersWeekly, HoltWintersWeekMul:
		return 8 * day
	case ProfileDaily:
		return min(p.Days, 3)*p.Period + min(day, profileWarmLevel)
	}
	return max(day, 100)
}

// newModel builds a fresh model for m with parameters p, whose first
// consumed value will be index start of the series.
func newModel(m Method, p Params, spec spectrum, start int) model {
	switch m {
	case SeasonalNaiveDaily, SeasonalNaiveWeekly:
		return newSeasonalNaive(p.Period)
	case EWMA:
		return &ewmaModel{alpha: p.Alpha}
	case Holt:
		return &holtModel{alpha: p.Alpha, beta: p.Beta, phi: p.Phi}
	case HoltWintersDaily, HoltWintersWeekly:
		return newHW(p, false)
	case HoltWintersDailyMul, HoltWintersWeekMul:
		return newHW(p, true)
	case Spectral:
		return newSpectral(spec, p, start)
	case ProfileDaily:
		return newProfile(p)
	case Combination:
		c := &comboModel{}
		for _, pt := range p.Parts {
			c.parts = append(c.parts, newModel(pt.Method, pt.Params, spec, start))
		}
		return c
	}
	return &persistModel{}
}

// fit fits m's parameters on y for the upper quantile (by coordinate
// descent on its loss) and for the point forecast (the best point loss
// among the same trials), and returns both with their losses; the upper
// winner's scaled residuals are left in sc.best.
func fit(m Method, y []float64, step time.Duration, plan evalPlan, spec spectrum, sc *scratch) (pq Params, lq float64, pm Params, lm float64) {
	var p Params
	var axes []struct {
		set  func(*Params, float64)
		grid []float64
	}
	axis := func(set func(*Params, float64), grid []float64) {
		axes = append(axes, struct {
			set  func(*Params, float64)
			grid []float64
		}{set, grid})
	}
	setA := func(p *Params, v float64) { p.Alpha = v }
	setB := func(p *Params, v float64) { p.Beta = v }
	setG := func(p *Params, v float64) { p.Gamma = v }
	switch m {
	case SeasonalNaiveDaily, HoltWintersDaily, HoltWintersDailyMul, ProfileDaily:
		p.Period = periodOf(24*time.Hour, step)
	case SeasonalNaiveWeekly, HoltWintersWeekly, HoltWintersWeekMul:
		p.Period = periodOf(7*24*time.Hour, step)
	}
	switch m {
	case EWMA:
		p.Alpha = alphaGrid[1]
		axis(setA, alphaGrid)
	case Holt:
		p.Alpha, p.Beta, p.Phi = alphaGrid[2], holtBeta[0], dampingPhi
		axis(setA, alphaGrid)
		axis(setB, holtBeta)
	case HoltWintersDaily, HoltWintersDailyMul, HoltWintersWeekly, HoltWintersWeekMul:
		p.Alpha, p.Beta, p.Gamma, p.Phi = alphaGrid[1], betaGrid[0], gammaGrid[1], dampingPhi
		if m == HoltWintersDaily || m == HoltWintersDailyMul {
			axis(setA, alphaGrid)
			axis(setG, gammaGrid)
			axis(setB, betaGrid)
		} else {
			// A weekly season has few cycles in the history: a coarser
			// grid, and no trend fitted on top.
			axis(setA, weekAlpha)
			axis(setG, weekGamma)
		}
	case Spectral:
		p.Alpha, p.Phi = specAlpha[1], dampingPhi
		p.Periods = spec.periods
		axis(setA, specAlpha)
		axis(setB, betaGrid)
	case ProfileDaily:
		// Days is the most cycles averaged; the profile starts after one
		// and averages what it has, so every choice applies once a day is
		// there. Start from a week and the widest smoothing, then try
		// each axis in turn.
		days := profileDays
		widths := []float64{0}
		if w := min(maxProfileWidth, p.Period/96); w > 0 { // +-15 minutes
			widths = append(widths, float64(w))
		}
		p.Alpha, p.Days, p.Width = profileAlpha[1], int(days[len(days)-1]), int(widths[len(widths)-1])
		axis(setA, profileAlpha)
		axis(func(p *Params, v float64) { p.Days = int(v) }, days)
		axis(func(p *Params, v float64) { p.Width = int(v) }, widths)
		axis(func(p *Params, v float64) { p.Mul = v != 0 }, []float64{0, 1})
	}
	startFor := func(p Params) int { return max(0, plan.from-plan.h-warmup(m, p, step)) }
	scoreTrial := func(p Params, st int) (float64, float64) {
		return score(newModel(m, p, spec, st), y, st, plan, sc)
	}
	if m == ProfileDaily {
		ps := newProfileScorer(y, plan)
		scoreTrial = func(p Params, st int) (float64, float64) { return ps.score(p, st, sc) }
	}
	best, lm := scoreTrial(p, startFor(p))
	pm = p
	sc.best = append(sc.best[:0], sc.resid...)
	sc.bestF = append(sc.bestF[:0], sc.fc...)
	// Coordinate descent: one sweep over each axis in turn, starting from
	// the middle of the grids.
	for _, ax := range axes {
		cur := p
		for _, v := range ax.grid {
			trial := cur
			ax.set(&trial, v)
			if sameParams(trial, cur) {
				continue // already scored
			}
			st := startFor(trial)
			l, lp := scoreTrial(trial, st)
			if l < best {
				best, p = l, trial
				sc.best = append(sc.best[:0], sc.resid...)
			}
			if lp < lm {
				lm, pm = lp, trial
				sc.bestF = append(sc.bestF[:0], sc.fc...)
			}
		}
	}
	return p, best, pm, lm
}

// score runs md over y and returns the mean pinball loss of its q-quantile
// band and of its point forecast (at 0.5) over the evaluation window,
// leaving the scaled residuals in sc.resid. The band at each origin is
// f + c*max(f, scaleMin), with c the empirical q-quantile of the scaled
// residuals (y-f)/max(f, scaleMin) over the window.
func score(md model, y []float64, start int, plan evalPlan, sc *scratch) (float64, float64) {
	sc.resid, sc.scale, sc.fc = sc.resid[:0], sc.scale[:0], sc.fc[:0]
	h := plan.h
	last := len(y) - h
	if hw, ok := md.(*hwModel); ok {
		return scoreHW(hw, y, start, plan, sc)
	}
	for t := start; t < last; t++ {
		md.update(y[t])
		if t+h < plan.from {
			continue
		}
		f := plan.bound(md.forecast(h))
		s := f
		if s < plan.scaleMin {
			s = plan.scaleMin
		}
		sc.resid = append(sc.resid, (y[t+h]-f)/s)
		sc.scale = append(sc.scale, s)
		sc.fc = append(sc.fc, f)
	}
	return finishScore(plan, sc)
}

// scoreHW is score for Holt-Winters, the most fitted model, with direct
// calls instead of interface calls (about a third faster).
func scoreHW(md *hwModel, y []float64, start int, plan evalPlan, sc *scratch) (float64, float64) {
	h := plan.h
	last := len(y) - h
	for t := start; t < last; t++ {
		md.update(y[t])
		if t+h < plan.from {
			continue
		}
		f := plan.bound(md.forecast(h))
		s := f
		if s < plan.scaleMin {
			s = plan.scaleMin
		}
		sc.resid = append(sc.resid, (y[t+h]-f)/s)
		sc.scale = append(sc.scale, s)
		sc.fc = append(sc.fc, f)
	}
	return finishScore(plan, sc)
}

// finishScore turns the residuals of a pass into its loss.
func finishScore(plan evalPlan, sc *scratch) (float64, float64) {
	if len(sc.resid) == 0 {
		return math.Inf(1), math.Inf(1)
	}
	var c float64
	c, sc.tmp = tailQuantile(sc.resid, plan.q, sc.tmp)
	lq, lm := 0.0, 0.0
	for i, r := range sc.resid {
		lq += sc.scale[i] * Pinball(plan.q, r, c)
		lm += sc.scale[i] * 0.5 * math.Abs(r)
	}
	n := float64(len(sc.resid))
	lq, lm = lq/n, lm/n
	if math.IsNaN(lq) || math.IsNaN(lm) { // overflowing input: never choose this
		return math.Inf(1), math.Inf(1)
	}
	return lq, lm
}

// cappedShare is the share of forecasts at or above limit.
func cappedShare(fs []float64, limit float64) float64 {
	if len(fs) == 0 || limit <= 0 {
		return 0
	}
	n := 0
	for _, f := range fs {
		if f >= limit {
			n++
		}
	}
	return float64(n) / float64(len(fs))
}

// clampRate makes any model output a usable rate: NaN becomes 0, negative
// becomes 0, +Inf becomes MaxFloat64.
func clampRate(v float64) float64 {
	switch {
	case !(v >= 0): // negative or NaN
		return 0
	case v > math.MaxFloat64:
		return math.MaxFloat64
	}
	return v
}

// constant reports whether every value of y is the same.
func constant(y []float64) bool {
	for _, v := range y[1:] {
		if v != y[0] {
			return false
		}
	}
	return true
}
