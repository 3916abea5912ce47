package scaler

import (
	"testing"
	"time"
)

// Every parser in the package gets a fuzz test: none may panic, and what
// they accept must round-trip or stay in range.

func FuzzParseMIGConfig(f *testing.F) {
	for _, s := range []string{"all-disabled", "all-3g.40gb", "all-2x3g.40gb", "all-1x4g.40gb-1x3g.40gb", "headroom-0badc0de", "all-", "all-x", "all-9999999999999999999x1g"} {
		f.Add(s)
	}
	h100 := defaultCatalog.GPUs["H100-80GB"]
	f.Fuzz(func(t *testing.T, s string) {
		counts, ok := ParseMIGConfig(s)
		if !ok {
			return
		}
		for _, v := range counts {
			if v < 0 {
				t.Fatalf("%q: negative count", s)
			}
		}
		if c, ok := layoutCounts(h100, s); ok {
			name := MIGConfigName(c)
			back, ok := ParseMIGConfig(name)
			if !ok {
				t.Fatalf("%q -> %q does not parse back", s, name)
			}
			if MIGConfigName(back) != name {
				t.Fatalf("%q -> %q -> %q", s, name, MIGConfigName(back))
			}
		}
	})
}

func FuzzParseBudget(f *testing.F) {
	for _, s := range []string{"", "1", "25%", "0", "-1", "abc%", "1e9%", "100%"} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1_000_000 {
			return
		}
		if got := parseBudget(s, n); got < 1 {
			t.Fatalf("parseBudget(%q, %d) = %d < 1", s, n, got)
		}
	})
}

func FuzzParseSchedule(f *testing.F) {
	f.Add("30 8 * * 1-5", "Europe/Berlin", int64(10*time.Hour))
	f.Add("@hourly", "", int64(time.Minute))
	f.Add("* * * * *", "UTC", int64(0))
	f.Add("61 25 * * *", "Nowhere/Else", int64(-1))
	f.Fuzz(func(t *testing.T, expr, tz string, d int64) {
		s, err := ParseSchedule(expr, tz, time.Duration(d))
		if err != nil {
			return
		}
		open, since := s.Open(t0)
		if open && (since.After(t0) || t0.Sub(since) >= time.Duration(d)) {
			t.Fatalf("%q %s %v: open since %v at %v", expr, tz, time.Duration(d), since, t0)
		}
	})
}
