package trace

import (
	"math"
	"sort"
	"time"
)

// Stats summarizes a trace for `headroom trace stats`.
type Stats struct {
	Format   Format       `json:"format"`
	Rows     int          `json:"rows"`
	Start    time.Time    `json:"start"`
	End      time.Time    `json:"end"`
	Span     string       `json:"span"`
	Window   string       `json:"window,omitempty"`
	Requests float64      `json:"requests"` // counted, or rate x window summed
	MeanRate float64      `json:"meanRate"`
	Peaks    []Peak       `json:"peaks"`
	Gaps     int          `json:"gapWindows"`
	Classes  []ClassStats `json:"classes"`
	Tokens   *TokenStats  `json:"tokens,omitempty"`
}

// Peak is the highest rate at one resolution, and its ratio to the mean.
type Peak struct {
	Step   string  `json:"step"`
	Rate   float64 `json:"rate"`
	ToMean float64 `json:"peakToMean"`
}

// ClassStats is one class's share of a trace.
type ClassStats struct {
	Class    string  `json:"class"`
	Requests float64 `json:"requests"`
	Share    float64 `json:"share"`
}

// TokenStats summarizes token counts of a per-request trace.
type TokenStats struct {
	MeanInput, MeanOutput float64
	P95Input, P95Output   int
}

// Summarize computes the trace's Stats: totals, the mean rate and the peak
// rate at 1s, 10s, 1m and 10m (steps finer than a rate trace's window are
// skipped: they would only repeat the window's rate).
func (t *Trace) Summarize() Stats {
	s := Stats{Format: t.Format}
	s.Start, s.End = t.Span()
	span := s.End.Sub(s.Start)
	s.Span = span.String()
	per := map[string]float64{}
	switch t.Format {
	case FormatRequests:
		s.Rows = len(t.Requests)
		s.Requests = float64(len(t.Requests))
		for _, r := range t.Requests {
			per[r.Class]++
		}
		if len(t.Requests) > 0 {
			in := make([]int, len(t.Requests))
			out := make([]int, len(t.Requests))
			ts := &TokenStats{}
			for i, r := range t.Requests {
				in[i], out[i] = r.InputTokens, r.OutputTokens
				ts.MeanInput += float64(r.InputTokens)
				ts.MeanOutput += float64(r.OutputTokens)
			}
			ts.MeanInput /= float64(len(in))
			ts.MeanOutput /= float64(len(out))
			sort.Ints(in)
			sort.Ints(out)
			ts.P95Input, ts.P95Output = in[len(in)*95/100], out[len(out)*95/100]
			if ts.MeanInput > 0 || ts.MeanOutput > 0 {
				s.Tokens = ts
			}
		}
	case FormatRates:
		s.Rows = len(t.Rates)
		s.Window = t.Window.String()
		for _, r := range t.Rates {
			n := r.Rate * t.Window.Seconds()
			per[r.Class] += n
			s.Requests += n
		}
	}
	if span > 0 {
		s.MeanRate = s.Requests / span.Seconds()
	}
	for _, step := range []time.Duration{time.Second, 10 * time.Second, time.Minute, 10 * time.Minute} {
		if t.Format == FormatRates && step < t.Window {
			continue
		}
		if span > 0 && step > span {
			continue
		}
		ser, err := t.Resample(step, ResampleOptions{})
		if err != nil {
			continue
		}
		p := Peak{Step: step.String()}
		gaps := 0
		for _, v := range ser.Values {
			if math.IsNaN(v) {
				gaps++
				continue
			}
			p.Rate = math.Max(p.Rate, v)
		}
		if s.MeanRate > 0 {
			p.ToMean = p.Rate / s.MeanRate
		}
		if t.Format == FormatRates && step == max(t.Window, time.Second) {
			s.Gaps = gaps
		}
		s.Peaks = append(s.Peaks, p)
	}
	names := make([]string, 0, len(per))
	for c := range per {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		cs := ClassStats{Class: c, Requests: per[c]}
		if s.Requests > 0 {
			cs.Share = per[c] / s.Requests
		}
		s.Classes = append(s.Classes, cs)
	}
	return s
}
