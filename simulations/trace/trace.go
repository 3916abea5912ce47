package trace

import (
	"math"
	"sort"
	"time"
)

// Format says what one row of a trace file is.
type Format string

const (
	// FormatRequests is one row per request, with its arrival time.
	FormatRequests Format = "requests"
	// FormatRates is one row per fixed window, with the mean rate in it.
	FormatRates Format = "rates"
)

// Request is one recorded request.
type Request struct {
	Time         time.Time
	Class        string // model class; "" when the trace has no class column
	Tenant       string // "" when the trace has no tenant column
	InputTokens  int    // ContextTokens in the Azure traces; 0 when absent
	OutputTokens int    // GeneratedTokens in the Azure traces; 0 when absent
}

// RateWindow is the mean request rate of one class over one window.
type RateWindow struct {
	Start time.Time
	Rate  float64 // requests per second, >= 0
	Class string  // "" when the trace has no class column
}

// Trace is a parsed trace file. Exactly one of Requests and Rates is set,
// according to Format.
type Trace struct {
	Format   Format
	Requests []Request     // FormatRequests: in time order
	Rates    []RateWindow  // FormatRates: in file order, starts increasing per class
	Window   time.Duration // FormatRates: the length of each window
}

// Classes returns the distinct class names in the trace, sorted. A trace
// without a class column has the single class "".
func (t *Trace) Classes() []string {
	seen := map[string]bool{}
	for _, r := range t.Requests {
		seen[r.Class] = true
	}
	for _, r := range t.Rates {
		seen[r.Class] = true
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// Span returns the time covered by the trace: from the first request (or
// window start) to the last request (or the end of the last window).
func (t *Trace) Span() (start, end time.Time) {
	switch t.Format {
	case FormatRequests:
		if len(t.Requests) > 0 {
			return t.Requests[0].Time, t.Requests[len(t.Requests)-1].Time
		}
	case FormatRates:
		for i, r := range t.Rates {
			if i == 0 || r.Start.Before(start) {
				start = r.Start
			}
			if e := r.Start.Add(t.Window); i == 0 || e.After(end) {
				end = e
			}
		}
	}
	return start, end
}

// Series is a regularly sampled rate series: Values[i] is the mean rate in
// requests per second over [Start+i*Step, Start+(i+1)*Step). A NaN value
// means no data for that step.
type Series struct {
	Start  time.Time
	Step   time.Duration
	Values []float64
}

// Time returns the start of step i.
func (s Series) Time(i int) time.Time { return s.Start.Add(time.Duration(i) * s.Step) }

// Gaps returns how many steps have no data (NaN).
func (s Series) Gaps() int {
	n := 0
	for _, v := range s.Values {
		if math.IsNaN(v) {
			n++
		}
	}
	return n
}
