package simulations

import (
	"time"

	"github.com/headroom-dev/headroom/policies"
)

// Calendar is when a policy's time rules held over a run: the report
// shades them behind its charts, so a night-time pattern shows against
// the windows that allowed it.
type Calendar struct {
	// TimeZone is the IANA zone the report shows wall-clock time in: the
	// zone of the first disruption window, else of the first scheduled
	// minimum, else UTC.
	TimeZone string `json:"timeZone"`
	// Disruption is when voluntary disruption (consolidation, MIG
	// re-partitioning) was allowed, unless AnyTime: the policy has no
	// windows, so it always was.
	Disruption []Span `json:"disruption,omitempty"`
	AnyTime    bool   `json:"disruptionAnyTime,omitempty"`
	// Minimums are when a class's scheduled minimum raised its floor.
	Minimums []MinimumSpan `json:"minimums,omitempty"`
}

// Span is [From, To), offsets from the run's start.
type Span struct {
	From time.Duration `json:"from"`
	To   time.Duration `json:"to"`
}

// MinimumSpan is a span in which a class's floor was MinReplicas, above
// its minReplicas.
type MinimumSpan struct {
	Class       string `json:"class"`
	MinReplicas int    `json:"minReplicas"`
	Span
}

// calendarStep is how finely windows are found: cron has minute resolution.
const calendarStep = time.Minute

// CalendarOf evaluates the policy's disruption windows and scheduled
// minimums every minute from start for d, with the policy's own queries
// (Disruption.AllowedAt, ModelClass.MinReplicasAt).
func CalendarOf(p *policies.Policy, start time.Time, d time.Duration) Calendar {
	cal := Calendar{TimeZone: "UTC"}
	dis := p.Cluster.Spec.Disruption
	switch {
	case len(dis.Windows) > 0 && dis.Windows[0].TimeZone != "":
		cal.TimeZone = dis.Windows[0].TimeZone
	default:
		for _, c := range p.Classes {
			if sm := c.Spec.Scaling.ScheduledMinimums; len(sm) > 0 && sm[0].TimeZone != "" {
				cal.TimeZone = sm[0].TimeZone
				break
			}
		}
	}
	if _, err := time.LoadLocation(cal.TimeZone); err != nil {
		cal.TimeZone = "UTC"
	}
	// spans turns a predicate sampled every step into [from, to) runs.
	spans := func(on func(time.Time) (bool, int)) []MinimumSpan {
		var out []MinimumSpan
		open := false
		for off := time.Duration(0); off < d; off += calendarStep {
			ok, v := on(start.Add(off))
			if open && (!ok || out[len(out)-1].MinReplicas != v) {
				out[len(out)-1].To, open = off, false
			}
			if ok && !open {
				out, open = append(out, MinimumSpan{MinReplicas: v, Span: Span{From: off}}), true
			}
		}
		if open {
			out[len(out)-1].To = d
		}
		return out
	}
	cal.AnyTime = len(dis.Windows) == 0
	if !cal.AnyTime {
		for _, s := range spans(func(t time.Time) (bool, int) { return dis.AllowedAt(t), 0 }) {
			cal.Disruption = append(cal.Disruption, s.Span)
		}
	}
	for i := range p.Classes {
		c := &p.Classes[i]
		if len(c.Spec.Scaling.ScheduledMinimums) == 0 {
			continue
		}
		base := max(c.Spec.Scaling.MinReplicas, 0)
		for _, s := range spans(func(t time.Time) (bool, int) { f := c.MinReplicasAt(t); return f > base, f }) {
			s.Class = c.Name
			cal.Minimums = append(cal.Minimums, s)
		}
	}
	return cal
}
