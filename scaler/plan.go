package scaler

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/policies"
)

// Observations is what one tick observed. A failed read keeps its error
// here and the plan holds what depends on it; nothing is fatal.
type Observations struct {
	// Stats holds ClassStats by window (each class's stable and panic
	// windows), then by class.
	Stats    map[time.Duration]map[string]ClassStats
	StatsErr map[time.Duration]error

	GPU      []GPUMemory
	GPUErr   error
	Usage    []PodUsage
	UsageErr error

	Cluster    ClusterState
	ClusterErr error

	NodeGroups    []NodeGroupState
	CloudErr      error
	Interruptions []Interruption
	InterruptErr  error
}

// AddStats files stats for a window (a helper for simulators and tests).
func (o *Observations) AddStats(window time.Duration, stats ...ClassStats) {
	if o.Stats == nil {
		o.Stats = map[time.Duration]map[string]ClassStats{}
	}
	m := o.Stats[window]
	if m == nil {
		m = map[string]ClassStats{}
		o.Stats[window] = m
	}
	for _, s := range stats {
		m[s.Class] = s
	}
}

// state is what the controller remembers between ticks.
type state struct {
	classes map[string]*classState
	procs   map[string]*procedure
	backoff map[string]*backoff
	sched   map[string]Schedule
}

type classState struct {
	beh     BehaviorState
	panic   PanicState
	mult    map[string]float64 // by profile key gpu/profile
	vert    *Vertical
	gpu     *Histogram // GPU memory used, MiB
	applied Resources
}

// Procedure kinds: multi-tick node procedures.
const (
	procConsolidate = "consolidate" // cordon, drain, remove
	procRelayout    = "relayout"    // cordon, drain, set MIG config, wait, uncordon
	procInterrupt   = "interrupt"   // spot notice: replacement first, cordon, drain
)

type procedure struct {
	Kind, Node, NodeGroup string
	MIG                   catalog.MIGConfig // relayout target
	Since                 time.Time
	Terminates            time.Time
	Removed               bool
	Reason                string
}

type backoff struct {
	until    time.Time
	failures int
	err      string
}

func newState() state {
	return state{classes: map[string]*classState{}, procs: map[string]*procedure{}, backoff: map[string]*backoff{}, sched: map[string]Schedule{}}
}

// world is the indexed snapshot one plan works on.
type world struct {
	nodes       map[string]*Node
	podsByClass map[string][]Pod
	podsByNode  map[string][]Pod
	replicas    map[string]int // deployment replicas, when reported
	interrupted map[string]time.Time
	groups      map[string]NodeGroupState
	usage       map[string][]PodUsage
	gpu         map[string][]GPUMemory
	migConfigs  map[string]catalog.MIGConfig // published, by name
}

func index(obs *Observations) world {
	w := world{nodes: map[string]*Node{}, podsByClass: map[string][]Pod{}, podsByNode: map[string][]Pod{},
		replicas: map[string]int{}, interrupted: map[string]time.Time{}, groups: map[string]NodeGroupState{},
		usage: map[string][]PodUsage{}, gpu: map[string][]GPUMemory{}, migConfigs: obs.Cluster.MIGConfigs}
	for i := range obs.Cluster.Nodes {
		n := &obs.Cluster.Nodes[i]
		w.nodes[n.Name] = n
	}
	for _, p := range obs.Cluster.Pods {
		if p.Phase == PodFailed {
			continue
		}
		w.podsByClass[p.Class] = append(w.podsByClass[p.Class], p)
		if p.Node != "" {
			w.podsByNode[p.Node] = append(w.podsByNode[p.Node], p)
		}
	}
	for _, d := range obs.Cluster.Deployments {
		w.replicas[d.Class] = d.Replicas
	}
	for _, in := range obs.Interruptions {
		w.interrupted[in.Node] = in.Terminates
	}
	for _, g := range obs.NodeGroups {
		w.groups[g.Name] = g
	}
	for _, u := range obs.Usage {
		w.usage[u.Class] = append(w.usage[u.Class], u)
	}
	for _, g := range obs.GPU {
		w.gpu[g.Class] = append(w.gpu[g.Class], g)
	}
	return w
}

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
		c.planCluster(&d, &obs, &w, allData, now)
	}
	sort.SliceStable(d.Actions, func(i, j int) bool { return d.Actions[i].phase < d.Actions[j].phase })
	for i := range d.Actions {
		d.Actions[i].Status = StatusPlanned
	}
	return d
}

// ---------------------------------------------------------------------------
// Classes.

func (c *Controller) classState(name string) *classState {
	cs := c.st.classes[name]
	if cs == nil {
		cs = &classState{mult: map[string]float64{}, vert: NewVertical(c.opts.Vertical), gpu: NewHistogram(64, 1.02, 24*time.Hour)}
		c.st.classes[name] = cs
	}
	return cs
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

func profileKey(gpu, profile string) string { return gpu + "/" + profile }

func durOr(d policies.Duration, def time.Duration) time.Duration {
	if d.Duration > 0 {
		return d.Duration
	}
	return def
}

func (c *Controller) schedule(cron, tz string, d time.Duration) (Schedule, error) {
	key := cron + "|" + tz + "|" + d.String()
	if s, ok := c.st.sched[key]; ok {
		return s, nil
	}
	s, err := ParseSchedule(cron, tz, d)
	if err == nil {
		c.st.sched[key] = s
	}
	return s, err
}

// horizon is how far ahead the class plans: the policy's, or node boot +
// MIG re-partition + model load over its nodegroups.
func (c *Controller) horizon(mc *policies.ModelClass) time.Duration {
	if h := mc.Spec.Scaling.Forecast.Horizon.Duration; h > 0 {
		return h
	}
	boot, repart := time.Duration(0), time.Duration(0)
	for _, ng := range c.classGroups(mc) {
		boot = max(boot, durOr(ng.Spec.BootTime, 5*time.Minute))
		if ng.Spec.GPU.Mode == policies.GPUModeMIGDynamic {
			repart = max(repart, durOr(ng.Spec.GPU.RepartitionTime, 2*time.Minute))
		}
	}
	return boot + repart + durOr(mc.Spec.Model.LoadTime, 60*time.Second)
}

func (c *Controller) classGroups(mc *policies.ModelClass) []*policies.NodeGroup {
	var out []*policies.NodeGroup
	for i := range c.policy.NodeGroups {
		ng := &c.policy.NodeGroups[i]
		if len(mc.Spec.Placement.NodeGroups) > 0 && !contains(mc.Spec.Placement.NodeGroups, ng.Name) {
			continue
		}
		out = append(out, ng)
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// behavior converts the policy's scaling rules, with HPA's defaults.
func behavior(s policies.Scaling) Behavior {
	rule := func(r policies.ScalingRule, win time.Duration, pct, pods int) Rule {
		out := Rule{Stabilization: win, Period: durOr(r.Period, 15*time.Second), SelectMin: r.Select == "min", Disabled: r.Select == "disabled"}
		if r.StabilizationWindow != nil {
			out.Stabilization = r.StabilizationWindow.Duration
		}
		if r.Percent == nil && r.Pods == nil {
			out.Percent, out.Pods = pct, pods
		}
		if r.Percent != nil {
			out.Percent = *r.Percent
		}
		if r.Pods != nil {
			out.Pods = *r.Pods
		}
		return out
	}
	b := Behavior{Tolerance: 0.1, Up: rule(s.ScaleUp, 0, 100, 4), Down: rule(s.ScaleDown, 300*time.Second, 100, 0)}
	if s.Tolerance != nil {
		b.Tolerance = *s.Tolerance
	}
	return b
}

type profileChoice struct {
	sp   policies.ServiceProfile
	opt  ProfileOption
	svc  ServiceModel
	mult float64
}

func (c *Controller) planClass(mc *policies.ModelClass, obs *Observations, w *world, now time.Time) (ClassDecision, []Action) {
	sp := mc.Spec
	cs := c.classState(mc.Name)
	cd := ClassDecision{Class: mc.Name, Horizon: c.horizon(mc)}
	var why []string
	pct := sp.SLO.Percentile
	if pct <= 0 {
		pct = 95
	}
	slo := sp.SLO.Latency.Duration
	minR, maxR := sp.Scaling.MinReplicas, sp.Scaling.MaxReplicas
	if minR <= 0 {
		minR = 1
	}
	if maxR <= 0 {
		maxR = max(100, minR)
	}
	stableWin := durOr(sp.Scaling.Panic.StableWindow, 60*time.Second)
	shortWin := durOr(sp.Scaling.Panic.Window, 6*time.Second)

	stats, found := obs.Stats[stableWin][mc.Name]
	cd.DataOK, cd.DataReason = c.checkStats(stats, found, now)
	if err := obs.StatsErr[stableWin]; err != nil {
		cd.DataOK, cd.DataReason = false, "stats read failed: "+err.Error()
	}
	if cd.DataOK {
		cd.ObservedRate, cd.ObservedP95 = stats.Rate, stats.P95
	}

	// Pods: current, ready, the profile they run on.
	pods := w.podsByClass[mc.Name]
	profCount := map[string]int{}
	for _, p := range pods {
		profCount[p.Profile]++
		if p.Phase == PodReady && p.Node != "" {
			if n, ok := w.nodes[p.Node]; ok && n.Ready {
				cd.Ready++
			}
		}
	}
	cd.Current = len(pods)
	if r, ok := w.replicas[mc.Name]; ok {
		cd.Current = r
	}

	// Vertical and GPU memory samples.
	for _, u := range w.usage[mc.Name] {
		cs.vert.Observe(u, now)
	}
	for _, g := range w.gpu[mc.Name] {
		cs.gpu.AddSample(g.UsedMiB, 1, now)
	}

	// Forecast.
	if cd.DataOK {
		c.opts.Forecaster.Observe(mc.Name, now, stats.Rate)
	}
	q := sp.Scaling.Forecast.Quantile
	if q <= 0 {
		q = 0.95
	}
	fc := c.opts.Forecaster.Predict(mc.Name, now, cd.Horizon, q)
	cd.Forecast, cd.ForecastUp, cd.Method = fc.Point, fc.Upper, fc.Method
	cd.PlannedRate = cd.ObservedRate
	if !sp.Scaling.Forecast.Disabled && validRate(fc.Upper) && fc.Upper > cd.PlannedRate {
		cd.PlannedRate = fc.Upper
	}

	// Profiles: service models, corrected; sizing on each.
	needGiB := float64(sp.GPUMemory.Value()) / (1 << 30)
	if !cs.gpu.Empty() && cs.gpu.samples >= 10 {
		needGiB = cs.gpu.Percentile(0.99) / 1024 * (1 + c.opts.GPUMemoryMargin)
	}
	current := ""
	for p, n := range profCount {
		if n > profCount[current] || (n == profCount[current] && p < current) {
			current = p
		}
	}
	var choices []profileChoice
	for _, pr := range sp.Profiles {
		ch := profileChoice{sp: pr, svc: ServiceModel{Mean: pr.ServiceTime.Mean.Duration, P95: pr.ServiceTime.P95.Duration, Concurrency: pr.Concurrency}}
		key := profileKey(pr.GPU, pr.Profile)
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
		// Online correction from the profile the replicas actually run on.
		if pr.Profile == current && cd.DataOK && cd.Ready > 0 && stats.Rate > 0 && stats.P95 > 0 {
			s := ch.svc
			s.Multiplier = ch.mult
			pred, ok := PredictLatency(stats.Rate, cd.Ready, s, 95)
			if ok {
				var r string
				ch.mult, r = c.opts.Correction.Update(ch.mult, stats.P95, pred)
				cs.mult[key] = ch.mult
				cd.PredictedP95 = pred
				if math.Abs(ch.mult-1) > 0.05 {
					why = append(why, r)
				}
			}
		}
		ch.svc.Multiplier = ch.mult
		ch.opt.Sizing = sizeReplicas(cd.PlannedRate, ch.svc, slo, pct, maxR, false)
		choices = append(choices, ch)
	}
	opts := make([]ProfileOption, len(choices))
	for i, ch := range choices {
		opts[i] = ch.opt
	}
	cd.NeedGiB = needGiB
	pi, pwhy := RightSize(opts, needGiB)
	cd.ProfileReason = pwhy
	if pi >= 0 {
		cd.PreferredProfile = choices[pi].sp.Profile
	}
	ci := -1
	for i, ch := range choices {
		if ch.sp.Profile == current && ci < 0 {
			ci = i
		}
	}
	if ci < 0 {
		ci = pi
	}
	if ci < 0 && len(choices) > 0 {
		ci = 0
	}
	cd.Profile = ""
	var chosen *profileChoice
	if ci >= 0 {
		chosen = &choices[ci]
		if chosen.opt.Sizing.Feasible {
			// Its predicted latency and full reason, which the others skip.
			chosen.opt.Sizing = SizeReplicas(cd.PlannedRate, chosen.svc, slo, pct, maxR)
		}
		cd.Profile = chosen.sp.Profile
		cd.Multiplier = chosen.mult
		cd.Needed = chosen.opt.Sizing.Replicas
		why = append(why, chosen.opt.Sizing.Reason)
		if !chosen.opt.Sizing.Feasible && chosen.opt.Sizing.Replicas == 0 {
			cd.Needed = maxR // the SLO is out of reach on this profile: go as wide as allowed
		}
	} else {
		why = append(why, "class has no service profiles")
	}

	// Floors: min and scheduled minimums.
	cd.Floor, cd.Max = minR, maxR
	for _, sm := range sp.Scaling.ScheduledMinimums {
		s, err := c.schedule(sm.Cron, sm.TimeZone, sm.Duration.Duration)
		if err != nil {
			why = append(why, fmt.Sprintf("scheduled minimum ignored: %v", err))
			continue
		}
		if open, since := s.Open(now); open && sm.MinReplicas > cd.Floor {
			cd.Floor = sm.MinReplicas
			why = append(why, fmt.Sprintf("scheduled minimum %d since %s (%s)", sm.MinReplicas, since.UTC().Format(time.RFC3339), s.Spec))
		}
	}
	cd.Floor = min(cd.Floor, maxR)

	if obs.ClusterErr != nil {
		cd.Desired, cd.Held = cd.Current, true
		cd.Reason = "cluster unreadable: current replicas unknown, holding"
		return cd, nil
	}

	// Panic (fast path).
	if short, ok := obs.Stats[shortWin][mc.Name]; ok && chosen != nil && !sp.Scaling.Panic.Disabled {
		if sok, _ := c.checkStats(short, true, now); sok {
			cd.ShortRate = short.Rate
			need := neededReplicas(short.Rate, chosen.svc, slo, pct, maxR)
			th := sp.Scaling.Panic.Threshold
			if th <= 0 {
				th = 2
			}
			var pr string
			cs.panic, cd.Panic, pr = PanicStep(cs.panic, PanicInput{ShortRate: short.Rate, ShortNeeded: need, Ready: cd.Ready,
				Threshold: th, Stable: stableWin}, now)
			cd.Panicking = cs.panic.Panicking()
			if pr != "" {
				why = append(why, pr)
			}
		}
	}

	var desired int
	if !cd.DataOK {
		// Fail static (HPA): never scale down on missing data; floors still apply.
		desired = max(cd.Current, cd.Floor, cd.Panic)
		why = append([]string{"fail static, " + cd.DataReason + ": holding " + strconv.Itoa(cd.Current)}, why...)
	} else {
		raw := max(cd.Needed, cd.Panic)
		if len(cs.beh.Recs) == 0 {
			// A fresh controller (restart, new class) remembers the current
			// count as a recommendation, so scale-down still waits a full
			// stabilization window.
			cs.beh.Recs = append(cs.beh.Recs, Recommendation{At: now, Replicas: cd.Current})
		}
		var br string
		desired, br = Behave(&cs.beh, behavior(sp.Scaling), cd.Current, raw, now)
		if br != "" {
			why = append(why, br)
		}
		if cd.Panicking && desired < cd.Current {
			desired = cd.Current
		}
	}
	if desired < cd.Floor {
		why = append(why, fmt.Sprintf("raised to floor %d", cd.Floor))
		desired = cd.Floor
	}
	if desired > maxR {
		why = append(why, fmt.Sprintf("capped at max %d", maxR))
		desired = maxR
	}
	cd.Desired = desired
	if chosen != nil && desired > 0 && cd.PlannedRate > 0 {
		if sz := chosen.opt.Sizing; sz.Feasible && sz.Replicas == desired && sz.Predicted > 0 {
			cd.PredictedP95 = sz.Predicted // the same rate, replicas and model
		} else if p, ok := PredictLatency(cd.PlannedRate, desired, chosen.svc, pct); ok {
			cd.PredictedP95 = p
		}
	}
	cd.Reason = join(why)

	var acts []Action
	if desired != cd.Current {
		phase := phaseUp
		if desired < cd.Current {
			phase = phaseDown
		}
		acts = append(acts, Action{Kind: ActScaleClass, Target: mc.Name, From: strconv.Itoa(cd.Current), To: strconv.Itoa(desired),
			Reason: fmt.Sprintf("rate %.2f, planned %.2f req/s (%s): %s", cd.ObservedRate, cd.PlannedRate, fc.Method, cd.Reason),
			phase:  phase, from: cd.Current, to: desired})
	}
	if rec, rwhy, ok := cs.vert.Recommend(); ok && obs.UsageErr == nil {
		if changed(cs.applied.CPUCores, rec.CPUCores, c.opts.VerticalMinChange) || changed(cs.applied.MemoryBytes, rec.MemoryBytes, c.opts.VerticalMinChange) {
			acts = append(acts, Action{Kind: ActSetResources, Target: mc.Name,
				From:   fmtRes(cs.applied),
				To:     fmtRes(rec),
				Reason: rwhy, phase: phaseVertical, res: rec})
		}
	}
	return cd, acts
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

func sortedDurations[V any](m map[time.Duration]V) []time.Duration {
	out := make([]time.Duration, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// parseBudget reads a count ("1") or percentage ("25%") of n, rounding up
// as PodDisruptionBudgets do; at least 1 so that a budget never freezes a
// class forever.
func parseBudget(s string, n int) int {
	s = strings.TrimSpace(s)
	if s == "" {
		s = "25%"
	}
	if strings.HasSuffix(s, "%") {
		v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || v < 0 {
			return 1
		}
		return max(1, int(math.Ceil(v/100*float64(n))))
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return 1
	}
	return max(v, 1)
}
