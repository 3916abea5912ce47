package scaler

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/policies"
)

// One class through one tick, stage by stage (the package doc draws it):
//
//	observeClass   stats checked, pods counted, samples fed     -> classObs
//	forecastClass  the forecaster at the class's horizon        -> classForecast
//	sizeClass      per profile: correction, M/G/c sizing;
//	               RightSize picks the slice                     -> classSize
//	panicClass     the KPA fast path on the short window         -> classPanic
//	desiredClass   fail static or HPA behavior, floors, bounds   -> desired, reasons
//	classActions   scale and vertical actions                   -> []Action
//
// Each stage reads the policy's answers (policies: Horizon, MinReplicasAt,
// defaults) rather than re-deriving them, and returns a small struct with
// its reason, so one can be read, tested and changed alone.

// classObs is what the observe stage found for one class.
type classObs struct {
	stats  ClassStats // the stable window, when ok
	ok     bool
	reason string        // why not ok
	age    time.Duration // of the newest sample, when there was one
	// short is the panic window's stats, when usable.
	short   ClassStats
	shortOK bool
	current int    // replicas (the Deployment's, else the pods)
	ready   int    // ready on a ready node
	profile string // the profile most of its pods run on
}

func (c *Controller) observeClass(mc *policies.ModelClass, cs *classState, obs *Observations, w *world, now time.Time) classObs {
	sc := mc.Spec.Scaling
	var o classObs
	stats, found := obs.Stats[sc.Panic.StableWindow.Duration][mc.Name]
	o.ok, o.reason = c.checkStats(stats, found, now)
	if found && !stats.At.IsZero() {
		o.age = now.Sub(stats.At)
	}
	if err := obs.StatsErr[sc.Panic.StableWindow.Duration]; err != nil {
		o.ok, o.reason = false, "stats read failed: "+err.Error()
	}
	if o.ok {
		o.stats = stats
	}
	if short, found := obs.Stats[sc.Panic.Window.Duration][mc.Name]; found && !sc.Panic.Disabled {
		if ok, _ := c.checkStats(short, true, now); ok {
			o.short, o.shortOK = short, true
		}
	}

	pods := w.podsByClass[mc.Name]
	perProfile := map[string]int{}
	for _, p := range pods {
		perProfile[p.Profile]++
		if p.Phase == PodReady && p.Node != "" {
			if n, ok := w.nodes[p.Node]; ok && n.Ready {
				o.ready++
			}
		}
	}
	for p, n := range perProfile {
		if n > perProfile[o.profile] || (n == perProfile[o.profile] && p < o.profile) {
			o.profile = p
		}
	}
	o.current = len(pods)
	if r, ok := w.replicas[mc.Name]; ok {
		o.current = r
	}

	for _, u := range w.usage[mc.Name] {
		cs.vert.Observe(u, now)
	}
	for _, g := range w.gpu[mc.Name] {
		cs.gpu.AddSample(g.UsedMiB, 1, now)
	}
	return o
}

// checkStats says whether a class's stats are usable at now.
func (c *Controller) checkStats(s ClassStats, ok bool, now time.Time) (bool, string) {
	switch {
	case !ok:
		return false, "no samples in the window (missing, not zero)"
	case s.At.IsZero() || now.Sub(s.At) > c.opts.Staleness:
		return false, fmt.Sprintf("stale: newest sample %v old (limit %v)", now.Sub(s.At).Round(time.Second), c.opts.Staleness)
	case s.At.Sub(now) > c.opts.Staleness:
		return false, "sample time is in the future"
	case math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0):
		return false, "rate is not a number"
	case s.Rate < 0:
		return false, fmt.Sprintf("negative rate %.2f (counter reset?)", s.Rate)
	case s.P50 < 0 || s.P95 < 0 || s.P99 < 0:
		return false, "negative latency"
	}
	return true, ""
}

// classForecast is the forecast stage's answer: the rate sizing plans for.
type classForecast struct {
	horizon time.Duration
	fc      Forecast
	// planned is the larger of the observed rate and the forecast's upper
	// quantile (unless forecasting is disabled).
	planned float64
}

func (c *Controller) forecastClass(mc *policies.ModelClass, o classObs, now time.Time) classForecast {
	f := classForecast{horizon: c.policy.Horizon(mc)}
	if o.ok {
		c.opts.Forecaster.Observe(mc.Name, now, o.stats.Rate)
	}
	fs := mc.Spec.Scaling.Forecast
	f.fc = c.opts.Forecaster.Predict(mc.Name, now, f.horizon, fs.Quantile)
	f.planned = o.stats.Rate
	if !fs.Disabled && validRate(f.fc.Upper) && f.fc.Upper > f.planned {
		f.planned = f.fc.Upper
	}
	return f
}

// profileChoice is one service profile with its corrected model and sizing.
type profileChoice struct {
	sp   policies.ServiceProfile
	opt  ProfileOption
	svc  ServiceModel
	mult float64
}

// classSize is the sizing stage's answer.
type classSize struct {
	chosen *profileChoice // the profile the replicas run on; nil without profiles
	// needed is the replicas the chosen profile needs for the planned rate.
	needed           int
	preferred        string // RightSize's pick for the memory need
	preferredWhy     string
	needGiB          float64
	observedLatency  time.Duration // the model's p95 at the observed rate, when corrected
	reasons          []string
	correctionReason string
}

func (c *Controller) sizeClass(mc *policies.ModelClass, cs *classState, o classObs, planned float64) classSize {
	sp := mc.Spec
	var s classSize
	s.needGiB = float64(sp.GPUMemory.Value()) / (1 << 30)
	if !cs.gpu.Empty() && cs.gpu.samples >= 10 {
		s.needGiB = cs.gpu.Percentile(0.99) / 1024 * (1 + c.opts.GPUMemoryMargin)
	}
	choices := make([]profileChoice, 0, len(sp.Profiles))
	opts := make([]ProfileOption, 0, len(sp.Profiles))
	for _, pr := range sp.Profiles {
		ch := c.profileChoice(mc, cs, pr, o, &s)
		ch.opt.Sizing = sizeReplicas(planned, ch.svc, sp.SLO.Latency.Duration, sp.SLO.Percentile, sp.Scaling.MaxReplicas, false)
		choices = append(choices, ch)
		opts = append(opts, ch.opt)
	}
	pi, pwhy := RightSize(opts, s.needGiB)
	s.preferredWhy = pwhy
	if pi >= 0 {
		s.preferred = choices[pi].sp.Profile
	}
	// Replicas stay on the profile they run on; a new class starts on the
	// right-sized one.
	ci := -1
	for i, ch := range choices {
		if ch.sp.Profile == o.profile {
			ci = i
			break
		}
	}
	if ci < 0 {
		ci = pi
	}
	if ci < 0 && len(choices) > 0 {
		ci = 0
	}
	if ci < 0 {
		s.reasons = append(s.reasons, "class has no service profiles")
		return s
	}
	s.chosen = &choices[ci]
	if s.chosen.opt.Sizing.Feasible {
		// Its predicted latency and full reason, which the others skip.
		s.chosen.opt.Sizing = SizeReplicas(planned, s.chosen.svc, sp.SLO.Latency.Duration, sp.SLO.Percentile, sp.Scaling.MaxReplicas)
	}
	s.needed = s.chosen.opt.Sizing.Replicas
	s.reasons = append(s.reasons, s.chosen.opt.Sizing.Reason)
	if !s.chosen.opt.Sizing.Feasible && s.chosen.opt.Sizing.Replicas == 0 {
		s.needed = sp.Scaling.MaxReplicas // the SLO is out of reach on this profile: go as wide as allowed
	}
	return s
}

// profileChoice builds one profile's service model with its catalog slice,
// and corrects its multiplier online when the replicas run on it.
func (c *Controller) profileChoice(mc *policies.ModelClass, cs *classState, pr policies.ServiceProfile, o classObs, s *classSize) profileChoice {
	ch := profileChoice{sp: pr, svc: ServiceModel{Mean: pr.ServiceTime.Mean.Duration, P95: pr.ServiceTime.P95.Duration, Concurrency: pr.Concurrency}}
	key := pr.GPU + "/" + pr.Profile
	ch.mult = cs.mult[key]
	if ch.mult == 0 {
		ch.mult = 1
	}
	ch.opt = ProfileOption{GPU: pr.GPU, Profile: pr.Profile, UsableGiB: math.Inf(1), Compute: catalog.ComputeSlices}
	if g, ok := c.opts.Catalog.GPU(pr.GPU); ok {
		if cp, ok := g.Profile(pr.Profile); ok {
			ch.opt.UsableGiB = cp.UsableGiB
			if cp.Compute > 0 {
				ch.opt.Compute = cp.Compute
			}
		}
	}
	if pr.Profile == o.profile && o.ok && o.ready > 0 && o.stats.Rate > 0 && o.stats.P95 > 0 {
		m := ch.svc
		m.Multiplier = ch.mult
		if u := saturation(o, m); u > correctionMaxUtil {
			// A backlog, not a slower replica: the window's p95 is the
			// queue behind a burst the stable rate averages away, and
			// learning from it would size the next quiet hour for it.
			s.correctionReason = fmt.Sprintf("correction held: %.0f%% of the ready replicas' capacity in the window (a queue, not service time)", u*100)
		} else if pred, ok := PredictLatency(o.stats.Rate, o.ready, m, 95); ok {
			var r string
			ch.mult, r = c.opts.Correction.Update(ch.mult, o.stats.P95, pred)
			cs.mult[key] = ch.mult
			s.observedLatency = pred
			if math.Abs(ch.mult-1) > 0.05 {
				s.correctionReason = r
			}
		}
	}
	ch.svc.Multiplier = ch.mult
	return ch
}

// correctionMaxUtil is the utilization of the ready replicas above which
// the latency correction does not learn: near saturation the observed p95
// is queueing delay, which the M/G/c model predicts poorly (it diverges at
// 1), so the ratio says nothing about the service time.
const correctionMaxUtil = 0.9

// saturation is the busiest utilization the class's ready replicas saw in
// the tick's windows: the stable rate, or the short (panic) window's when
// it is higher, over the servers' capacity at the model's mean.
func saturation(o classObs, m ServiceModel) float64 {
	rate := o.stats.Rate
	if o.shortOK {
		rate = max(rate, o.short.Rate)
	}
	servers := float64(o.ready * max(m.Concurrency, 1))
	mult := m.Multiplier
	if !(mult > 0) {
		mult = 1
	}
	return rate * m.Mean.Seconds() * mult / servers
}

// classPanic is the fast path's answer.
type classPanic struct {
	replicas  int // what the short window needs while panicking, else 0
	panicking bool
	reason    string
}

func (c *Controller) panicClass(mc *policies.ModelClass, cs *classState, o classObs, s classSize, now time.Time) classPanic {
	sp := mc.Spec
	if !o.shortOK || s.chosen == nil {
		return classPanic{panicking: cs.panic.Panicking()}
	}
	need := neededReplicas(o.short.Rate, s.chosen.svc, sp.SLO.Latency.Duration, sp.SLO.Percentile, sp.Scaling.MaxReplicas)
	var p classPanic
	cs.panic, p.replicas, p.reason = PanicStep(cs.panic, PanicInput{ShortRate: o.short.Rate, ShortNeeded: need, Ready: o.ready,
		Threshold: sp.Scaling.Panic.Threshold, Stable: sp.Scaling.Panic.StableWindow.Duration}, now)
	p.panicking = cs.panic.Panicking()
	return p
}

// desiredClass turns the needed, panic and current replicas into the count
// to set: fail static on missing data, else HPA's behavior; then the floor
// (minReplicas raised by scheduled minimums) and the max.
func (c *Controller) desiredClass(mc *policies.ModelClass, cs *classState, o classObs, needed int, p classPanic, floor int, now time.Time) (int, []string) {
	var why []string
	maxR := mc.Spec.Scaling.MaxReplicas
	var desired int
	if !o.ok {
		// Fail static (HPA): never scale down on missing data; floors still apply.
		desired = max(o.current, floor, p.replicas)
	} else {
		if len(cs.beh.Recs) == 0 {
			// A fresh controller (restart, new class) remembers the current
			// count as a recommendation, so scale-down still waits a full
			// stabilization window.
			cs.beh.Recs = append(cs.beh.Recs, Recommendation{At: now, Replicas: o.current})
		}
		var br string
		desired, br = Behave(&cs.beh, behavior(mc.Spec.Scaling), o.current, max(needed, p.replicas), now)
		if br != "" {
			why = append(why, br)
		}
		if p.panicking && desired < o.current {
			desired = o.current
		}
	}
	if desired < floor {
		why = append(why, fmt.Sprintf("raised to floor %d", floor))
		desired = floor
	}
	if desired > maxR {
		why = append(why, fmt.Sprintf("capped at max %d", maxR))
		desired = maxR
	}
	return desired, why
}

// floorOf is the class's replica floor at now, and why when a scheduled
// minimum raised it.
func floorOf(mc *policies.ModelClass, now time.Time) (int, string) {
	floor := mc.MinReplicasAt(now)
	if floor > mc.Spec.Scaling.MinReplicas {
		return floor, fmt.Sprintf("scheduled minimum %d", floor)
	}
	return floor, ""
}

// behavior converts the policy's (defaulted) scaling rules.
func behavior(s policies.Scaling) Behavior {
	rule := func(r policies.ScalingRule) Rule {
		out := Rule{Period: r.Period.Duration, SelectMin: r.Select == policies.SelectMin, Disabled: r.Select == policies.SelectDisabled}
		if r.StabilizationWindow != nil {
			out.Stabilization = r.StabilizationWindow.Duration
		}
		if r.Percent != nil {
			out.Percent = *r.Percent
		}
		if r.Pods != nil {
			out.Pods = *r.Pods
		}
		return out
	}
	b := Behavior{Tolerance: policies.DefaultTolerance, Up: rule(s.ScaleUp), Down: rule(s.ScaleDown)}
	if s.Tolerance != nil {
		b.Tolerance = *s.Tolerance
	}
	return b
}

// classActions are the writes the class's decision needs.
func (c *Controller) classActions(cd *ClassDecision, cs *classState, obs *Observations, method string) []Action {
	var acts []Action
	if cd.Desired != cd.Current {
		phase := phaseUp
		if cd.Desired < cd.Current {
			phase = phaseDown
		}
		acts = append(acts, Action{Kind: ActScaleClass, Target: cd.Class, From: strconv.Itoa(cd.Current), To: strconv.Itoa(cd.Desired),
			Reason: fmt.Sprintf("rate %.2f, planned %.2f req/s (%s): %s", cd.ObservedRate, cd.PlannedRate, method, cd.Reason),
			phase:  phase, from: cd.Current, to: cd.Desired})
	}
	if rec, rwhy, ok := cs.vert.Recommend(); ok && obs.UsageErr == nil {
		if changed(cs.applied.CPUCores, rec.CPUCores, c.opts.VerticalMinChange) || changed(cs.applied.MemoryBytes, rec.MemoryBytes, c.opts.VerticalMinChange) {
			acts = append(acts, Action{Kind: ActSetResources, Target: cd.Class, From: fmtRes(cs.applied), To: fmtRes(rec),
				Reason: rwhy, phase: phaseVertical, res: rec})
		}
	}
	return acts
}

func changed(old, new, rel float64) bool {
	if old <= 0 {
		return new > 0
	}
	return math.Abs(new/old-1) > rel
}

func fmtRes(r Resources) string {
	if r == (Resources{}) {
		return "unset"
	}
	return fmt.Sprintf("cpu=%.3f,memory=%.0fMi", r.CPUCores, r.MemoryBytes/(1<<20))
}
