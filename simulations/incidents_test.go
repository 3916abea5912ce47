package simulations

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/simulations/trace"
)

// Ten good minutes and five bad ones: the whole-run share (83%) hides what
// the worst 5-minute window (50%) and the minutes below target (5) show.
func TestIncidentWindows(t *testing.T) {
	scrape := 15 * time.Second
	a := classAcc{worst5: 1, target: 0.95, scrapes5: 20, scr1: 4}
	at := int64(0)
	feed := func(scrapes int, within float64) {
		for range scrapes {
			at += int64(scrape)
			a.incidents(&scrapeRec{completed: 100, within: within}, at)
		}
	}
	feed(40, 100) // 10 minutes, all within
	feed(20, 50)  // 5 minutes, half within
	feed(3, 0)    // a partial window is not counted yet
	if a.worst5 != 0.5 || time.Duration(a.worst5At) != 15*time.Minute {
		t.Errorf("worst 5m %.2f at %v, want 0.50 at 15m", a.worst5, time.Duration(a.worst5At))
	}
	if a.minutesBelow != 5 {
		t.Errorf("minutes below %v, want 5", a.minutesBelow)
	}
	// Errors (timeouts, drops) count as not within.
	b := classAcc{worst5: 1, target: 0.95, scrapes5: 1, scr1: 1}
	b.incidents(&scrapeRec{completed: 90, errors: 10, within: 90}, 1)
	if b.worst5 != 0.9 || b.minutesBelow != 1 {
		t.Errorf("with 10%% errors: worst %.2f, below %v", b.worst5, b.minutesBelow)
	}
	// Idle windows are not incidents.
	c := classAcc{worst5: 1, target: 0.95, scrapes5: 2, scr1: 1}
	c.incidents(&scrapeRec{}, 1)
	c.incidents(&scrapeRec{}, 2)
	if c.worst5 != 1 || c.minutesBelow != 0 {
		t.Errorf("idle: worst %.2f, below %v", c.worst5, c.minutesBelow)
	}
}

// A load step the running replicas cannot serve: headroom scales up, the
// new nodes take minutes to boot, and the class falls below its SLO. The
// incident keeps the class at every scrape from 5 minutes before it, and
// what the controller decided before and during it.
func TestIncidentKeepsPointsAndDecisions(t *testing.T) {
	p, err := policies.Load("testdata/policies/two-readers")
	if err != nil {
		t.Fatal(err)
	}
	tr := &trace.Trace{Format: trace.FormatRates, Window: time.Minute}
	for m := range 30 {
		rate := 400.0
		if m >= 12 {
			rate = 2400
		}
		tr.Rates = append(tr.Rates, trace.RateWindow{Start: time.Unix(int64(60*m), 0).UTC(), Class: "reader-large", Rate: rate},
			trace.RateWindow{Start: time.Unix(int64(60*m), 0).UTC(), Class: "reader-base", Rate: 100})
	}
	wl, err := NewWorkload(tr, WorkloadOptions{Classes: classNames(p), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), RunOptions{Policy: p, Workload: wl, Controller: NewHeadroom(scaler.Options{}), Seed: 1, Mode: ModeFlow,
		World: WorldOptions{SpotInterruptionsPerHour: -1, SpotShortfall: -1}})
	if err != nil {
		t.Fatal(err)
	}
	var inc *Incident
	for i := range r.Incidents {
		t.Logf("incident %s %v-%v %.4f, %d points, %d decisions", r.Incidents[i].Class, r.Incidents[i].Start, r.Incidents[i].End, r.Incidents[i].Attainment, len(r.Incidents[i].Points), len(r.Incidents[i].Decisions))
		if r.Incidents[i].Class == "reader-large" && inc == nil {
			inc = &r.Incidents[i]
		}
	}
	if inc == nil {
		t.Fatalf("no incident of reader-large after the step: %+v", r.Classes)
	}
	for _, d := range inc.Decisions {
		t.Logf("%v %s %s %s: %s", d.At, d.Kind, d.Status, d.What, d.Why)
	}
	if inc.Start < 12*time.Minute || inc.End <= inc.Start || inc.Attainment >= 0.95 || inc.MinutesBelow < 1 {
		t.Errorf("incident %v-%v, %.4f within, %d minutes below: want one after the step at 12m, below 95%%", inc.Start, inc.End, inc.Attainment, inc.MinutesBelow)
	}
	// Points at the scrape interval, from 5 minutes before to 5 after.
	if n := len(inc.Points); n < 40 {
		t.Fatalf("%d points", n)
	}
	if first := inc.Points[0].T; first > inc.Start-4*time.Minute {
		t.Errorf("first point at %v, want 5 minutes before the start %v", first, inc.Start)
	}
	for i := 1; i < len(inc.Points); i++ {
		if d := inc.Points[i].T - inc.Points[i-1].T; d != 15*time.Second {
			t.Fatalf("points %d and %d are %v apart, want the scrape interval", i-1, i, d)
		}
	}
	// The decision in force at the start, and the scale-up it made.
	var inForce, scaled bool
	for _, d := range inc.Decisions {
		if d.At < inc.Start-decisionLookback || d.At > inc.End {
			t.Errorf("decision at %v outside the incident's lookback and end", d.At)
		}
		inForce = inForce || (d.Kind == "class" && d.At <= inc.Start && d.At > inc.Start-time.Minute)
		scaled = scaled || (d.Kind == string(scaler.ActScaleClass) && d.Target == "reader-large")
	}
	if !inForce || !scaled {
		t.Errorf("decisions: class decision at the start %v, scale-up %v", inForce, scaled)
	}
	if c := r.Classes[0]; c.Worst5mP95Ms < c.P95Ms {
		t.Errorf("%s: worst 5-minute p95 %.1f ms below the whole run's %.1f", c.Class, c.Worst5mP95Ms, c.P95Ms)
	}
}

func TestCondense(t *testing.T) {
	var ds []LoggedDecision
	for s := 0; s <= 600; s += 15 {
		ds = append(ds, LoggedDecision{At: time.Duration(s) * time.Second, Kind: "class", What: "needed 4"})
	}
	ds = append(ds, LoggedDecision{At: 601 * time.Second, Kind: "scale-class", What: "scale-class r 4 -> 5"},
		LoggedDecision{At: 615 * time.Second, Kind: "class", What: "needed 5"})
	got := condense(nil, ds, 570*time.Second)
	var at []time.Duration
	for _, d := range got {
		at = append(at, d.At)
	}
	want := []time.Duration{0, 570 * time.Second, 601 * time.Second, 615 * time.Second}
	if !slices.Equal(at, want) {
		t.Errorf("kept %v, want %v", at, want)
	}
	// A later fetch repeating the last decision adds nothing.
	if more := condense(got, []LoggedDecision{{At: 630 * time.Second, Kind: "class", What: "needed 5"}}, 570*time.Second); len(more) != len(got) {
		t.Errorf("repeat kept: %v", more)
	}
}
