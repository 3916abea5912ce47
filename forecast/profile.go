package forecast

import "math"

// profileModel is a seasonal naive forecast with level correction: the
// target's time of day is forecast by the mean of the last Days days at
// that time (each averaged over +-Width neighbouring steps), corrected by
// how far the recent level is from what the same profile said about the
// recent past:
//
//	additive:       f(t+h) = P(t+h) + (L_t - Lp_t)
//	multiplicative: f(t+h) = P(t+h) * L_t / Lp_t
//
// where P(x) is the profile value at x's phase (the mean of as many of the
// last Days cycles as have been seen, so the model starts after one cycle
// and sharpens as cycles accumulate), L_t an EWMA of the series
// and Lp_t the same EWMA of the profile at the times observed. Averaging
// Days cycles divides the noise in the seasonal shape by about sqrt(Days),
// which is where it beats Holt-Winters (whose season is an EWMA with gamma
// of each phase's last few values) and the one-cycle seasonal naive; the
// level correction follows weekday/weekend and trend changes. It is the
// "seasonal naive with drift/level adjustment" of the forecasting
// literature (Hyndman & Athanasopoulos, FPP3 5.2 and 8.3) with a
// multi-cycle mean for the season, as in classical decomposition (FPP3
// 3.4).
//
// Worked example (period 4, Days 2, Width 0, additive, alpha 0.5): after
// the values 10 20 30 40 | 12 22 32 42, the profile at phase 0 is
// (10+12)/2 = 11; the level EWMA over the second cycle (12 22 32 42) ends
// 2 above the EWMA of what the profile said for those steps (10 20 30 40),
// so the forecast for the next phase-0 step is 11 + 2 = 13.
type profileModel struct {
	alpha float64
	mul   bool
	days  int
	width int
	p     int
	ring  []float64 // ring[t % (days*p)] = y_t
	sums  []float64 // sums[j] = sum of the last days values at phase j
	// smooth[j] = sums[j-width] + ... + sums[j+width], kept incrementally,
	// and cnt[j] the number of values in it.
	smooth, cnt   []float64
	t, i, ri      int // values consumed, t % p, t % len(ring)
	level, plevel float64
	started       bool
	last          float64
}

// maxProfileRatio bounds the multiplicative level correction, so a profile
// that dipped to near zero (an outage one day earlier) cannot multiply a
// forecast without limit; it matches DefaultOutlierFactor.
const maxProfileRatio = DefaultOutlierFactor

func newProfile(p Params) *profileModel {
	days := max(p.Days, 1)
	w := min(max(p.Width, 0), (p.Period-1)/2)
	return &profileModel{
		alpha: p.Alpha, mul: p.Mul, days: days, width: w, p: p.Period,
		ring: make([]float64, days*p.Period), sums: make([]float64, p.Period),
		smooth: make([]float64, p.Period), cnt: make([]float64, p.Period),
	}
}

func (m *profileModel) update(y float64) {
	m.last = y
	if m.t >= m.p { // the profile has a full cycle
		prof := m.smooth[m.i] / m.cnt[m.i]
		if !m.started {
			m.level, m.plevel, m.started = y, prof, true
		} else {
			m.level += m.alpha * (y - m.level)
			m.plevel += m.alpha * (prof - m.plevel)
		}
	}
	d := y - m.ring[m.ri]
	m.ring[m.ri] = y
	m.sums[m.i] += d
	// Phases i-width .. i+width, as at most two runs without wrapping.
	lo, hi := m.i-m.width, m.i+m.width
	filling := m.t < len(m.ring) // one more value at each of those phases
	if lo < 0 {
		addTo(m.smooth[lo+m.p:], d)
		if filling {
			addTo(m.cnt[lo+m.p:], 1)
		}
		lo = 0
	}
	if hi >= m.p {
		addTo(m.smooth[:hi-m.p+1], d)
		if filling {
			addTo(m.cnt[:hi-m.p+1], 1)
		}
		hi = m.p - 1
	}
	addTo(m.smooth[lo:hi+1], d)
	if filling {
		addTo(m.cnt[lo:hi+1], 1)
	}
	m.t++
	if m.i++; m.i == m.p {
		m.i = 0
	}
	if m.ri++; m.ri == len(m.ring) {
		m.ri = 0
	}
}

func (m *profileModel) forecast(h int) float64 {
	if !m.started {
		return m.last
	}
	// The phase of target t-1+h is i-1+h taken back into [0, p); every
	// value at that phase in the ring is in the past.
	j := m.i - 1 + h
	if j >= m.p {
		j %= m.p
	}
	prof := m.smooth[j] / m.cnt[j]
	if m.mul && m.plevel > 1e-9 {
		return prof * math.Min(m.level/m.plevel, maxProfileRatio)
	}
	return prof + m.level - m.plevel
}

// profileWarmLevel is the steps a profile's level EWMA runs before the
// first scored origin in a backtest: 5/alpha for the smallest alpha of the
// grid, at most a day.
const profileWarmLevel = 250

// profileScorer scores ProfileDaily trials fast. The profile a trial sees
// depends only on Days and Width, so it is computed once per (Days, Width)
// pair: at each step, the profile at the step's own phase (before the
// step's value joins it) and at the phase of its target h steps later.
// Each (Alpha, Mul) trial is then one cheap pass over those two arrays,
// with the same arithmetic as profileModel.update and forecast (a property
// test checks they agree exactly).
type profileScorer struct {
	y     []float64
	plan  evalPlan
	cache map[[2]int]*profilePass
}

type profilePass struct {
	start    int       // series index of cur[0]
	cur, tgt []float64 // NaN before the profile has a full cycle
}

func newProfileScorer(y []float64, plan evalPlan) *profileScorer {
	return &profileScorer{y: y, plan: plan, cache: map[[2]int]*profilePass{}}
}

func (ps *profileScorer) pass(p Params, start int) *profilePass {
	key := [2]int{p.Days, p.Width}
	if c := ps.cache[key]; c != nil && c.start == start {
		return c
	}
	last := len(ps.y) - ps.plan.h
	// The model's own sums, read exactly as update and forecast read
	// them, so the backtest scores what runs live to the last bit.
	m := newProfile(Params{Period: p.Period, Days: p.Days, Width: p.Width})
	c := &profilePass{start: start, cur: make([]float64, 0, max(0, last-start)), tgt: make([]float64, 0, max(0, last-start))}
	for t := start; t < last; t++ {
		cur := math.NaN()
		if m.t >= m.p {
			cur = m.smooth[m.i] / m.cnt[m.i]
		}
		m.update(ps.y[t])
		tgt := math.NaN()
		if m.t > m.p { // as in forecast: started by this update
			j := m.i - 1 + ps.plan.h
			if j >= m.p {
				j %= m.p
			}
			tgt = m.smooth[j] / m.cnt[j]
		}
		c.cur = append(c.cur, cur)
		c.tgt = append(c.tgt, tgt)
	}
	ps.cache[key] = c
	return c
}

// score is score(newProfile(p), y, start, plan, sc) without re-running the
// profile.
func (ps *profileScorer) score(p Params, start int, sc *scratch) (float64, float64) {
	c := ps.pass(p, start)
	sc.resid, sc.scale, sc.fc = sc.resid[:0], sc.scale[:0], sc.fc[:0]
	h, plan := ps.plan.h, ps.plan
	var level, plevel float64
	started := false
	for i, cur := range c.cur {
		t := c.start + i
		y := ps.y[t]
		if !math.IsNaN(cur) {
			if !started {
				level, plevel, started = y, cur, true
			} else {
				level += p.Alpha * (y - level)
				plevel += p.Alpha * (cur - plevel)
			}
		}
		if t+h < plan.from {
			continue
		}
		var f float64
		switch prof := c.tgt[i]; {
		case !started:
			f = y
		case p.Mul && plevel > 1e-9:
			f = prof * math.Min(level/plevel, maxProfileRatio)
		default:
			f = prof + level - plevel
		}
		f = plan.bound(f)
		s := f
		if s < plan.scaleMin {
			s = plan.scaleMin
		}
		sc.resid = append(sc.resid, (ps.y[t+h]-f)/s)
		sc.scale = append(sc.scale, s)
		sc.fc = append(sc.fc, f)
	}
	return finishScore(plan, sc)
}

func addTo(a []float64, d float64) {
	for i := range a {
		a[i] += d
	}
}
