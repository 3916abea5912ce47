package forecast

import (
	"math"
	"testing"
	"time"
)

// run feeds y to md and returns its forecast h steps after the end.
func run(md model, y []float64, h int) float64 {
	for _, v := range y {
		md.update(v)
	}
	return md.forecast(h)
}

func TestModelsRecoverKnownShapes(t *testing.T) {
	const period = 96
	season := func(i int) float64 { return 100 + 30*math.Sin(2*math.Pi*float64(i)/period) }
	periodic := make([]float64, 10*period)
	for i := range periodic {
		periodic[i] = season(i)
	}
	linear := make([]float64, 500)
	for i := range linear {
		linear[i] = 10 + 0.5*float64(i)
	}
	flat := make([]float64, 300)
	for i := range flat {
		flat[i] = 42
	}
	n := len(periodic)
	tests := []struct {
		name string
		md   model
		y    []float64
		h    int
		want float64
		tol  float64
	}{
		{"persistence", &persistModel{}, linear, 5, linear[len(linear)-1], 1e-12},
		{"ewma on a constant", &ewmaModel{alpha: 0.3}, flat, 10, 42, 1e-9},
		{"seasonal naive", newSeasonalNaive(period), periodic, 7, season(n - 1 + 7), 1e-9},
		{"seasonal naive beyond a period", newSeasonalNaive(period), periodic, period + 3, season(n - 1 + period + 3), 1e-9},
		{"holt on a line", &holtModel{alpha: 0.5, beta: 0.3, phi: 1}, linear, 10, 10 + 0.5*float64(len(linear)-1+10), 1e-6},
		{"hw additive", newHW(Params{Alpha: 0.2, Gamma: 0.2, Phi: 0.98, Period: period}, false), periodic, 10, season(n - 1 + 10), 0.01},
		{"hw multiplicative", newHW(Params{Alpha: 0.2, Gamma: 0.2, Phi: 0.98, Period: period}, true), periodic, 10, season(n - 1 + 10), 0.5},
		{"spectral", newSpectral(fitSpectrum(periodic, 0), Params{Alpha: 0.1}, 0), periodic, 10, season(n - 1 + 10), 0.5},
		{"profile additive", newProfile(Params{Period: period, Days: 3, Alpha: 0.1}), periodic, 10, season(n - 1 + 10), 1e-9},
		{"profile multiplicative, smoothed", newProfile(Params{Period: period, Days: 7, Width: 1, Alpha: 0.1, Mul: true}), periodic, 10, season(n - 1 + 10), 0.1},
		{"profile beyond a period", newProfile(Params{Period: period, Days: 3, Alpha: 0.1}), periodic, period + 3, season(n - 1 + period + 3), 1e-9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(tc.md, tc.y, tc.h); math.Abs(got-tc.want) > tc.tol {
				t.Fatalf("forecast %g, want %g +- %g", got, tc.want, tc.tol)
			}
		})
	}
}

func TestSpectrumFindsPeriods(t *testing.T) {
	s := Synthetic(SyntheticOptions{Step: 10 * time.Minute, Len: 4 * 1008, Base: 100, Daily: 0.6, Weekly: 0.3, Noise: 0.05, Seed: 3})
	sp := fitSpectrum(s.Values, 144)
	if len(sp.periods) == 0 {
		t.Fatal("no period found")
	}
	if math.Abs(sp.periods[0]-144) > 1 {
		t.Fatalf("strongest period %g steps, want 144 (a day at 10m)", sp.periods[0])
	}
	hasWeek := false
	for _, p := range sp.periods {
		if math.Abs(p-1008) < 10 {
			hasWeek = true
		}
	}
	if !hasWeek {
		t.Fatalf("periods %v lack the week (1008 steps)", sp.periods)
	}
	// White noise has no period worth keeping.
	noise := Synthetic(SyntheticOptions{Step: time.Minute, Len: 3000, Base: 100, Noise: 0.2, Seed: 4})
	if sp := fitSpectrum(noise.Values, 1440); len(sp.comp) > 1 {
		t.Fatalf("found periods %v in white noise", sp.periods)
	}
}

func TestSmoothLen(t *testing.T) {
	for _, tc := range []struct{ n, want int }{{20160, 20000}, {1024, 1024}, {1031, 1024}, {17, 16}, {7, 6}} {
		if got := smoothLen(tc.n); got != tc.want {
			t.Errorf("smoothLen(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

func TestStepsFor(t *testing.T) {
	for _, tc := range []struct {
		h, step time.Duration
		want    int
	}{{15 * time.Minute, 10 * time.Minute, 2}, {15 * time.Minute, time.Minute, 15}, {0, time.Minute, 1}, {time.Second, time.Minute, 1}} {
		if got := stepsFor(tc.h, tc.step); got != tc.want {
			t.Errorf("stepsFor(%v, %v) = %d, want %d", tc.h, tc.step, got, tc.want)
		}
	}
}

func TestPinballAndQuantile(t *testing.T) {
	if got := Pinball(0.95, 10, 8); math.Abs(got-1.9) > 1e-12 {
		t.Fatalf("under-forecast loss %g", got)
	}
	if got := Pinball(0.95, 8, 10); math.Abs(got-0.1) > 1e-12 {
		t.Fatalf("over-forecast loss %g", got)
	}
	a := make([]float64, 100)
	for i := range a {
		a[(i*37)%100] = float64(i)
	}
	if got := empiricalQuantile(a, 0.95); got != 94 {
		t.Fatalf("q95 of 0..99 = %g, want 94", got)
	}
	sk := newSketch([]float64{3, 1, 2})
	if sk.quantile(0) != 1 || sk.quantile(1) != 3 || sk.quantile(0.5) != 2 {
		t.Fatalf("sketch %v", sk)
	}
}
