package trace

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestResampleConservesRequests: resampling a per-request trace counts
// every request in the kept whole steps exactly once, at any step.
func TestResampleConservesRequests(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(1, 300).Draw(rt, "n")
		gaps := rapid.SliceOfN(rapid.IntRange(0, 5000), n, n).Draw(rt, "gapsMs")
		var b strings.Builder
		b.WriteString("timestamp\n")
		t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		ts := t0
		var times []time.Time
		for _, g := range gaps {
			ts = ts.Add(time.Duration(g) * time.Millisecond)
			times = append(times, ts)
			fmt.Fprintf(&b, "%s\n", ts.Format(time.RFC3339Nano))
		}
		tr, err := Read(strings.NewReader(b.String()), ReadOptions{})
		if err != nil {
			rt.Fatal(err)
		}
		step := time.Duration(rapid.IntRange(1, 120).Draw(rt, "stepSec")) * time.Second
		s, err := tr.Resample(step, ResampleOptions{})
		if err != nil {
			rt.Fatal(err)
		}
		end := s.Start.Add(time.Duration(len(s.Values)) * step)
		// A trace shorter than one step is kept whole in one step;
		// otherwise the trailing partial step is dropped.
		short := times[len(times)-1].Sub(times[0]) < step
		want := 0
		for _, x := range times {
			if x.Before(end) || short {
				want++
			}
		}
		got := 0.0
		for _, v := range s.Values {
			if v < 0 || math.IsNaN(v) {
				rt.Fatalf("rate %g", v)
			}
			got += v * step.Seconds()
		}
		if math.Abs(got-float64(want)) > 1e-6 {
			rt.Fatalf("counted %g requests, want %d", got, want)
		}
	})
}

// TestResampleRatesConservesVolume: averaging rate windows to a coarser
// step that divides the trace keeps the total volume (rate x time).
func TestResampleRatesConservesVolume(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		k := rapid.IntRange(1, 6).Draw(rt, "k")
		n := k * rapid.IntRange(1, 40).Draw(rt, "blocks")
		rates := rapid.SliceOfN(rapid.Float64Range(0, 1e4), n, n).Draw(rt, "rates")
		var b strings.Builder
		b.WriteString("window_start_s,total_rate_rps\n")
		vol := 0.0
		for i, r := range rates {
			fmt.Fprintf(&b, "%d,%g\n", 60*i, r)
			vol += r * 60
		}
		tr, err := Read(strings.NewReader(b.String()), ReadOptions{Window: time.Minute})
		if err != nil {
			rt.Fatal(err)
		}
		s, err := tr.Resample(time.Duration(k)*time.Minute, ResampleOptions{})
		if err != nil {
			rt.Fatal(err)
		}
		got := 0.0
		for _, v := range s.Values {
			got += v * float64(k) * 60
		}
		if math.Abs(got-vol) > 1e-6*math.Max(1, vol) {
			rt.Fatalf("volume %g, want %g", got, vol)
		}
	})
}
