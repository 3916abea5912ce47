package simulations

import (
	"sort"
	"time"
)

// Incident is a time a class fell below its SLO: a run of 1-minute windows
// whose share within the latency target was under the SLO's percentile,
// merged with the next such run when less than incidentGap apart. It keeps
// the class's state at the scrape interval from incidentContext before its
// start to incidentGap after its end, which the run's Timeline (one point
// per chart step) is too coarse to show, and what the controller decided
// from decisionLookback before the start to the end, where the controller
// keeps a decision log (headroom does).
type Incident struct {
	Class string `json:"class"`
	// Start is the start of the first minute below target, End the end of
	// the last, both offsets from the run's start.
	Start        time.Duration `json:"start"`
	End          time.Duration `json:"end"`
	MinutesBelow int           `json:"minutesBelow"`
	// Requests finished (or failed) from Start to End, and how many of
	// them within the latency target.
	Requests   float64 `json:"requests"`
	WithinSLO  float64 `json:"withinSLO"`
	Attainment float64 `json:"attainment"`
	// Points are the class at every scrape. PointsDropped is set when the
	// run kept too many (maxFinePoints): the incidents that missed the
	// fewest requests lose theirs first. Truncated is set when one
	// incident had more than maxIncidentPoints.
	Points        []IncidentPoint  `json:"points,omitempty"`
	PointsDropped bool             `json:"pointsDropped,omitempty"`
	Truncated     bool             `json:"truncated,omitempty"`
	Decisions     []LoggedDecision `json:"decisions,omitempty"`
}

// Missed is how many requests of the incident were not within the target.
func (i Incident) Missed() float64 { return i.Requests - i.WithinSLO }

// IncidentPoint is one class over one scrape interval.
type IncidentPoint struct {
	T          time.Duration `json:"t"`        // end of the scrape interval, from the start
	Rate       float64       `json:"rate"`     // arrivals, req/s
	Capacity   float64       `json:"capacity"` // req/s of the ready replicas at full concurrency
	Replicas   int           `json:"replicas"` // ready replicas
	InFlight   float64       `json:"inflight"`
	P95        float64       `json:"p95Ms"`
	Attainment float64       `json:"attainment"` // 1 when idle
	Errors     float64       `json:"errors"`     // timeouts, drops and interrupted requests
}

// DecisionLogger is a controller that can say what it decided: the
// incidents list shows what it did just before each incident.
type DecisionLogger interface {
	// Decisions returns, oldest first, what the controller decided in
	// (from, to] about the class (its decision at every tick and the
	// actions on it) and about the fleet (nodegroups and nodes). It needs
	// to remember only the last decisionLookback and a little more: it is
	// asked when an incident opens and after every further minute of it.
	Decisions(class string, from, to time.Time) []LoggedDecision
}

// LoggedDecision is one line of a controller's decision log.
type LoggedDecision struct {
	At time.Duration `json:"at"` // offset from the run's start
	// Kind is "class" for the class's decision at a tick, else the
	// action's kind (scale-class, nodegroup-size, drain, ...) or
	// "not-done".
	Kind   string `json:"kind"`
	Target string `json:"target,omitempty"`
	What   string `json:"what"`
	Why    string `json:"why,omitempty"`
	Status string `json:"status,omitempty"`
}

const (
	incidentGap       = 5 * time.Minute  // closer runs of bad minutes are one incident
	incidentContext   = 5 * time.Minute  // points kept before an incident
	decisionLookback  = 10 * time.Minute // decisions kept before an incident
	maxIncidentPoints = 1440             // 6 hours at 15 s
	maxFinePoints     = 20000            // per run, over all incidents
	maxDecisions      = 100              // per incident
)

// incidentAcc is an open incident of one class.
type incidentAcc struct {
	start, lastBad  int64   // start of the first bad minute, end of the last
	n, within       float64 // since start
	badN, badWithin float64 // n and within at lastBad
	minutes         int
	points          []IncidentPoint
	truncated       bool
	decisions       []LoggedDecision
	fetched         int64 // decisions asked for up to here
}

func (inc *incidentAcc) add(p IncidentPoint) {
	if len(inc.points) >= maxIncidentPoints {
		inc.truncated = true
		return
	}
	inc.points = append(inc.points, p)
}

// finePoint is one scrape record as an incident point.
func (s *runStats) finePoint(r *scrapeRec) IncidentPoint {
	dt := float64(s.scrape) / 1e9
	att := 1.0
	if n := r.completed + r.errors; n > 0 {
		att = r.within / n
	}
	return IncidentPoint{T: time.Duration(r.at), Rate: round6(r.arrivals / dt), Capacity: round6(r.capacity), Replicas: r.replicas,
		InFlight: round6(r.inflight), P95: ms(r.lat.quantile(0.95)), Attainment: round6(att), Errors: round6(r.errors)}
}

// follow keeps class c's open incident up to date after scrape r at t:
// minute says a 1-minute window ended with r, below that it missed the
// class's target.
func (s *runStats) follow(w *World, c int, r *scrapeRec, t int64, minute, below bool) {
	a := &s.classes[c]
	inc := a.open
	if inc != nil {
		inc.add(s.finePoint(r))
		inc.n += r.completed + r.errors
		inc.within += r.within
	}
	if !minute {
		return
	}
	switch {
	case below && inc == nil:
		inc = &incidentAcc{start: t - int64(a.scr1)*s.scrape}
		inc.fetched = inc.start - int64(decisionLookback)
		if s.log != nil {
			inc.decisions = []LoggedDecision{} // a log, even if it says nothing
		}
		// The points before it and of its first minute are in the ring.
		from := inc.start - int64(incidentContext)
		for k := min(a.ringN, ringLen); k >= 1; k-- {
			rec := &a.ring[(a.ringNext-k+ringLen)%ringLen]
			if rec.at <= from {
				continue
			}
			inc.add(s.finePoint(rec))
			if rec.at > inc.start {
				inc.n += rec.completed + rec.errors
				inc.within += rec.within
			}
		}
		a.open = inc
	case !below && inc != nil && t-inc.lastBad >= int64(incidentGap):
		s.close(w, c)
		return
	}
	if below {
		inc.minutes++
		inc.lastBad = t
		inc.badN, inc.badWithin = inc.n, inc.within
		s.fetchDecisions(w, c, inc, t)
	}
}

// fetchDecisions adds the controller's decisions since the last fetch to
// the incident, the class's decision only where it changed (and the last
// one before the incident started, the one in force when it began).
func (s *runStats) fetchDecisions(w *World, c int, inc *incidentAcc, t int64) {
	if s.log == nil || inc.fetched >= t {
		return
	}
	ds := s.log.Decisions(w.classes[c].name, w.at(inc.fetched), w.at(t))
	inc.fetched = t
	inc.decisions = condense(inc.decisions, ds, time.Duration(inc.start))
	if len(inc.decisions) > maxDecisions {
		inc.decisions = inc.decisions[:maxDecisions]
	}
}

// condense appends ds to kept, leaving out a class decision whose What
// repeats the previous kept one, except the last one at or before start.
//
// Example: ticks at 09:50, 09:51, ..., 10:00 all say "needed 4, desired
// 4", the incident starts at 09:59:30: kept are 09:50 (the state when the
// lookback began) and 09:59:15 (the decision in force at the start, with
// the forecast it was made on).
func condense(kept, ds []LoggedDecision, start time.Duration) []LoggedDecision {
	lastClass := -1
	for i := len(kept) - 1; i >= 0; i-- {
		if kept[i].Kind == "class" {
			lastClass = i
			break
		}
	}
	// the last class decision at or before start, among ds
	inForce := -1
	for i, d := range ds {
		if d.Kind == "class" && d.At <= start {
			inForce = i
		}
	}
	for i, d := range ds {
		if d.Kind == "class" {
			if lastClass >= 0 && kept[lastClass].What == d.What && i != inForce {
				continue
			}
			lastClass = len(kept)
		}
		kept = append(kept, d)
	}
	return kept
}

// close ends class c's open incident at its last bad minute.
func (s *runStats) close(w *World, c int) {
	a := &s.classes[c]
	inc := a.open
	a.open = nil
	if inc == nil {
		return
	}
	end := inc.lastBad + int64(incidentGap)
	pts := inc.points
	for len(pts) > 0 && int64(pts[len(pts)-1].T) > end {
		pts = pts[:len(pts)-1]
	}
	in := Incident{Class: w.classes[c].name, Start: time.Duration(inc.start), End: time.Duration(inc.lastBad),
		MinutesBelow: inc.minutes, Requests: round6(inc.badN), WithinSLO: round6(inc.badWithin), Attainment: 1,
		Points: pts, Truncated: inc.truncated, Decisions: inc.decisions}
	if inc.badN > 0 {
		in.Attainment = round6(inc.badWithin / inc.badN)
	}
	s.incidents = append(s.incidents, in)
	s.finePts += len(pts)
	for s.finePts > maxFinePoints {
		k := -1
		for i := range s.incidents {
			if s.incidents[i].Points != nil && (k < 0 || s.incidents[i].Missed() < s.incidents[k].Missed()) {
				k = i
			}
		}
		s.finePts -= len(s.incidents[k].Points)
		s.incidents[k].Points, s.incidents[k].PointsDropped = nil, true
	}
}

// closeAll ends the open incidents at the end of the run and returns all,
// by start (then class).
func (s *runStats) closeAll(w *World) []Incident {
	for c := range s.classes {
		s.close(w, c)
	}
	out := s.incidents
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Start != out[j].Start {
			return out[i].Start < out[j].Start
		}
		return out[i].Class < out[j].Class
	})
	return out
}
