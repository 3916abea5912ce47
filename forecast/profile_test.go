package forecast

import (
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestProfileModel(t *testing.T) {
	// The worked example of profileModel's comment: period 4, 2 days,
	// additive, level equal to the profile's level.
	m := newProfile(Params{Period: 4, Days: 2, Alpha: 0.5})
	for _, v := range []float64{10, 20, 30, 40, 12, 22, 32, 42} {
		m.update(v)
	}
	// Profile at phase 0: (10+12)/2 = 11. Level EWMA over 12, 22, 32, 42
	// and the profile EWMA over 10, 20, 30, 40 (one day) differ by 2 at
	// the end, so the forecast is 11 + 2.
	if got := m.forecast(1); math.Abs(got-13) > 1e-9 {
		t.Fatalf("forecast %g, want 13", got)
	}
	// Multiplicative: 11 * (level/plevel).
	mm := newProfile(Params{Period: 4, Days: 2, Alpha: 1, Mul: true})
	for _, v := range []float64{10, 20, 30, 40, 20, 40, 60, 80} {
		mm.update(v)
	}
	if got, want := mm.forecast(1), 15*2.0; math.Abs(got-want) > 1e-9 {
		t.Fatalf("multiplicative forecast %g, want %g", got, want)
	}
}

// TestProfileScorerMatchesModel checks that the fast backtest of
// ProfileDaily scores exactly what running profileModel would.
func TestProfileScorerMatchesModel(t *testing.T) {
	s := Synthetic(SyntheticOptions{Step: 10 * time.Minute, Len: 10 * 144, Base: 50, Daily: 0.5, Weekly: 0.3, Noise: 0.1, Seed: 4})
	s.Values[700] = 0 // a drop to zero
	for _, h := range []int{1, 6, 150} {
		plan := evalPlan{h: h, from: len(s.Values) - 3*144, q: 0.95, scaleMin: 2.5}
		for _, p := range []Params{
			{Period: 144, Days: 3, Width: 1, Alpha: 0.15},
			{Period: 144, Days: 7, Width: 0, Alpha: 0.05, Mul: true},
			{Period: 144, Days: 1, Width: 71, Alpha: 0.7, Mul: true},
		} {
			start := max(0, plan.from-h-warmup(ProfileDaily, p, s.Step))
			sc := newScratch()
			wantQ, wantP := score(newProfile(p), s.Values, start, plan, sc)
			wantF := append([]float64(nil), sc.fc...)
			gotQ, gotP := newProfileScorer(s.Values, plan).score(p, start, sc)
			if math.Abs(gotQ-wantQ) > 1e-9*wantQ || math.Abs(gotP-wantP) > 1e-9*wantP || len(sc.fc) != len(wantF) {
				t.Fatalf("h=%d %v: scorer %g/%g (%d forecasts), model %g/%g (%d)", h, p, gotQ, gotP, len(sc.fc), wantQ, wantP, len(wantF))
			}
			for i := range wantF {
				if math.Abs(sc.fc[i]-wantF[i]) > 1e-9*(1+wantF[i]) {
					t.Fatalf("h=%d %v: forecast %d: scorer %g, model %g", h, p, i, sc.fc[i], wantF[i])
				}
			}
		}
	}
}

func TestTailQuantileMatchesSelect(t *testing.T) {
	for _, n := range []int{1, 8, 50, 511, 512, 513, 1000, 4320} {
		a := make([]float64, n)
		for i := range a {
			a[i] = math.Sin(float64(i*i)) * 10 // distinct-ish, unsorted
		}
		a[n/2] = a[0] // a tie
		if n > 1000 {
			for i := 0; i < n/10; i++ { // a run of equal values and a trend
				a[i] = 3
				a[n-1-i] = float64(i)
			}
		}
		for _, q := range []float64{0.01, 0.1, 0.5, 0.9, 0.95, 0.99} {
			want := empiricalQuantile(append([]float64(nil), a...), q)
			got, _ := tailQuantile(a, q, nil)
			if got != want {
				t.Fatalf("n=%d q=%g: %g, want %g", n, q, got, want)
			}
		}
	}
}

// TestProfileProperties: on any series (zeros, spikes, short), any
// parameters and any horizon, the fast scorer agrees with the model and
// every forecast is finite and, once clamped, a rate. Agreement is exact up
// to the last bits: the scorer reads the model's own sums, and a threshold
// (the multiplicative branch at a near-zero profile) must fall the same way.
func TestProfileProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		per := rapid.IntRange(2, 40).Draw(rt, "period")
		p := Params{
			Period: per,
			Days:   rapid.IntRange(1, 7).Draw(rt, "days"),
			Width:  rapid.IntRange(0, per).Draw(rt, "width"),
			Alpha:  rapid.SampledFrom(profileAlpha).Draw(rt, "alpha"),
			Mul:    rapid.Bool().Draw(rt, "mul"),
		}
		n := rapid.IntRange(4*per, 12*per).Draw(rt, "n")
		y := rapid.SliceOfN(rapid.OneOf(rapid.Float64Range(0, 100), rapid.SampledFrom([]float64{0, 1e-12, 1e9})), n, n).Draw(rt, "y")
		h := rapid.IntRange(1, min(2*per, n/2-1)).Draw(rt, "h")
		from := n - rapid.IntRange(h+1, n/2).Draw(rt, "eval")
		if from-h < 0 {
			return
		}
		plan := evalPlan{h: h, from: from, q: 0.95, scaleMin: 1}
		start := rapid.IntRange(0, from-h).Draw(rt, "start")
		sc := newScratch()
		wq, wp := score(newProfile(p), y, start, plan, sc)
		want := append([]float64(nil), sc.fc...)
		gq, gp := newProfileScorer(y, plan).score(p, start, sc)
		close := func(a, b float64) bool { return a == b || math.Abs(a-b) <= 1e-12*math.Abs(b) }
		if !close(gq, wq) || !close(gp, wp) || len(sc.fc) != len(want) {
			rt.Fatalf("scorer %g/%g (%d), model %g/%g (%d)", gq, gp, len(sc.fc), wq, wp, len(want))
		}
		for i := range want {
			if !close(sc.fc[i], want[i]) || math.IsNaN(want[i]) || math.IsInf(want[i], 0) || want[i] < 0 {
				rt.Fatalf("forecast %d: scorer %g, model %g", i, sc.fc[i], want[i])
			}
		}
		m := newProfile(p)
		for _, v := range y {
			m.update(v)
		}
		if f := m.forecast(h); math.IsNaN(f) || math.IsInf(f, 0) {
			rt.Fatalf("forecast %g", f)
		}
	})
}
