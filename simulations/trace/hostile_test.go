package trace

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// nanoWindows is a rate trace whose windows start 1 ns apart, so the
// window length inferred is 1 ns, and whose last window is 4 months on:
// 10^16 windows if anything allocated a grid of them.
const nanoWindows = "window_start_s,rate\n0,1\n0.000000001,1\n10000000,1\n"

// TestReadBoundsWindows: a rate trace of more than MaxSteps windows is
// too large to read, from CSV and from a Prometheus response alike, so
// `trace stats` and `simulate` reject it the same way.
func TestReadBoundsWindows(t *testing.T) {
	_, err := Read(strings.NewReader(nanoWindows), ReadOptions{})
	if !IsTooLarge(err) || !strings.Contains(err.Error(), "windows of 1ns") {
		t.Fatalf("CSV: want a too-large error about 1ns windows, got %v", err)
	}
	prom := `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[0,"1"],[0.001,"1"],[100000000,"1"]]}]}}`
	if _, err := ReadProm(strings.NewReader(prom), ReadOptions{}); !IsTooLarge(err) {
		t.Fatalf("Prometheus: want a too-large error, got %v", err)
	}
	// The same span in windows of a minute reads.
	if _, err := Read(strings.NewReader("window_start_s,rate\n0,1\n60,1\n10000000,1\n"), ReadOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestCheck: a trace built in code gets the same answer as one read; a
// span over what a time.Duration holds is refused instead of saturating.
func TestCheck(t *testing.T) {
	epoch := time.Unix(0, 0)
	for _, tc := range []struct {
		name string
		tr   *Trace
		is   error
	}{
		{"nanosecond windows", &Trace{Format: FormatRates, Window: time.Nanosecond,
			Rates: []RateWindow{{Start: epoch, Rate: 1}, {Start: epoch.Add(time.Hour), Rate: 1}}}, ErrTooLarge},
		{"no window", &Trace{Format: FormatRates, Rates: []RateWindow{{Start: epoch, Rate: 1}}}, nil},
		{"requests over 300 years", &Trace{Format: FormatRequests,
			Requests: []Request{{Time: epoch}, {Time: epoch.AddDate(300, 0, 0)}}}, ErrTooLarge},
		{"rates over 300 years", &Trace{Format: FormatRates, Window: 24 * time.Hour,
			Rates: []RateWindow{{Start: epoch, Rate: 1}, {Start: epoch.AddDate(300, 0, 0), Rate: 1}}}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tr.Check()
			if err == nil || tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("want an error (%v), got %v", tc.is, err)
			}
		})
	}
	ok := &Trace{Format: FormatRates, Window: time.Minute, Rates: []RateWindow{{Start: epoch, Rate: 1}}}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestSteps: the one step count every series is allocated by.
func TestSteps(t *testing.T) {
	for _, tc := range []struct {
		span, step time.Duration
		want       int
		err        bool
	}{
		{time.Minute, 10 * time.Second, 6, false},
		{61 * time.Second, 10 * time.Second, 7, false},
		{0, time.Second, 1, false},
		{time.Second, time.Minute, 1, false},
		{-time.Second, time.Minute, 1, false},
		{time.Hour, 0, 0, true},
		{time.Hour, -time.Second, 0, true},
		{MaxSteps * time.Second, time.Second, MaxSteps, false},
		{MaxSteps*time.Second + 1, time.Second, 0, true},
		{time.Duration(1<<62) + 1<<61, time.Nanosecond, 0, true},
	} {
		got, err := Steps(tc.span, tc.step)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("Steps(%v, %v) = %d, %v; want %d, error %v", tc.span, tc.step, got, err, tc.want, tc.err)
		}
	}
}

// TestReadLongLine: an input without line breaks stops at MaxLineBytes
// instead of being buffered whole (trace stats /dev/zero took 4 GB).
func TestReadLongLine(t *testing.T) {
	r := io.LimitReader(zeros{}, 1<<30)
	_, err := Read(r, ReadOptions{})
	if !IsTooLarge(err) || !strings.Contains(err.Error(), "a line longer than") {
		t.Fatalf("got %v", err)
	}
	// Rows up to the bound read.
	long := "timestamp,class\n1700000000," + strings.Repeat("c", MaxLineBytes-20) + "\n"
	if _, err := Read(strings.NewReader(long), ReadOptions{}); err != nil {
		t.Fatal(err)
	}
}

// zeros reads as an endless run of NUL bytes, like /dev/zero, and counts
// nothing: a test that read it whole would not end.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
