package simulations

import (
	"context"
	"fmt"
	"time"

	"github.com/headroom-dev/headroom/scaler"
)

// NewHeadroom returns the factory of headroom's own controller: the real
// scaler core (scaler.New, (*Controller).Tick), not a copy of it, driven
// on the virtual clock through the world's Metrics, Cluster and Cloud.
// Logging is a no-op and no Prometheus registry is used. A Forecaster set
// in opts is one object every run of the factory shares (Compare runs
// contenders at once): leave it nil, or give each contender its own.
func NewHeadroom(opts scaler.Options) ControllerFactory {
	return func(env Env) (Controller, error) {
		opts := opts // a factory may serve runs going at once
		if opts.Catalog == nil {
			opts.Catalog = env.Catalog
		}
		c, err := scaler.New(opts, env.Policy, env.Metrics, env.Cluster, env.Cloud, nil, nil)
		if err != nil {
			return nil, err
		}
		return &headroomCtrl{c: c, interval: c.Interval(), bands: map[string][2]float64{}, start: env.Start}, nil
	}
}

type headroomCtrl struct {
	c        *scaler.Controller
	interval time.Duration
	bands    map[string][2]float64
	// Failed counts actions the world refused; NotDone what a tick could
	// not do, for the report.
	failed int
	start  time.Time // the run's, for the log's offsets
	// log holds the last logTicks decisions, oldest overwritten first.
	log     [logTicks]scaler.Decision
	logNext int
}

// logTicks covers the decision lookback of an incident and a little more
// at the default 15 s interval.
const logTicks = 48

func (h *headroomCtrl) Name() string            { return "headroom" }
func (h *headroomCtrl) Interval() time.Duration { return h.interval }

func (h *headroomCtrl) Tick(ctx context.Context, now time.Time) error {
	d, err := h.c.Tick(ctx, now)
	for _, cd := range d.Classes {
		if cd.DataOK {
			h.bands[cd.Class] = [2]float64{cd.Forecast, cd.ForecastUp}
		}
	}
	h.failed += d.Count("", scaler.StatusFailed)
	h.log[h.logNext] = d
	h.logNext = (h.logNext + 1) % logTicks
	return err
}

// Decisions implements DecisionLogger from the last logTicks ticks: the
// class's decision at each, the actions on the class and every action on
// nodegroups and nodes, and what a tick could not do.
func (h *headroomCtrl) Decisions(class string, from, to time.Time) []LoggedDecision {
	var out []LoggedDecision
	for k := range logTicks {
		d := &h.log[(h.logNext+k)%logTicks]
		if d.At.IsZero() || !d.At.After(from) || d.At.After(to) {
			continue
		}
		at := d.At.Sub(h.start)
		if cd, ok := d.Class(class); ok {
			out = append(out, LoggedDecision{At: at, Kind: "class", Target: class, What: classWhat(cd),
				Why: fmt.Sprintf("forecast %.2f req/s (upper %.2f, %s) %v ahead, planned %.2f, observed %.2f: %s",
					cd.Forecast, cd.ForecastUp, cd.Method, cd.Horizon, cd.PlannedRate, cd.ObservedRate, cd.Reason)})
		}
		for _, a := range d.Actions {
			if a.Target != class && !fleetAction(a.Kind) {
				continue
			}
			what := fmt.Sprintf("%s %s", a.Kind, a.Target)
			if a.From != "" || a.To != "" {
				what += fmt.Sprintf(" %s -> %s", a.From, a.To)
			}
			why := a.Reason
			if a.Error != "" {
				why += " [" + a.Error + "]"
			}
			out = append(out, LoggedDecision{At: at, Kind: string(a.Kind), Target: a.Target, What: what, Why: why, Status: a.Status})
		}
		for _, nd := range d.NotDone {
			out = append(out, LoggedDecision{At: at, Kind: "not-done", What: nd})
		}
	}
	return out
}

func classWhat(cd scaler.ClassDecision) string {
	if !cd.DataOK {
		return fmt.Sprintf("held at %d: %s", cd.Current, cd.DataReason)
	}
	s := fmt.Sprintf("needed %d, desired %d (current %d, ready %d, floor %d)", cd.Needed, cd.Desired, cd.Current, cd.Ready, cd.Floor)
	if cd.Panicking {
		s += fmt.Sprintf(", panic mode: %d", cd.Panic)
	}
	return s
}

// fleetAction reports whether an action of this kind changes capacity of
// every class (a nodegroup or a node), not just the one it names.
func fleetAction(k scaler.ActionKind) bool {
	switch k {
	case scaler.ActScaleClass, scaler.ActSetResources, scaler.ActSetProfile:
		return false
	}
	return true
}

// Band is the forecast (point and upper quantile) of the last tick.
func (h *headroomCtrl) Band(class string) (lo, hi float64, ok bool) {
	b, ok := h.bands[class]
	return b[0], b[1], ok
}
