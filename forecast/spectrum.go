package forecast

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/dsp/fourier"
)

// spectrum is the periodic part the spectral estimator found in a history.
type spectrum struct {
	comp    []component // phases (c, s) are at index origin of the series
	periods []float64   // in steps, strongest first
	origin  int         // series index where the fitted window starts
}

// Limits of the period search.
const (
	maxSpectralComponents = 12
	// A component is kept when its power is at least this fraction of the
	// strongest one's; weaker peaks are mostly noise and leakage.
	minRelativePower = 0.02
)

// fitSpectrum finds the strongest periodic components of y: it takes the
// longest tail of y that spans whole weeks (two or more) or whole days
// (day is a day in steps), so daily and weekly cycles fall on exact
// frequency bins and do not leak; failing that, the longest tail whose
// length has no prime factor above 5 (so the FFT is fast). It removes the least-squares line, takes
// the real FFT, and keeps up to maxSpectralComponents frequency bins that
// are local maxima of the periodogram, have at least two whole cycles in
// the window and a period of at least 3 steps, carry at least
// minRelativePower of the strongest bin's power, and stand out of the noise:
// for white noise each periodogram bin is exponential with the noise power
// as mean (estimated as median/ln 2), so a bin above ln(n/2)+4 times that
// is a false peak with probability about e^-4 over the whole periodogram
// (the idea of Fisher's g test). The component of bin k with coefficient
// X_k is (2/n)(Re X_k cos(wt) - Im X_k sin(wt)), w = 2*pi*k/n (the
// inverse DFT of a real series, pairing bins k and n-k).
func fitSpectrum(y []float64, day int) spectrum {
	if len(y) < 16 {
		return spectrum{}
	}
	n := len(y)
	switch {
	case day > 0 && n >= 14*day:
		n -= n % (7 * day)
	case day > 0 && n >= 2*day:
		n -= n % day
	default:
		n = smoothLen(n)
	}
	origin := len(y) - n
	y = y[origin:]
	// Least-squares line through (t, y_t).
	var st, sy, stt, sty float64
	for t, v := range y {
		ft := float64(t)
		st += ft
		sy += v
		stt += ft * ft
		sty += ft * v
	}
	fn := float64(n)
	den := fn*stt - st*st
	slope := 0.0
	if den != 0 {
		slope = (fn*sty - st*sy) / den
	}
	icpt := (sy - slope*st) / fn
	x := make([]float64, n)
	for t, v := range y {
		x[t] = v - icpt - slope*float64(t)
	}
	coef := fourier.NewFFT(n).Coefficients(nil, x)
	power := func(k int) float64 { return real(coef[k])*real(coef[k]) + imag(coef[k])*imag(coef[k]) }
	type peak struct {
		k int
		p float64
	}
	var peaks []peak
	for k := 2; k < len(coef) && float64(n)/float64(k) >= 3; k++ {
		p := power(k)
		if p <= 0 || (k > 1 && p < power(k-1)) || (k+1 < len(coef) && p < power(k+1)) {
			continue
		}
		peaks = append(peaks, peak{k, p})
	}
	all := make([]float64, 0, len(coef))
	for k := 1; k < len(coef); k++ {
		all = append(all, power(k))
	}
	noise := selectK(all, len(all)/2) / math.Ln2
	threshold := noise * (math.Log(fn/2) + 4)
	sort.Slice(peaks, func(i, j int) bool {
		if peaks[i].p != peaks[j].p {
			return peaks[i].p > peaks[j].p
		}
		return peaks[i].k < peaks[j].k
	})
	sp := spectrum{origin: origin}
	for _, pk := range peaks {
		if len(sp.comp) == maxSpectralComponents || pk.p < minRelativePower*peaks[0].p || pk.p < threshold {
			break
		}
		w := 2 * math.Pi * float64(pk.k) / fn
		sp.comp = append(sp.comp, component{
			a:  2 * real(coef[pk.k]) / fn,
			b:  -2 * imag(coef[pk.k]) / fn,
			c:  1, // phase at t = 0
			cw: math.Cos(w),
			sw: math.Sin(w),
		})
		sp.periods = append(sp.periods, fn/float64(pk.k))
	}
	return sp
}

// smoothLen returns the largest m <= n, m >= 0.8n, whose prime factors are
// all 2, 3 or 5 (a length the FFT handles fast); n itself when none is
// found.
func smoothLen(n int) int {
	for m := n; m >= n-n/5 && m > 0; m-- {
		r := m
		for _, p := range []int{2, 3, 5} {
			for r%p == 0 {
				r /= p
			}
		}
		if r == 1 {
			return m
		}
	}
	return n
}
