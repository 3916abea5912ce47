package scaler

import (
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestHistogramPercentile(t *testing.T) {
	h := NewHistogram(0.01, 1.05, 24*time.Hour)
	for i := 1; i <= 100; i++ {
		h.AddSample(float64(i)/100, 1, t0)
	}
	for _, tc := range []struct{ p, want float64 }{{0.5, 0.5}, {0.9, 0.9}, {1, 1}} {
		got := h.Percentile(tc.p)
		// Upper bucket edge: within one bucket (5%) above the true value.
		if got < tc.want || got > tc.want*1.051 {
			t.Errorf("p%.0f = %.4f, want in [%.3f, %.3f]", tc.p*100, got, tc.want, tc.want*1.05)
		}
	}
	h.AddSample(math.NaN(), 1, t0)
	h.AddSample(-1, 1, t0)
	h.AddSample(1, math.Inf(1), t0)
	if got := h.Percentile(1); got > 1.051 {
		t.Errorf("bad samples changed the histogram: p100 = %v", got)
	}
}

// New samples outweigh old ones: one half-life later, a sample counts twice.
func TestHistogramDecays(t *testing.T) {
	h := NewHistogram(0.01, 1.05, time.Hour)
	for range 10 {
		h.AddSample(1, 1, t0)
	}
	for range 10 {
		h.AddSample(4, 1, t0.Add(3*time.Hour)) // weight 8 each
	}
	if got := h.Percentile(0.5); got < 4 {
		t.Fatalf("median %.2f: old samples not decayed", got)
	}
	// Far in the future the reference moves; still finite.
	h.AddSample(2, 1, t0.Add(1000*time.Hour))
	if got := h.Percentile(0.5); math.IsNaN(got) || math.IsInf(got, 0) || got < 1.9 {
		t.Fatalf("after rebase median %.2f", got)
	}
}

func TestVerticalRecommend(t *testing.T) {
	v := NewVertical(VerticalOptions{})
	if _, _, ok := v.Recommend(); ok {
		t.Fatal("recommendation without data")
	}
	for i := range 1440 {
		v.Observe(PodUsage{CPUCores: 2, MemoryBytes: 4 << 30}, t0.Add(time.Duration(i)*time.Minute))
	}
	r, why, ok := v.Recommend()
	if !ok || math.Abs(r.CPUCores-2.3)/2.3 > 0.06 || math.Abs(r.MemoryBytes-1.15*(4<<30))/(1.15*(4<<30)) > 0.06 {
		t.Fatalf("got %+v (%s), want cpu 2.3, memory 4.6 GiB within one bucket", r, why)
	}
	before := r.MemoryBytes
	for range 200 {
		v.Observe(PodUsage{CPUCores: 2, MemoryBytes: 4 << 30, OOMKilled: true}, t0.Add(25*time.Hour))
	}
	if r, _, _ := v.Recommend(); r.MemoryBytes <= before {
		t.Fatalf("OOM kills did not raise memory: %v <= %v", r.MemoryBytes, before)
	}
	small := NewVertical(VerticalOptions{})
	small.Observe(PodUsage{CPUCores: 0.001, MemoryBytes: 1}, t0)
	if _, why, ok := small.Recommend(); ok {
		t.Fatalf("recommended on one sample: %s", why)
	}
	small.Observe(PodUsage{CPUCores: 0.001, MemoryBytes: 1}, t0.Add(time.Hour))
	if r, _, _ := small.Recommend(); r.CPUCores < 0.1 || r.MemoryBytes < 250<<20 {
		t.Fatalf("floors not applied: %+v", r)
	}
}

func TestConfidenceDecorator(t *testing.T) {
	h := NewHistogram(0.01, 1.05, 24*time.Hour)
	h.AddSample(1, 1, t0)
	h.AddSample(1, 1, t0.Add(time.Minute))
	upper := WithConfidence(Percentile(0.95), 1, 1).Estimate(h)
	lower := WithConfidence(Percentile(0.5), 0.001, -2).Estimate(h)
	if !(upper > 100) || !(lower < 1) {
		t.Fatalf("little history must widen bounds: upper %v lower %v", upper, lower)
	}
}

func TestRightSize(t *testing.T) {
	ok := Sizing{Feasible: true, Replicas: 3}
	bad := Sizing{Reason: "service time alone misses the SLO"}
	opts := []ProfileOption{
		{GPU: "H100-80GB", Profile: "whole", UsableGiB: 79.25, Compute: 7, Sizing: ok},
		{GPU: "H100-80GB", Profile: "3g.40gb", UsableGiB: 39.5, Compute: 3, Sizing: ok},
		{GPU: "H100-80GB", Profile: "2g.20gb", UsableGiB: 19.62, Compute: 2, Sizing: bad},
		{GPU: "H100-80GB", Profile: "1g.20gb", UsableGiB: 19.62, Compute: 1, Sizing: bad},
		{GPU: "H100-80GB", Profile: "1g.10gb", UsableGiB: 9.75, Compute: 1, Sizing: ok},
	}
	for _, tc := range []struct {
		need float64
		want string
	}{{5, "1g.10gb"}, {12, "3g.40gb"}, {50, "whole"}, {90, ""}} {
		i, why := RightSize(opts, tc.need)
		got := ""
		if i >= 0 {
			got = opts[i].Profile
		}
		if got != tc.want || why == "" {
			t.Errorf("need %.0f GiB: got %q (%s), want %q", tc.need, got, why, tc.want)
		}
	}
}

// The chosen profile always holds the need and is feasible, and no smaller
// feasible profile holding the need exists.
func TestRightSizeProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 8).Draw(t, "n")
		opts := make([]ProfileOption, n)
		for i := range opts {
			opts[i] = ProfileOption{Profile: string(rune('a' + i)), UsableGiB: rapid.Float64Range(1, 80).Draw(t, "gib"),
				Compute: rapid.IntRange(1, 7).Draw(t, "compute"), Sizing: Sizing{Feasible: rapid.Bool().Draw(t, "feasible")}}
		}
		need := rapid.Float64Range(0, 90).Draw(t, "need")
		i, _ := RightSize(opts, need)
		for j, o := range opts {
			fits := o.Sizing.Feasible && o.UsableGiB >= need
			if i < 0 && fits {
				t.Fatalf("none chosen but %d fits", j)
			}
			if i >= 0 && fits && o.UsableGiB < opts[i].UsableGiB {
				t.Fatalf("chose %d (%.1f GiB) but %d (%.1f GiB) is smaller", i, opts[i].UsableGiB, j, o.UsableGiB)
			}
		}
		if i >= 0 && (!opts[i].Sizing.Feasible || opts[i].UsableGiB < need) {
			t.Fatalf("chose an unfit profile %+v", opts[i])
		}
	})
}
