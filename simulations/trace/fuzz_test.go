package trace

import (
	"math"
	"strings"
	"testing"
	"time"
)

// FuzzRead checks that Read never panics, and that whatever it accepts
// passes Check, resamples at its own window (a rate trace), and resamples
// to a series of finite, non-negative rates or NaN gaps.
func FuzzRead(f *testing.F) {
	f.Add("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 18:17:04.0319600,3180,8\n")
	f.Add("window_start_s,total_rate_rps\n0,986.5\n600,1044.08\n")
	f.Add("window_start_s,rate,class\n0,1,a\n60,2,a\n0,3,b\n")
	f.Add("timestamp,class,tenant\n1700000000.5,a,t\n1700000001,b,u\n")
	f.Add("\ufefftime\n2024-01-01T00:00:00Z\n")
	f.Add(nanoWindows)
	f.Fuzz(func(t *testing.T, in string) {
		tr, err := Read(strings.NewReader(in), ReadOptions{MaxBytes: 1 << 16, MaxRows: 1000})
		if err != nil {
			return
		}
		if err := tr.Check(); err != nil {
			t.Fatalf("Read accepted a trace that fails Check: %v", err)
		}
		if tr.Format == FormatRates {
			if _, err := tr.Resample(tr.Window, ResampleOptions{}); err != nil {
				t.Fatalf("a rate trace Read accepted does not resample at its window %v: %v", tr.Window, err)
			}
		}
		for _, step := range []time.Duration{time.Second, time.Minute} {
			s, err := tr.Resample(step, ResampleOptions{Interp: Linear})
			if err != nil {
				continue
			}
			for _, v := range s.Values {
				if v < 0 || math.IsInf(v, 0) {
					t.Fatalf("bad rate %g from %q", v, in)
				}
			}
		}
	})
}
