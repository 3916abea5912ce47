package scaler

import (
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var t0 = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC) // a Monday

func TestCorrectionUpdate(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name      string
		mult      float64
		obs, pred time.Duration
		want      float64
	}{
		{"as predicted", 1, 200 * ms, 200 * ms, 1},
		{"30% slower", 1, 260 * ms, 200 * ms, math.Sqrt(1.3)},
		{"step clamped", 1, 2000 * ms, 200 * ms, 1.25},
		{"faster", 1, 150 * ms, 200 * ms, math.Sqrt(0.75)},
		{"bounded above", 3.9, 400 * ms, 200 * ms, 4},
		{"bounded below", 0.5, 100 * ms, 200 * ms, 0.5},
		{"no observation", 1.2, 0, 200 * ms, 1.2},
		{"unstable prediction", 1.2, 300 * ms, time.Duration(math.MaxInt64), 1.2},
		{"nan multiplier resets", math.NaN(), 200 * ms, 200 * ms, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := DefaultCorrection.Update(tc.mult, tc.obs, tc.pred)
			if math.Abs(got-tc.want) > 1e-9 || why == "" {
				t.Fatalf("got %.4f (%s), want %.4f", got, why, tc.want)
			}
		})
	}
}

// A class whose replicas are 40% slower than declared converges to a
// multiplier near 1.4 when the "world" is the model with the true service time.
func TestCorrectionConverges(t *testing.T) {
	svc := ServiceModel{Mean: 50 * time.Millisecond, P95: 100 * time.Millisecond, Concurrency: 1}
	truth := svc
	truth.Multiplier = 1.4
	mult := 1.0
	for range 30 {
		s := svc
		s.Multiplier = mult
		pred, _ := PredictLatency(40, 4, s, 95)
		obs, _ := PredictLatency(40, 4, truth, 95)
		mult, _ = DefaultCorrection.Update(mult, obs, pred)
	}
	if math.Abs(mult-1.4) > 0.05 {
		t.Fatalf("multiplier %.3f, want 1.4 ± 0.05", mult)
	}
}

func TestPanicStep(t *testing.T) {
	in := func(rate float64, needed, ready int) PanicInput {
		return PanicInput{ShortRate: rate, ShortNeeded: needed, Ready: ready, Threshold: 2, Stable: 60 * time.Second}
	}
	type step struct {
		at    time.Duration
		in    PanicInput
		want  int
		panic bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"no spike", []step{{0, in(10, 3, 4), 0, false}}},
		{"spike enters panic", []step{{0, in(100, 8, 4), 8, true}}},
		{"holds the peak while panicking", []step{
			{0, in(100, 8, 4), 8, true},
			{10 * time.Second, in(50, 5, 8), 8, true},
			{30 * time.Second, in(300, 20, 8), 20, true},
			{80 * time.Second, in(20, 4, 20), 20, true},
		}},
		{"leaves after the stable window", []step{
			{0, in(100, 8, 4), 8, true},
			{61 * time.Second, in(20, 4, 8), 0, false},
		}},
		{"nan rate never triggers", []step{{0, in(math.NaN(), 100, 1), 0, false}}},
		{"no ready replicas counts as one", []step{{0, in(5, 2, 0), 2, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st PanicState
			for i, s := range tc.steps {
				var got int
				var why string
				st, got, why = PanicStep(st, s.in, t0.Add(s.at))
				if got != s.want || st.Panicking() != s.panic {
					t.Fatalf("step %d: got %d panicking=%v (%s), want %d %v", i, got, st.Panicking(), why, s.want, s.panic)
				}
				if got > 0 && why == "" {
					t.Fatalf("step %d: no reason", i)
				}
			}
		})
	}
}

func hpaDefaults() Behavior {
	return Behavior{
		Tolerance: 0.1,
		Up:        Rule{Percent: 100, Pods: 4, Period: 15 * time.Second},
		Down:      Rule{Stabilization: 300 * time.Second, Percent: 100, Period: 15 * time.Second},
	}
}

func TestBehave(t *testing.T) {
	type step struct {
		at           time.Duration
		current, raw int
		want         int
	}
	slowDown := hpaDefaults()
	slowDown.Down = Rule{Stabilization: 0, Pods: 1, Period: time.Minute}
	noDown := hpaDefaults()
	noDown.Down.Disabled = true
	for _, tc := range []struct {
		name  string
		b     Behavior
		steps []step
	}{
		{"within tolerance", hpaDefaults(), []step{{0, 10, 11, 10}}},
		{"up at once, limited to max(+100%, +4)", hpaDefaults(), []step{{0, 2, 20, 6}}},
		{"up from 10 doubles", hpaDefaults(), []step{{0, 10, 50, 20}}},
		{"second up in same period counts the first", hpaDefaults(), []step{
			{0, 2, 20, 6}, {5 * time.Second, 6, 20, 6}, {16 * time.Second, 6, 20, 12}}},
		{"down waits for the stabilization window", hpaDefaults(), []step{
			{0, 10, 10, 10}, {60 * time.Second, 10, 4, 10}, {200 * time.Second, 10, 4, 10}, {301 * time.Second, 10, 4, 4}}},
		{"down rate limit one pod a minute", slowDown, []step{
			{0, 10, 4, 9}, {30 * time.Second, 9, 4, 9}, {61 * time.Second, 9, 4, 8}}},
		{"down disabled", noDown, []step{{0, 10, 2, 10}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st BehaviorState
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				got, why := Behave(&st, tc.b, s.current, s.raw, now)
				if got != s.want {
					t.Fatalf("step %d: current %d raw %d: got %d (%s), want %d", i, s.current, s.raw, got, why, s.want)
				}
				st.Record(now, s.current, got)
			}
		})
	}
}

// Behave never moves against the recommendation and never overshoots it.
func TestBehaveProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := Behavior{
			Tolerance: rapid.Float64Range(0, 0.3).Draw(t, "tol"),
			Up:        Rule{Stabilization: time.Duration(rapid.IntRange(0, 120).Draw(t, "upStab")) * time.Second, Percent: rapid.IntRange(0, 200).Draw(t, "upPct"), Pods: rapid.IntRange(0, 8).Draw(t, "upPods"), Period: 15 * time.Second},
			Down:      Rule{Stabilization: time.Duration(rapid.IntRange(0, 600).Draw(t, "downStab")) * time.Second, Percent: rapid.IntRange(0, 100).Draw(t, "downPct"), Pods: rapid.IntRange(0, 8).Draw(t, "downPods"), Period: 15 * time.Second},
		}
		var st BehaviorState
		current := rapid.IntRange(0, 50).Draw(t, "start")
		for i := range 20 {
			now := t0.Add(time.Duration(i) * 15 * time.Second)
			raw := rapid.IntRange(0, 100).Draw(t, "raw")
			got, _ := Behave(&st, b, current, raw, now)
			lo, hi := min(current, raw), max(current, raw)
			if got < lo || got > hi {
				t.Fatalf("tick %d: current %d raw %d -> %d outside [%d,%d]", i, current, raw, got, lo, hi)
			}
			st.Record(now, current, got)
			current = got
		}
	})
}
