package scaler

import (
	"testing"
	"time"
)

// Every parser in the package gets a fuzz test: none may panic, and what
// they accept must round-trip or stay in range.

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
