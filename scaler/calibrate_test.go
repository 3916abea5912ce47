package scaler

import (
	"math"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// flatBand is a stub inner forecaster whose upper band is a fixed factor
// over the last rate observed.
type flatBand struct {
	factor float64
	last   map[string]float64
}

func (f *flatBand) Observe(class string, _ time.Time, rate float64) {
	if f.last == nil {
		f.last = map[string]float64{}
	}
	f.last[class] = rate
}

func (f *flatBand) Predict(class string, _ time.Time, _ time.Duration, _ float64) Forecast {
	r := f.last[class]
	return Forecast{Point: r, Upper: r * f.factor, Method: "flat"}
}

// runCalibrated feeds rate(i) at 15 s ticks for n ticks, predicting after
// each observation as the controller does, and returns the last forecast.
func runCalibrated(c *Calibrated, n int, horizon time.Duration, rate func(i int) float64) Forecast {
	var f Forecast
	for i := range n {
		now := t0.Add(time.Duration(i) * 15 * time.Second)
		c.Observe("a", now, rate(i))
		f = c.Predict("a", now, horizon, 0.95)
	}
	return f
}

func TestCalibratedReserve(t *testing.T) {
	h := 10 * time.Minute
	for _, tc := range []struct {
		name       string
		rate       func(i int) float64
		n          int
		wantUpper  float64
		tol        float64
		calibrated bool
	}{
		// Bursts to 2,000 req/s for a minute every 4 minutes over a base of
		// 100: every 10-minute window holds a burst, so the band at a
		// quiet tick (upper 120) is raised by about 2,000-120.
		{"bursts", func(i int) float64 {
			if i%16 < 4 {
				return 2000
			}
			return 100
		}, 16*30 + 8, 2000, 1, true},
		// A steady rate never rises above its band: nothing is added.
		{"steady", func(int) float64 { return 500 }, 400, 600, 1e-9, false},
		// Too few residuals yet (the horizon is 40 ticks, 20 are needed).
		{"warming up", func(i int) float64 { return float64(100 + 50*(i%2)) }, 50, 150 * 1.2, 1e-9, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCalibrated(&flatBand{factor: 1.2})
			f := runCalibrated(c, tc.n, h, tc.rate)
			if math.Abs(f.Upper-tc.wantUpper) > tc.tol {
				t.Errorf("upper %.2f, want %.2f ± %g (%s)", f.Upper, tc.wantUpper, tc.tol, f.Reason)
			}
			if got := strings.Contains(f.Reason, "calibrated"); got != tc.calibrated {
				t.Errorf("reason %q: calibrated %v, want %v", f.Reason, got, tc.calibrated)
			}
		})
	}
}

// A second Predict at the same time (a re-plan) leaves the state as one.
func TestCalibratedPredictIdempotent(t *testing.T) {
	a, b := NewCalibrated(&flatBand{factor: 1.1}), NewCalibrated(&flatBand{factor: 1.1})
	rate := func(i int) float64 { return 100 + float64(i%7)*30 }
	for i := range 200 {
		now := t0.Add(time.Duration(i) * 15 * time.Second)
		a.Observe("a", now, rate(i))
		b.Observe("a", now, rate(i))
		a.Predict("a", now, 5*time.Minute, 0.9)
		fa := a.Predict("a", now, 5*time.Minute, 0.9)
		fb := b.Predict("a", now, 5*time.Minute, 0.9)
		if fa != fb {
			t.Fatalf("tick %d: %+v after two predictions, %+v after one", i, fa, fb)
		}
	}
	a.Forget("a")
	if f := a.Predict("a", t0, time.Minute, 0.9); strings.Contains(f.Reason, "calibrated") {
		t.Errorf("after Forget: %+v", f)
	}
}

// Property: the calibrated band is never below the inner band, and never
// above it by more than the largest rate seen.
func TestCalibratedBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rates := rapid.SliceOfN(rapid.Float64Range(0, 5000), 30, 300).Draw(t, "rates")
		h := time.Duration(rapid.IntRange(1, 40).Draw(t, "horizonTicks")) * 15 * time.Second
		inner := &flatBand{factor: 1.25}
		c := NewCalibrated(inner)
		peak := 0.0
		for i, r := range rates {
			now := t0.Add(time.Duration(i) * 15 * time.Second)
			c.Observe("a", now, r)
			peak = math.Max(peak, r)
			f := c.Predict("a", now, h, 0.95)
			in := inner.Predict("a", now, h, 0.95)
			if f.Upper < in.Upper || f.Upper > in.Upper+peak {
				t.Fatalf("tick %d: upper %.2f outside [%.2f, %.2f]", i, f.Upper, in.Upper, in.Upper+peak)
			}
		}
	})
}
