package forecast

import (
	"math"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func TestOnlineColdStartThenChoice(t *testing.T) {
	on := NewOnline(Options{Step: time.Minute})
	p := on.Predict(t0, 5*time.Minute, 0.95)
	if p.Point != 0 || !strings.Contains(p.Reason, "no observations") {
		t.Fatalf("empty: %+v", p)
	}
	on.Observe(t0, 10)
	on.Observe(t0.Add(time.Minute), 20)
	p = on.Predict(t0.Add(time.Minute), 5*time.Minute, 0.95)
	if p.Method != Persistence || p.Point != 20 || math.Abs(p.Upper-30) > 1e-9 || !strings.Contains(p.Reason, "cold start") {
		t.Fatalf("cold start: %+v", p)
	}
	s := Synthetic(SyntheticOptions{Step: time.Minute, Len: 3000, Base: 100, Daily: 0.5, Noise: 0.03, Seed: 2})
	for i, v := range s.Values {
		on.Observe(t0.Add(time.Duration(i+2)*time.Minute), v)
	}
	now := t0.Add(3001 * time.Minute)
	p = on.Predict(now, 5*time.Minute, 0.95)
	if strings.Contains(p.Reason, "cold start") || p.Upper < p.Point {
		t.Fatalf("after 3000 points: %+v", p)
	}
	// Quantiles are ordered in q.
	if lo, hi := on.Predict(now, 5*time.Minute, 0.5), on.Predict(now, 5*time.Minute, 0.99); lo.Upper > hi.Upper {
		t.Fatalf("q50 upper %g > q99 upper %g", lo.Upper, hi.Upper)
	}
}

func TestOnlineDecorators(t *testing.T) {
	on := NewOnline(Options{Step: time.Minute, ColdMargin: 0.01, Margin: 0.1, Floor: 100, PeakWindow: 3 * time.Minute})
	for i, v := range []float64{5, 50, 5, 5} {
		on.Observe(t0.Add(time.Duration(i)*time.Minute), v)
	}
	p := on.Predict(t0.Add(3*time.Minute), time.Minute, 0.95)
	if p.Upper != 100 || !strings.Contains(p.Reason, "floor") {
		t.Fatalf("floor: %+v", p)
	}
	on2 := NewOnline(Options{Step: time.Minute, ColdMargin: 0.01, Margin: 0.1, PeakWindow: 3 * time.Minute})
	for i, v := range []float64{5, 50, 5, 5} {
		on2.Observe(t0.Add(time.Duration(i)*time.Minute), v)
	}
	p = on2.Predict(t0.Add(3*time.Minute), time.Minute, 0.95)
	// cold start upper = 50*1.01 = 50.5 (the peak is within the 10 cold points); margin 10% -> 55.55.
	if math.Abs(p.Upper-55.55) > 1e-9 || !strings.Contains(p.Reason, "margin") {
		t.Fatalf("margin: %+v", p)
	}
}

func TestOnlineOutlierHeldThenReplaced(t *testing.T) {
	on := NewOnline(Options{Step: time.Minute})
	for i := range 20 {
		on.Observe(t0.Add(time.Duration(i)*time.Minute), 10)
	}
	on.Observe(t0.Add(20*time.Minute), 1e9) // held
	if on.Len() != 20 {
		t.Fatalf("outlier not held: len %d", on.Len())
	}
	on.Observe(t0.Add(21*time.Minute), 12)
	if on.Len() != 22 || on.hist[20] != 11 {
		t.Fatalf("outlier not replaced: %v", on.hist[18:])
	}
	// A level shift is kept.
	on.Observe(t0.Add(22*time.Minute), 500)
	on.Observe(t0.Add(23*time.Minute), 510)
	if on.hist[len(on.hist)-2] != 500 || on.hist[len(on.hist)-1] != 510 {
		t.Fatalf("level shift lost: %v", on.hist[18:])
	}
}

func TestOnlineGapsOrderAndMemory(t *testing.T) {
	on := NewOnline(Options{Step: time.Minute, History: time.Hour})
	on.Observe(t0, 10)
	on.Observe(t0.Add(4*time.Minute), 50) // 3 missing steps, interpolated
	want := []float64{10, 20, 30, 40, 50}
	for i, w := range want {
		if on.hist[i] != w {
			t.Fatalf("gap fill %v, want %v", on.hist, want)
		}
	}
	on.Observe(t0.Add(3*time.Minute), 1)             // out of order
	on.Observe(t0.Add(4*time.Minute+time.Second), 1) // same step
	on.Observe(t0.Add(5*time.Minute), math.NaN())
	on.Observe(t0.Add(5*time.Minute), -3) // a counter reset
	if on.Dropped != 4 || on.Len() != 5 {
		t.Fatalf("dropped %d len %d", on.Dropped, on.Len())
	}
	for i := range 10000 {
		on.Observe(t0.Add(time.Duration(i+6)*time.Minute), float64(i%60))
		if i%500 == 0 {
			on.Predict(t0.Add(time.Duration(i+6)*time.Minute), 5*time.Minute, 0.9)
		}
	}
	if on.Len() > 60+15 {
		t.Fatalf("history grew to %d points, capacity 60", on.Len())
	}
	// A gap longer than the history starts over.
	on.Observe(t0.Add(30*24*time.Hour), 7)
	if on.Len() != 1 {
		t.Fatalf("after a long gap len %d", on.Len())
	}
}

// TestOnlineProperties: whatever the input, predictions are finite and
// non-negative, and the upper quantile does not decrease with q.
func TestOnlineProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		step := time.Duration(rapid.SampledFrom([]int{10, 60, 600}).Draw(rt, "step")) * time.Second
		on := NewOnline(Options{
			Step:          step,
			Margin:        rapid.Float64Range(0, 1).Draw(rt, "margin"),
			PeakWindow:    time.Duration(rapid.IntRange(0, 5).Draw(rt, "peak")) * step,
			ReselectEvery: time.Duration(rapid.IntRange(1, 50).Draw(rt, "reselect")) * step,
		})
		n := rapid.IntRange(0, 400).Draw(rt, "n")
		vals := rapid.SliceOfN(rapid.OneOf(
			rapid.Float64Range(0, 1000),
			rapid.Float64Range(0, 1000),
			rapid.SampledFrom([]float64{0, math.NaN(), math.Inf(1), -1, 1e15}),
		), n, n).Draw(rt, "values")
		tt := t0
		for i, v := range vals {
			tt = tt.Add(time.Duration(rapid.IntRange(0, 3).Draw(rt, "advance")) * step)
			on.Observe(tt, v)
			if i%25 == 24 || i == len(vals)-1 {
				h := time.Duration(rapid.IntRange(1, 30).Draw(rt, "h")) * step
				prev := -1.0
				for _, q := range []float64{0.5, 0.8, 0.95, 0.99} {
					p := on.Predict(tt, h, q)
					if math.IsNaN(p.Point) || math.IsNaN(p.Upper) || p.Point < 0 || p.Upper < 0 || math.IsInf(p.Upper, 0) {
						rt.Fatalf("bad prediction %+v", p)
					}
					if p.Upper < prev-1e-9*math.Abs(prev) {
						rt.Fatalf("upper at q=%g is %g, below %g at a lower q", q, p.Upper, prev)
					}
					prev = p.Upper
				}
			}
		}
	})
}

func TestOnlineReselectsPeriodically(t *testing.T) {
	on := NewOnline(Options{Step: 10 * time.Minute, ReselectEvery: 6 * time.Hour})
	s := Synthetic(SyntheticOptions{Step: 10 * time.Minute, Len: 1500, Base: 100, Daily: 0.7, Noise: 0.02, Seed: 5})
	var chosen []time.Time
	for i, v := range s.Values {
		now := t0.Add(time.Duration(i) * 10 * time.Minute)
		on.Observe(now, v)
		on.Predict(now, 30*time.Minute, 0.95)
		if lm := on.live[3]; lm != nil && (len(chosen) == 0 || !lm.chosen.Equal(chosen[len(chosen)-1])) {
			chosen = append(chosen, lm.chosen)
		}
	}
	// Cold start re-chooses as data comes; after that, every 6 h: 1500
	// steps of 10 min are 250 h, so about 40 choices once warm.
	warm := 0
	for i := 1; i < len(chosen); i++ {
		if d := chosen[i].Sub(chosen[i-1]); d == 6*time.Hour {
			warm++
		}
	}
	if warm < 35 {
		t.Fatalf("%d re-choices 6 h apart, want about 40", warm)
	}
	// The online choice agrees with a batch Select on the same history.
	sel, err := Select(Series{Step: 10 * time.Minute, Values: on.hist}, SelectOptions{Horizon: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	lm := on.choose(t0, 3)
	if lm.sel.Method != sel.Method || lm.sel.PointMethod != sel.PointMethod {
		t.Fatalf("online chose %s/%s, batch %s/%s", lm.sel.Method, lm.sel.PointMethod, sel.Method, sel.PointMethod)
	}
}

func TestOnlineFeedsSpikeDetector(t *testing.T) {
	on := NewOnline(Options{Step: time.Minute})
	sd := NewSpikeDetector(SpikeOptions{})
	s := Synthetic(SyntheticOptions{Step: time.Minute, Len: 2000, Base: 50, Daily: 0.3, Noise: 0.03, Seed: 9})
	for i, v := range s.Values {
		on.Observe(t0.Add(time.Duration(i)*time.Minute), v)
	}
	now := t0.Add(1999 * time.Minute)
	p := on.Predict(now, 5*time.Minute, 0.95)
	// Raw samples every 5 s: normal load, then a burst of 3x the forecast.
	spikeAt := -1
	for k := range 60 {
		rate := p.Point
		if k >= 30 {
			rate = 3 * p.Upper
		}
		if r := sd.Observe(now.Add(time.Duration(k)*5*time.Second), rate, p.Band()); r.Spike && spikeAt < 0 {
			spikeAt = k
		}
	}
	if spikeAt < 30 || spikeAt > 33 {
		t.Fatalf("spike flagged at sample %d, want within 15 s of sample 30", spikeAt)
	}
}

func TestOnlineReselectOffset(t *testing.T) {
	s := Synthetic(SyntheticOptions{Step: 10 * time.Minute, Len: 600, Base: 100, Daily: 0.5, Noise: 0.02, Seed: 6})
	var on [2]*Online
	for i := range on {
		// -1: no stagger for the first, 3 h for the second.
		on[i] = NewOnline(Options{Step: 10 * time.Minute, ReselectEvery: 6 * time.Hour, ReselectOffset: time.Duration(i)*3*time.Hour - time.Duration(1-i)})
		for j, v := range s.Values {
			on[i].Observe(t0.Add(time.Duration(j)*10*time.Minute), v)
		}
	}
	now := t0.Add(599 * 10 * time.Minute)
	for i := range on {
		on[i].Predict(now, 30*time.Minute, 0.95)
	}
	// Three hours later only the offset one is due.
	later := now.Add(3 * time.Hour)
	before := [2]time.Time{on[0].live[3].chosen, on[1].live[3].chosen}
	for i := range on {
		on[i].Predict(later, 30*time.Minute, 0.95)
	}
	if !on[0].live[3].chosen.Equal(before[0]) || on[1].live[3].chosen.Equal(before[1]) {
		t.Fatalf("re-choices: %v -> %v, %v -> %v", before[0], on[0].live[3].chosen, before[1], on[1].live[3].chosen)
	}
}

// TestOnlineDefaultStagger: forecasters created with the same options (as
// the scaler creates one per class) re-choose on different ticks when their
// series differ, and on the same schedule for the same data.
func TestOnlineDefaultStagger(t *testing.T) {
	const n = 8
	every := time.Hour
	step := time.Minute
	offsets := map[time.Duration]int{}
	for i := 0; i < n; i++ {
		s := Synthetic(SyntheticOptions{Step: step, Len: 600, Base: 50 + float64(i), Daily: 0.3, Noise: 0.05, Seed: uint64(i)})
		on := NewOnline(Options{Step: step})
		for j, v := range s.Values {
			on.Observe(t0.Add(time.Duration(j)*step), v)
		}
		off := on.reselectOffset(15)
		if off < 0 || off >= every || off%step != 0 {
			t.Fatalf("offset %v: want whole steps in [0, %v)", off, every)
		}
		if again := on.reselectOffset(15); again != off {
			t.Fatalf("offset %v then %v for the same data", off, again)
		}
		offsets[off]++
	}
	// 8 offsets drawn from 60 steps collide with probability ~40% by the
	// birthday bound; at most two alike is what matters: the ticks spread.
	if len(offsets) < n-2 {
		t.Fatalf("offsets %v: %d distinct of %d", offsets, len(offsets), n)
	}
}
