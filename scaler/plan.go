package scaler

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/headroom-dev/headroom/policies"
)

// Plan turns observations into a Decision. It does no I/O and reads no
// clock: now is the tick's time. It updates the controller's memory
// (forecaster, histograms, behavior history, procedures), so calling it
// twice for one tick is not idempotent; the simulator calls Tick, or Plan
// with its own observations, once per control interval.
func (c *Controller) Plan(obs Observations, now time.Time) Decision {
	pol := c.policy
	d := Decision{At: now, DryRun: c.opts.DryRun || pol.Cluster.Spec.DryRun}
	for _, w := range sortedDurations(obs.StatsErr) {
		if err := obs.StatsErr[w]; err != nil {
			d.NotDone = append(d.NotDone, fmt.Sprintf("reading class stats (%v window): %v: classes held", w, err))
		}
	}
	if obs.ClusterErr != nil {
		d.NotDone = append(d.NotDone, fmt.Sprintf("reading the cluster: %v: no replica or node changes this tick", obs.ClusterErr))
	}
	if obs.CloudErr != nil {
		d.NotDone = append(d.NotDone, fmt.Sprintf("reading nodegroups: %v: no nodegroup changes this tick", obs.CloudErr))
	}
	if obs.InterruptErr != nil {
		d.NotDone = append(d.NotDone, fmt.Sprintf("reading spot interruptions: %v", obs.InterruptErr))
	}
	if obs.UsageErr != nil {
		d.NotDone = append(d.NotDone, fmt.Sprintf("reading pod usage: %v: vertical recommendations kept", obs.UsageErr))
	}
	if obs.GPUErr != nil {
		d.NotDone = append(d.NotDone, fmt.Sprintf("reading GPU memory: %v: right-sizing uses what was seen before", obs.GPUErr))
	}
	w := index(&obs)

	// Forget classes the policy no longer has (a policy changed mid-flight).
	for name := range c.st.classes {
		if _, ok := pol.Class(name); !ok {
			delete(c.st.classes, name)
			if f, ok := c.opts.Forecaster.(interface{ Forget(string) }); ok {
				f.Forget(name)
			}
		}
	}
	allData := true
	for i := range pol.Classes {
		cd, acts := c.planClass(&pol.Classes[i], &obs, &w, now)
		allData = allData && cd.DataOK
		d.Classes = append(d.Classes, cd)
		d.Actions = append(d.Actions, acts...)
	}
	if obs.ClusterErr == nil && obs.CloudErr == nil {
		c.planCluster(&d, &w, allData, now)
	}
	sort.SliceStable(d.Actions, func(i, j int) bool { return d.Actions[i].phase < d.Actions[j].phase })
	for i := range d.Actions {
		d.Actions[i].Status = StatusPlanned
	}
	return d
}

// planClass runs one class through the stages of classplan.go and
// assembles its decision and actions.
func (c *Controller) planClass(mc *policies.ModelClass, obs *Observations, w *world, now time.Time) (ClassDecision, []Action) {
	cs := c.classState(mc.Name)
	o := c.observeClass(mc, cs, obs, w, now)
	f := c.forecastClass(mc, o, now)
	s := c.sizeClass(mc, cs, o, f.planned)
	floor, floorWhy := floorOf(mc, now)
	cd := ClassDecision{Class: mc.Name, Horizon: f.horizon, DataOK: o.ok, DataReason: o.reason, DataAge: o.age,
		ObservedRate: o.stats.Rate, ObservedP95: o.stats.P95, Current: o.current, Ready: o.ready,
		Forecast: f.fc.Point, ForecastUp: f.fc.Upper, Method: f.fc.Method, PlannedRate: f.planned,
		PreferredProfile: s.preferred, ProfileReason: s.preferredWhy, NeedGiB: s.needGiB, Needed: s.needed,
		PredictedP95: s.observedLatency, Floor: floor, Max: mc.Spec.Scaling.MaxReplicas}
	var why []string
	if s.correctionReason != "" {
		why = append(why, s.correctionReason)
	}
	why = append(why, s.reasons...)
	if s.chosen != nil {
		cd.Profile, cd.Multiplier = s.chosen.sp.Profile, s.chosen.mult
	}
	if floorWhy != "" {
		why = append(why, floorWhy)
	}
	if obs.ClusterErr != nil {
		cd.Desired, cd.Held = cd.Current, true
		cd.Reason = "cluster unreadable: current replicas unknown, holding"
		return cd, nil
	}

	p := c.panicClass(mc, cs, o, s, now)
	cd.ShortRate, cd.Panic, cd.Panicking = o.short.Rate, p.replicas, p.panicking
	if p.reason != "" {
		why = append(why, p.reason)
	}
	desired, dwhy := c.desiredClass(mc, cs, o, s.needed, p, floor, now)
	if !o.ok {
		why = append([]string{"fail static, " + o.reason + ": holding " + strconv.Itoa(o.current)}, why...)
	}
	why = append(why, dwhy...)
	cd.Desired = desired
	if ch := s.chosen; ch != nil && desired > 0 && cd.PlannedRate > 0 {
		if sz := ch.opt.Sizing; sz.Feasible && sz.Replicas == desired && sz.Predicted > 0 {
			cd.PredictedP95 = sz.Predicted // the same rate, replicas and model
		} else if lat, ok := PredictLatency(cd.PlannedRate, desired, ch.svc, mc.Spec.SLO.Percentile); ok {
			cd.PredictedP95 = lat
		}
	}
	cd.Reason = join(why)
	return cd, c.classActions(&cd, cs, obs, f.fc.Method)
}

func (c *Controller) classState(name string) *classState {
	cs := c.st.classes[name]
	if cs == nil {
		cs = &classState{mult: map[string]float64{}, vert: NewVertical(c.opts.Vertical), gpu: NewHistogram(64, 1.02, 24*time.Hour)}
		c.st.classes[name] = cs
	}
	return cs
}

func sortedDurations[V any](m map[time.Duration]V) []time.Duration {
	out := make([]time.Duration, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
