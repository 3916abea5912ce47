package forecast

import (
	"fmt"
	"math"
)

// Method names an estimator.
type Method string

// The estimators. Seasonal methods take their period from the series step:
// daily is 24h/step points, weekly 7*24h/step.
const (
	Persistence         Method = "persistence"           // the last value
	SeasonalNaiveDaily  Method = "seasonal-naive-daily"  // the value one day earlier
	SeasonalNaiveWeekly Method = "seasonal-naive-weekly" // the value one week earlier
	EWMA                Method = "ewma"                  // exponentially weighted mean
	Holt                Method = "holt"                  // level and damped trend
	HoltWintersDaily    Method = "hw-add-daily"          // additive Holt-Winters, daily season
	HoltWintersDailyMul Method = "hw-mul-daily"          // multiplicative Holt-Winters, daily season
	HoltWintersWeekly   Method = "hw-add-weekly"         // additive Holt-Winters, weekly season
	HoltWintersWeekMul  Method = "hw-mul-weekly"         // multiplicative Holt-Winters, weekly season
	Spectral            Method = "spectral"              // periods found by FFT, level by EWMA
	// ProfileDaily is the mean of the last Days days at the same time of
	// day, corrected to the recent level (see profileModel).
	ProfileDaily Method = "profile-daily"
	// Combination averages the point forecasts of the methods with the
	// lowest backtest error (up to maxParts of them): combining forecasts
	// is reliably better than picking one (Bates & Granger 1969; the M4
	// competition, Makridakis et al. 2020).
	Combination Method = "combination"
)

// AllMethods lists every estimator in a fixed order; on equal backtest loss
// the earlier one wins.
var allMethods = [...]Method{
	Persistence, SeasonalNaiveDaily, SeasonalNaiveWeekly, EWMA, Holt,
	HoltWintersDaily, HoltWintersDailyMul, HoltWintersWeekly, HoltWintersWeekMul, ProfileDaily, Spectral, Combination,
}

// AllMethods returns every estimator, in tie-break order.
func AllMethods() []Method { return append([]Method(nil), allMethods[:]...) }

// ParseMethod checks a method name.
func ParseMethod(s string) (Method, error) {
	for _, m := range allMethods {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown forecast method %q (want one of %v)", s, allMethods)
}

// Params are an estimator's fitted parameters; fields a method does not use
// are zero.
type Params struct {
	Alpha  float64 `json:"alpha,omitempty"`  // level smoothing
	Beta   float64 `json:"beta,omitempty"`   // trend smoothing
	Gamma  float64 `json:"gamma,omitempty"`  // season smoothing
	Phi    float64 `json:"phi,omitempty"`    // trend damping per step
	Period int     `json:"period,omitempty"` // season length in steps
	// Days, Width and Mul shape ProfileDaily: how many days are averaged,
	// over how many neighbouring steps each side, and whether the level
	// correction is a ratio (Mul) or a difference.
	Days  int  `json:"days,omitempty"`
	Width int  `json:"width,omitempty"`
	Mul   bool `json:"mul,omitempty"`
	// Periods are the periods, in steps, the spectral estimator found.
	Periods []float64 `json:"periods,omitempty"`
	// Parts are the members of a Combination.
	Parts []Part `json:"parts,omitempty"`
}

// Part is one member of a Combination.
type Part struct {
	Method Method `json:"method"`
	Params Params `json:"params"`
}

func (p Params) String() string {
	s := ""
	add := func(k string, v float64) {
		if v != 0 {
			if s != "" {
				s += " "
			}
			s += fmt.Sprintf("%s=%.3g", k, v)
		}
	}
	add("alpha", p.Alpha)
	add("beta", p.Beta)
	add("gamma", p.Gamma)
	add("phi", p.Phi)
	if p.Period > 0 {
		if s != "" {
			s += " "
		}
		s += fmt.Sprintf("period=%d", p.Period)
	}
	if p.Days > 0 {
		if s != "" {
			s += " "
		}
		s += fmt.Sprintf("days=%d width=%d", p.Days, p.Width)
		if p.Mul {
			s += " mul"
		} else {
			s += " add"
		}
	}
	for i, pt := range p.Parts {
		if i == 0 {
			if s != "" {
				s += " "
			}
			s += "mean of "
		} else {
			s += " + "
		}
		s += string(pt.Method)
	}
	if len(p.Periods) > 0 {
		if s != "" {
			s += " "
		}
		s += "periods="
		for i, q := range p.Periods {
			if i > 0 {
				s += ","
			}
			s += fmt.Sprintf("%.4g", q)
		}
	}
	if s == "" {
		return "-"
	}
	return s
}

// model is one estimator's running state over a series with a fixed step.
// update consumes the next value (finite, >= 0); forecast returns the
// estimate h >= 1 steps after the last value consumed. forecast may be
// negative or huge for a wild model; callers clamp.
type model interface {
	update(y float64)
	forecast(h int) float64
}

// persistence: the next value is the last one.
type persistModel struct{ last float64 }

func (m *persistModel) update(y float64)     { m.last = y }
func (m *persistModel) forecast(int) float64 { return m.last }

// seasonalNaive: the value one period before the target.
type seasonalNaiveModel struct {
	ring []float64 // ring[t%m] = y_t
	t    int       // values consumed
	last float64
}

func newSeasonalNaive(m int) *seasonalNaiveModel {
	return &seasonalNaiveModel{ring: make([]float64, m)}
}

func (s *seasonalNaiveModel) update(y float64) {
	s.ring[s.t%len(s.ring)] = y
	s.t++
	s.last = y
}

func (s *seasonalNaiveModel) forecast(h int) float64 {
	m := len(s.ring)
	if s.t < m {
		return s.last
	}
	// Target index t-1+h; go back k whole periods so it is in the past.
	k := (h + m - 1) / m
	return s.ring[(s.t-1+h-k*m)%m]
}

// ewma: simple exponential smoothing (Hyndman & Athanasopoulos, FPP3 8.1).
type ewmaModel struct {
	alpha, level float64
	started      bool
}

func (e *ewmaModel) update(y float64) {
	if !e.started {
		e.level, e.started = y, true
		return
	}
	e.level += e.alpha * (y - e.level)
}
func (e *ewmaModel) forecast(int) float64 { return e.level }

// dampedSum returns phi + phi^2 + ... + phi^h, the trend multiplier of a
// damped-trend forecast h steps ahead (FPP3 8.2).
func dampedSum(phi float64, h int) float64 {
	if phi >= 1 {
		return float64(h)
	}
	return phi * (1 - math.Pow(phi, float64(h))) / (1 - phi)
}

// holt: level and damped trend (FPP3 8.2, damped Holt's method).
type holtModel struct {
	alpha, beta, phi float64
	level, trend     float64
	n                int
	cacheH           int
	cacheSum         float64
}

func (m *holtModel) update(y float64) {
	switch m.n {
	case 0:
		m.level = y
	case 1:
		m.trend = y - m.level
		m.level = y
	default:
		prev := m.level
		m.level = m.alpha*y + (1-m.alpha)*(prev+m.phi*m.trend)
		m.trend = m.beta*(m.level-prev) + (1-m.beta)*m.phi*m.trend
	}
	m.n++
}

func (m *holtModel) forecast(h int) float64 {
	if h != m.cacheH {
		m.cacheH, m.cacheSum = h, dampedSum(m.phi, h)
	}
	return m.level + m.cacheSum*m.trend
}

// holtWinters: damped-trend Holt-Winters with one season of length m,
// additive or multiplicative (FPP3 8.3, equations in error-correction form).
// The first season initializes the state: level = its mean, season = each
// value minus (or divided by) the mean, trend 0. Until then it forecasts the
// last value.
type hwModel struct {
	alpha, beta, gamma, phi float64
	mul                     bool
	season                  []float64 // season[t%m]
	level, trend, last      float64
	t                       int
	i                       int // t % len(season), kept incrementally (no division per step)
	cacheH                  int
	cacheSum                float64
}

func newHW(p Params, mul bool) *hwModel {
	return &hwModel{alpha: p.Alpha, beta: p.Beta, gamma: p.Gamma, phi: p.Phi, mul: mul, season: make([]float64, p.Period)}
}

// minSeason keeps a multiplicative season index away from zero, so one
// quiet step cannot make the next forecasts explode.
const minSeason = 1e-3

func (m *hwModel) update(y float64) {
	p := len(m.season)
	i := m.i
	m.last = y
	switch {
	case m.t < p-1:
		m.season[i] = y
	case m.t == p-1:
		m.season[i] = y
		mean := 0.0
		for _, v := range m.season {
			mean += v
		}
		mean /= float64(p)
		m.level = mean
		for j := range m.season {
			if m.mul {
				m.season[j] = math.Max(m.season[j]/math.Max(mean, 1e-12), minSeason)
			} else {
				m.season[j] -= mean
			}
		}
	default:
		prevL, prevT := m.level, m.trend
		base := prevL + m.phi*prevT
		s := m.season[i]
		if m.mul {
			m.level = m.alpha*(y/s) + (1-m.alpha)*base
			m.trend = m.beta*(m.level-prevL) + (1-m.beta)*m.phi*prevT
			b := base
			if !(b > 1e-12) {
				b = 1e-12
			}
			ns := m.gamma*(y/b) + (1-m.gamma)*s
			if !(ns > minSeason) {
				ns = minSeason
			}
			m.season[i] = ns
		} else {
			m.level = m.alpha*(y-s) + (1-m.alpha)*base
			m.trend = m.beta*(m.level-prevL) + (1-m.beta)*m.phi*prevT
			m.season[i] = m.gamma*(y-base) + (1-m.gamma)*s
		}
	}
	m.t++
	if m.i++; m.i == p {
		m.i = 0
	}
}

func (m *hwModel) forecast(h int) float64 {
	p := len(m.season)
	if m.t < p {
		return m.last
	}
	if h != m.cacheH {
		m.cacheH, m.cacheSum = h, dampedSum(m.phi, h)
	}
	// The season index of target t-1+h is i-1+h taken back into [0, p).
	j := m.i - 1 + h
	if j >= p {
		j %= p // a division only for horizons past the season's end
	}
	s := m.season[j]
	base := m.level + m.cacheSum*m.trend
	if m.mul {
		return base * s
	}
	return base + s
}

// spectralModel: a periodic profile made of the strongest Fourier
// components of the history (see fitSpectrum), plus a level that follows
// the deseasonalized series by exponential smoothing. Each component's
// phase is advanced by a rotation per step instead of calling sin and cos.
type spectralModel struct {
	alpha, beta, phi float64
	comp             []component
	level, trend     float64
	n                int
	cacheSum         float64
	// cache for forecast(h): rotation by (h-1) steps
	cacheH int
	cosH   []float64
	sinH   []float64
}

// component is a*cos(w t) + b*sin(w t), with (c, s) = (cos, sin) of w*t at
// the next index to be consumed, and (cw, sw) = (cos w, sin w).
type component struct {
	a, b, c, s, cw, sw float64
}

// newSpectral starts the model at index start of the series the spectrum
// was fitted on.
func newSpectral(sp spectrum, p Params, start int) *spectralModel {
	m := &spectralModel{alpha: p.Alpha, beta: p.Beta, phi: p.Phi, comp: make([]component, len(sp.comp)), cosH: make([]float64, len(sp.comp)), sinH: make([]float64, len(sp.comp))}
	copy(m.comp, sp.comp)
	for i := range m.comp {
		c := &m.comp[i]
		w := math.Atan2(c.sw, c.cw) * float64(start-sp.origin)
		c.c, c.s = math.Cos(w), math.Sin(w)
	}
	return m
}

func (m *spectralModel) profile() float64 {
	v := 0.0
	for i := range m.comp {
		c := &m.comp[i]
		v += c.a*c.c + c.b*c.s
	}
	return v
}

func (m *spectralModel) update(y float64) {
	d := y - m.profile()
	if m.n == 0 {
		m.level = d
	} else {
		// Damped Holt on the deseasonalized series (as STL + ETS does for
		// a decomposition; Hyndman & Athanasopoulos, FPP3 8.2).
		prev := m.level
		m.level = m.alpha*d + (1-m.alpha)*(prev+m.phi*m.trend)
		m.trend = m.beta*(m.level-prev) + (1-m.beta)*m.phi*m.trend
	}
	m.n++
	for i := range m.comp {
		c := &m.comp[i]
		c.c, c.s = c.c*c.cw-c.s*c.sw, c.s*c.cw+c.c*c.sw
		if m.n%1024 == 0 { // keep the rotation on the unit circle
			r := math.Hypot(c.c, c.s)
			c.c, c.s = c.c/r, c.s/r
		}
	}
}

func (m *spectralModel) forecast(h int) float64 {
	if h != m.cacheH {
		m.cacheH = h
		m.cacheSum = dampedSum(m.phi, h)
		for i := range m.comp {
			w := math.Atan2(m.comp[i].sw, m.comp[i].cw)
			m.cosH[i], m.sinH[i] = math.Cos(w*float64(h-1)), math.Sin(w*float64(h-1))
		}
	}
	v := m.level + m.cacheSum*m.trend
	for i := range m.comp {
		c := &m.comp[i]
		cc := c.c*m.cosH[i] - c.s*m.sinH[i]
		ss := c.s*m.cosH[i] + c.c*m.sinH[i]
		v += c.a*cc + c.b*ss
	}
	return v
}

// comboModel averages its parts' forecasts (each clamped to a rate).
type comboModel struct{ parts []model }

func (c *comboModel) update(y float64) {
	for _, p := range c.parts {
		p.update(y)
	}
}

func (c *comboModel) forecast(h int) float64 {
	s := 0.0
	for _, p := range c.parts {
		s += clampRate(p.forecast(h))
	}
	return s / float64(len(c.parts))
}
