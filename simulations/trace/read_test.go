package trace

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const sharedTraces = "../../../shared/data/traces"

// sharedFile returns the path of a shared trace, skipping when it is absent
// (the shared data lives outside the repository).
func sharedFile(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(sharedTraces, name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared trace %s missing: %v", p, err)
		}
		t.Skipf("shared trace %s missing", p)
	}
	return p
}

func TestReadAzure(t *testing.T) {
	tr, err := ReadFile(sharedFile(t, "AzureLLMInferenceTrace_conv.csv"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Format != FormatRequests || len(tr.Requests) != 19366 {
		t.Fatalf("format %s, %d requests; want requests, 19366", tr.Format, len(tr.Requests))
	}
	r0 := tr.Requests[0]
	want := time.Date(2023, 11, 16, 18, 15, 46, 680590000, time.UTC)
	if !r0.Time.Equal(want) || r0.InputTokens != 374 || r0.OutputTokens != 44 {
		t.Fatalf("first request %+v, want %v 374/44", r0, want)
	}
	s, err := tr.Resample(time.Minute, ResampleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, v := range s.Values {
		total += v * 60
	}
	// Only the trailing partial minute is dropped.
	if len(s.Values) < 57 || total > 19366 || total < 19366-1500 {
		t.Fatalf("%d steps, %.0f requests counted", len(s.Values), total)
	}
}

func TestReadServeGen(t *testing.T) {
	tr, err := ReadFile(sharedFile(t, "servegen_language_m-mid_rate.csv"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Format != FormatRates || len(tr.Rates) != 2016 || tr.Window != 10*time.Minute {
		t.Fatalf("format %s, %d windows of %v", tr.Format, len(tr.Rates), tr.Window)
	}
	s, err := tr.Resample(10*time.Minute, ResampleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Values) != 2016 || math.Abs(s.Values[0]-986.565) > 1e-9 {
		t.Fatalf("len %d first %g", len(s.Values), s.Values[0])
	}
}

func TestResampleRequestsByClass(t *testing.T) {
	tr, err := ReadFile("testdata/requests_classes.csv", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tr.Classes(), ","); got != "a,b" {
		t.Fatalf("classes %q", got)
	}
	if tr.Requests[4].InputTokens != 0 || tr.Requests[1].Tenant != "acme" {
		t.Fatalf("rows %+v", tr.Requests)
	}
	tests := []struct {
		class string
		want  []float64
	}{
		{"", []float64{2, 1, 1, 0}}, // 4 s span, 1 s steps; the request at 4 s is in the dropped partial step
		{"a", []float64{1, 1}},      // a spans 0..2.5 s: two whole steps
	}
	for _, tc := range tests {
		s, err := tr.Resample(time.Second, ResampleOptions{Class: tc.class})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Values) != len(tc.want) {
			t.Fatalf("class %q: %v, want %v", tc.class, s.Values, tc.want)
		}
		for i := range tc.want {
			if math.Abs(s.Values[i]-tc.want[i]) > 1e-12 {
				t.Fatalf("class %q: %v, want %v", tc.class, s.Values, tc.want)
			}
		}
	}
	if _, err := tr.Resample(time.Second, ResampleOptions{Class: "zzz"}); !errors.Is(err, ErrEmpty) {
		t.Fatalf("unknown class: %v", err)
	}
}

func TestResampleRates(t *testing.T) {
	tr, err := ReadFile("testdata/rates_gap.csv", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	tests := []struct {
		name   string
		step   time.Duration
		interp Interp
		want   []float64
	}{
		{"same", time.Minute, Hold, []float64{10, 20, nan, 40, 50}},
		{"coarser", 2 * time.Minute, Hold, []float64{15, 40}}, // gap left out of the mean
		{"finer hold", 30 * time.Second, Hold, []float64{10, 10, 20, 20, nan, nan, 40, 40, 50, 50}},
		{"finer linear", 30 * time.Second, Linear, []float64{10, 12.5, 17.5, 20, 20, 40, 40, 42.5, 47.5, 50}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tr.Resample(tc.step, ResampleOptions{Interp: tc.interp})
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Values) != len(tc.want) {
				t.Fatalf("%v, want %v", s.Values, tc.want)
			}
			for i, w := range tc.want {
				g := s.Values[i]
				if math.IsNaN(w) != math.IsNaN(g) || (!math.IsNaN(w) && math.Abs(g-w) > 1e-9) {
					t.Fatalf("%v, want %v", s.Values, tc.want)
				}
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name, in string
		opts     ReadOptions
		is       error
		line     int
	}{
		{"empty", "", ReadOptions{}, ErrEmpty, 0},
		{"header only", "TIMESTAMP,ContextTokens\n", ReadOptions{}, ErrEmpty, 0},
		{"unknown header", "a,b\n1,2\n", ReadOptions{}, ErrFormat, 1},
		{"bad timestamp", "TIMESTAMP\n2023-11-16 18:17:03\nyesterday\n", ReadOptions{}, nil, 3},
		{"unsorted", "TIMESTAMP\n2023-11-16 18:17:03\n2023-11-16 18:17:02\n", ReadOptions{}, ErrUnsorted, 3},
		{"unsorted windows", "window_start_s,total_rate_rps\n0,1\n600,2\n600,3\n", ReadOptions{}, ErrUnsorted, 4},
		{"negative rate", "window_start_s,total_rate_rps\n0,1\n600,-2\n", ReadOptions{}, nil, 3},
		{"nan rate", "window_start_s,total_rate_rps\n0,NaN\n", ReadOptions{}, nil, 2},
		{"bad tokens", "TIMESTAMP,ContextTokens\n2023-11-16 18:17:03,x\n", ReadOptions{}, nil, 2},
		{"ragged row", "TIMESTAMP,ContextTokens\n2023-11-16 18:17:03\n", ReadOptions{}, nil, 2},
		{"too many rows", "TIMESTAMP\n1\n2\n3\n", ReadOptions{MaxRows: 2}, ErrTooLarge, 4},
		{"too many bytes", "TIMESTAMP\n" + strings.Repeat("1700000000\n", 100), ReadOptions{MaxBytes: 100}, ErrTooLarge, 0},
		{"one window", "window_start_s,total_rate_rps\n0,1\n", ReadOptions{}, ErrEmpty, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in), tc.opts)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v, want %v", err, tc.is)
			}
			var pe *ParseError
			if tc.line > 0 && (!errors.As(err, &pe) || pe.Line != tc.line) {
				t.Fatalf("error %v, want line %d", err, tc.line)
			}
		})
	}
}

func TestReadWindowOption(t *testing.T) {
	tr, err := Read(strings.NewReader("window_start_s,rate,class\n0,1,a\n"), ReadOptions{Window: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	s, err := tr.Resample(30*time.Second, ResampleOptions{Class: "a"})
	if err != nil || len(s.Values) != 2 || s.Values[1] != 1 {
		t.Fatalf("%v %v", s, err)
	}
}
