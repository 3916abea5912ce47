package forecast

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestSelectChoosesSeasonalOnCycles(t *testing.T) {
	s := Synthetic(SyntheticOptions{Step: 10 * time.Minute, Len: 3 * 1008, Base: 100, Daily: 0.8, Weekly: 0.3, Noise: 0.02, Seed: 1})
	sel, err := Select(s, SelectOptions{Horizon: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	switch sel.Method {
	case Persistence, EWMA, Holt:
		t.Fatalf("chose %s on a strongly daily series: %s", sel.Method, sel.Reason)
	}
	if len(sel.Candidates) != len(allMethods) || sel.Horizon != 6 {
		t.Fatalf("candidates %d horizon %d", len(sel.Candidates), sel.Horizon)
	}
}

func TestSelectRandomWalkPrefersPersistence(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	v := make([]float64, 3000)
	x := 1000.0
	for i := range v {
		x = math.Max(0, x+10*rng.NormFloat64())
		v[i] = x
	}
	sel, err := Select(Series{Step: time.Minute, Values: v}, SelectOptions{Horizon: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	switch sel.Method {
	case Persistence, EWMA, Holt:
	default:
		t.Fatalf("chose %s on a random walk: %s", sel.Method, sel.Reason)
	}
}

func TestSelectBadInputs(t *testing.T) {
	n := 2000
	mk := func(f func(i int) float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = f(i)
		}
		return v
	}
	base := func(i int) float64 { return 100 + 50*math.Sin(2*math.Pi*float64(i)/144) }
	tests := []struct {
		name string
		v    []float64
		want string // substring of the reason, "" for any
	}{
		{"all NaN", mk(func(int) float64 { return math.NaN() }), ""},
		{"all zero", mk(func(int) float64 { return 0 }), ""},
		{"gaps", mk(func(i int) float64 {
			if i%7 == 0 || (i > 500 && i < 700) {
				return math.NaN()
			}
			return base(i)
		}), ""},
		{"counter resets", mk(func(i int) float64 {
			if i%100 == 0 {
				return -1e6
			}
			return base(i)
		}), ""},
		{"one huge outlier", mk(func(i int) float64 {
			if i == 1500 {
				return 1e12
			}
			return base(i)
		}), ""},
		{"infinities", mk(func(i int) float64 {
			if i%50 == 0 {
				return math.Inf(1)
			}
			return base(i)
		}), ""},
		{"shorter than a season", mk(base)[:30], "cold start"},
		{"empty", nil, "cold start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := Select(Series{Step: 10 * time.Minute, Values: tc.v}, SelectOptions{Horizon: 15 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && !strings.Contains(sel.Reason, tc.want) {
				t.Fatalf("reason %q lacks %q", sel.Reason, tc.want)
			}
			if math.IsNaN(sel.Loss) || sel.Loss < 0 {
				t.Fatalf("loss %g", sel.Loss)
			}
			on := NewOnline(Options{Step: 10 * time.Minute})
			t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, v := range tc.v {
				on.Observe(t0.Add(time.Duration(i)*10*time.Minute), v)
				if i%97 == 0 || i == len(tc.v)-1 {
					checkPrediction(t, on.Predict(t0.Add(time.Duration(i)*10*time.Minute), 15*time.Minute, 0.95))
				}
			}
			checkPrediction(t, on.Predict(t0.Add(time.Duration(len(tc.v)+5)*10*time.Minute), time.Hour, 0.99))
		})
	}
}

func checkPrediction(t *testing.T, p Prediction) {
	t.Helper()
	for _, v := range []float64{p.Point, p.Upper} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			t.Fatalf("bad prediction %+v", p)
		}
	}
	if p.Reason == "" || p.Method == "" {
		t.Fatalf("prediction without method or reason: %+v", p)
	}
}

func TestCleanSingleOutlierAndGaps(t *testing.T) {
	nan := math.NaN()
	out, filled, replaced := clean([]float64{nan, 10, nan, 30, 1e9, 30, 30, -5, 40, 500, 500, nan}, DefaultOutlierFactor)
	want := []float64{10, 10, 20, 30, 30, 30, 30, 35, 40, 500, 500, 500}
	for i := range want {
		if math.Abs(out[i]-want[i]) > 1e-9 {
			t.Fatalf("clean = %v, want %v", out, want)
		}
	}
	if filled != 4 || replaced != 1 {
		t.Fatalf("filled %d replaced %d", filled, replaced)
	}
}

func TestSelectManyMatchesSelect(t *testing.T) {
	var ss []Series
	for i := range 5 {
		ss = append(ss, Synthetic(SyntheticOptions{Step: 10 * time.Minute, Len: 1500, Base: 50, Daily: 0.5, Noise: 0.05, Seed: uint64(i)}))
	}
	ss = append(ss, Series{Step: 0})
	got, errs := SelectMany(ss, SelectOptions{Horizon: 30 * time.Minute}, 2)
	for i, s := range ss[:5] {
		want, err := Select(s, SelectOptions{Horizon: 30 * time.Minute})
		if err != nil || errs[i] != nil {
			t.Fatal(err, errs[i])
		}
		if got[i].Method != want.Method || got[i].Loss != want.Loss {
			t.Fatalf("series %d: SelectMany %s %g, Select %s %g", i, got[i].Method, got[i].Loss, want.Method, want.Loss)
		}
	}
	if errs[5] == nil {
		t.Fatal("zero step accepted")
	}
}

func TestSelectOptionErrors(t *testing.T) {
	s := Series{Step: time.Minute, Values: make([]float64, 100)}
	for _, o := range []SelectOptions{{}, {Horizon: time.Minute, Quantile: 1.5}, {Horizon: time.Minute, Methods: []Method{"nope"}}} {
		if _, err := Select(s, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	if _, err := Select(Series{Step: time.Millisecond}, SelectOptions{Horizon: time.Minute}); err == nil {
		t.Error("1ms step accepted")
	}
}

func TestSelectOddStepSkipsSeasons(t *testing.T) {
	s := Synthetic(SyntheticOptions{Step: 7 * time.Second, Len: 3000, Base: 10, Noise: 0.1, Seed: 1})
	sel, err := Select(s, SelectOptions{Horizon: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range sel.Candidates {
		if c.Method == HoltWintersDaily && !strings.Contains(c.Skipped, "does not divide a day") {
			t.Fatalf("hw-add-daily at a 7s step: %+v", c)
		}
	}
}

// A constant history (a class without traffic) skips the backtest; the
// choice and the band it gives are those of the full backtest.
func TestSelectConstantShortcut(t *testing.T) {
	for _, c := range []struct {
		v    float64
		step time.Duration
		n    int
	}{{0, 15 * time.Second, 3 * 5760}, {42.5, 10 * time.Minute, 3 * 1008}} {
		y := make([]float64, c.n)
		for i := range y {
			y[i] = c.v
		}
		o := SelectOptions{Horizon: 10 * time.Minute}.mustDefaults()
		fast := selectClean(y, c.step, o, newScratch())
		o.fullBacktest = true
		full := selectClean(y, c.step, o, newScratch())
		if fast.Method != full.Method || fast.PointMethod != full.PointMethod || fast.Params.String() != full.Params.String() ||
			fast.Loss != full.Loss || fast.PointLoss != full.PointLoss || fast.Scored != full.Scored || fast.scale != full.scale {
			t.Errorf("v=%g: shortcut %s/%s loss %g/%g scored %d, backtest %s/%s loss %g/%g scored %d",
				c.v, fast.Method, fast.PointMethod, fast.Loss, fast.PointLoss, fast.Scored, full.Method, full.PointMethod, full.Loss, full.PointLoss, full.Scored)
		}
		for _, q := range []float64{0.05, 0.5, 0.95, 0.99} {
			if a, b := fast.resid.quantile(q), full.resid.quantile(q); a != b {
				t.Errorf("v=%g: residual q%g %g, backtest %g", c.v, q, a, b)
			}
		}
		if !strings.Contains(fast.Reason, "constant") {
			t.Errorf("reason %q", fast.Reason)
		}
	}
}
