package simulations

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/policies"
)

// RunOptions configure one run: one policy, one controller, one workload.
type RunOptions struct {
	Policy     *policies.Policy
	PolicyName string
	// Catalog defaults to the policy's catalog (built-in plus overrides).
	Catalog    *catalog.Catalog
	Workload   *Workload
	Controller ControllerFactory
	Seed       uint64
	// Mode defaults to request-level when the workload has arrivals.
	Mode  Mode
	World WorldOptions
	// FlowStep is the flow-level time step; default the scrape interval.
	FlowStep time.Duration
	// ChartPoints is about how many points the timeline has; default 360.
	ChartPoints int
	// Progress, when set, is called as virtual time advances.
	Progress func(done, total time.Duration)
}

// Result is one run's outcome.
type Result struct {
	Controller string  `json:"controller"`
	Policy     string  `json:"policy"`
	Mode       Mode    `json:"mode"`
	Seed       uint64  `json:"seed"`
	Duration   string  `json:"duration"`
	Requests   float64 `json:"requests"`
	// Attainment is the share of requests within their class's latency
	// target; failed requests (timeouts, drops, interrupted) count as misses.
	Attainment float64       `json:"attainment"`
	Classes    []ClassResult `json:"classes"`
	// Cost in $ for the run, by nodegroup and capacity type.
	Cost   float64    `json:"cost"`
	CostBy []CostLine `json:"costBy"`
	// CostPerHour is Cost over the run's duration.
	CostPerHour float64 `json:"costPerHour"`
	// CostVsBound is Cost over the clairvoyant bound's cost (0 when no
	// bound ran).
	CostVsBound float64 `json:"costVsBound,omitempty"`
	// GPUMemoryUtilization is GPU memory used by replicas over the GPU
	// memory of running GPU nodes, averaged over the run.
	GPUMemoryUtilization float64 `json:"gpuMemoryUtilization"`
	Repartitions         int     `json:"repartitions"`
	Drains               int     `json:"drains"`
	Evictions            int     `json:"evictions"`
	InterruptedPods      int     `json:"interruptedPods"`
	SpotInterruptions    int     `json:"spotInterruptions"`
	SpotShortfalls       int     `json:"spotShortfalls"`
	TickErrors           int     `json:"tickErrors"`
	FirstTickError       string  `json:"firstTickError,omitempty"`
	// WallSeconds is how long the run took on the machine (not virtual
	// time): the one field that differs between two runs of one seed.
	WallSeconds float64  `json:"wallSeconds"`
	Timeline    Timeline `json:"timeline"`
	// Incidents are the times a class fell below its SLO, with the class
	// at the scrape interval and the controller's decisions around them.
	Incidents []Incident `json:"incidents,omitempty"`
}

// ClassResult is one class's service over the run.
type ClassResult struct {
	Class       string  `json:"class"`
	SLOMs       float64 `json:"sloMs"`
	Requests    float64 `json:"requests"`
	WithinSLO   float64 `json:"withinSLO"`
	Attainment  float64 `json:"attainment"`
	P50Ms       float64 `json:"p50Ms"`
	P95Ms       float64 `json:"p95Ms"`
	P99Ms       float64 `json:"p99Ms"`
	Timeouts    float64 `json:"timeouts"`
	Drops       float64 `json:"drops"`
	Interrupted float64 `json:"interrupted"`
	// Worst5m is the lowest share within SLO over any 5-minute window (from
	// the run's start, tumbling) that had requests, ending Worst5mAt after
	// the start; MinutesBelow counts the 1-minute windows whose share was
	// below the SLO's percentile.
	Worst5m      float64       `json:"worst5m"`
	Worst5mAt    time.Duration `json:"worst5mAt"`
	MinutesBelow float64       `json:"minutesBelow"`
	// Worst5mP95Ms is the highest p95 latency of a 5-minute window (the
	// same windows), ending Worst5mP95At: a whole-run p95 hides a spike.
	Worst5mP95Ms float64       `json:"worst5mP95Ms"`
	Worst5mP95At time.Duration `json:"worst5mP95At"`
	// Target is the share the SLO asks for (its percentile / 100); the
	// class met its SLO when Attainment >= Target.
	Target float64 `json:"target"`
	// MeanReplicas and MaxReplicas are the class's ready replicas,
	// averaged over the scrapes and the most at one.
	MeanReplicas float64 `json:"meanReplicas"`
	MaxReplicas  int     `json:"maxReplicas"`
}

// MetSLO reports whether the class kept its SLO over the run.
func (c ClassResult) MetSLO() bool { return c.Attainment >= c.Target }

// CostLine is the cost of one nodegroup and capacity type.
type CostLine struct {
	NodeGroup    string  `json:"nodeGroup"`
	CapacityType string  `json:"capacityType"`
	NodeHours    float64 `json:"nodeHours"`
	Cost         float64 `json:"cost"`
}

// Run simulates one controller over the workload and returns its result.
// The same options and seed give the same result, byte for byte.
func Run(ctx context.Context, o RunOptions) (*Result, error) {
	if o.Policy == nil || o.Workload == nil || o.Controller == nil {
		return nil, errors.New("run: policy, workload and controller are required")
	}
	if o.Catalog == nil {
		cat, err := o.Policy.Catalog()
		if err != nil {
			return nil, fmt.Errorf("policy catalog: %w", err)
		}
		o.Catalog = cat
	}
	if o.Mode == "" {
		o.Mode = ModeFlow
		if o.Workload.RequestLevel() {
			o.Mode = ModeRequest
		}
	}
	if o.Mode == ModeRequest && !o.Workload.RequestLevel() {
		return nil, errors.New("request-level mode needs individual arrivals: use a per-request trace, or Poisson arrivals for a rate trace")
	}
	wo := o.World.withDefaults()
	w, err := newWorld(o.Policy, o.Catalog, wo, o.Workload.Start, o.Seed)
	if err != nil {
		return nil, err
	}
	wl := o.Workload
	dur := int64(wl.Duration)
	chartPts := o.ChartPoints
	if chartPts <= 0 {
		chartPts = 360
	}
	scrape := int64(wo.ScrapeInterval)
	chartEvery := int(math.Ceil(float64(dur) / float64(chartPts) / float64(scrape)))
	w.stats = newRunStats(w, chartEvery)
	w.stats.timeline.Step = time.Duration(int64(w.stats.chartEvery) * scrape)

	env := Env{Metrics: simMetrics{w}, Cluster: simCluster{w}, Cloud: simCloud{w}, Policy: o.Policy,
		Catalog: o.Catalog, Start: wl.Start, Workload: wl, Scrape: wo.ScrapeInterval, NodeTemplates: w.templates()}
	ctrl, err := o.Controller(env)
	if err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	if b, ok := ctrl.(Bander); ok {
		w.bander = b
	}
	if l, ok := ctrl.(DecisionLogger); ok {
		w.stats.log = l
	}
	w.initial(ctrl, env)

	// Schedule the clocks.
	interval := int64(ctrl.Interval())
	if interval <= 0 {
		interval = int64(15 * time.Second)
	}
	w.schedule(0, evTick, 0, 0)
	w.schedule(scrape, evScrape, 0, 0)
	if o.Mode == ModeFlow {
		step := o.FlowStep
		if step <= 0 {
			step = wo.ScrapeInterval
		}
		w.flow = newFlowState(w, wl, int64(step))
		w.schedule(0, evFlow, 0, 0)
	}
	res := &Result{Controller: ctrl.Name(), Policy: o.PolicyName, Mode: o.Mode, Seed: o.Seed, Duration: wl.Duration.String()}
	var tickErrs int
	var firstErr error
	times, classes := wl.Times, wl.Class
	if o.Mode == ModeFlow {
		times = nil
	}
	rngSvc := rand.New(rand.NewPCG(o.Seed, 0x737663)) // "svc": one draw per request, in arrival order
	ai := 0
	lastProgress := int64(0)
	const inf = math.MaxInt64
	for {
		ta, tc, tk := int64(inf), int64(inf), int64(inf)
		if ai < len(times) {
			ta = times[ai]
		}
		if len(w.hot) > 0 {
			tc = w.hot[0].t
		}
		if len(w.cold) > 0 {
			tk = w.cold[0].t
		}
		t := min(ta, tc, tk)
		if t > dur {
			break
		}
		w.now = t
		switch {
		case tc <= ta && tc <= tk:
			w.complete(w.hot.pop())
			continue
		case ta <= tk:
			w.arrive(int(classes[ai]), ta, rngSvc.Float64())
			ai++
			continue
		}
		e := w.cold.pop()
		switch e.kind {
		case evTick:
			if err := ctrl.Tick(ctx, w.at(t)); err != nil {
				tickErrs++
				if firstErr == nil {
					firstErr = fmt.Errorf("at %v: %w", time.Duration(t), err)
				}
			}
			w.schedule(t+interval, evTick, 0, 0)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		case evScrape:
			w.expireRouterQueue()
			w.stats.scrapeNow(w, t)
			w.schedule(t+scrape, evScrape, 0, 0)
			if o.Progress != nil && t-lastProgress >= dur/200 {
				o.Progress(time.Duration(t), wl.Duration)
				lastProgress = t
			}
		case evFlow:
			w.flow.step(w, t)
			w.schedule(t+w.flow.step_, evFlow, 0, 0)
		default:
			w.handle(e)
		}
		if w.dirty {
			w.runScheduler(false)
		}
	}
	w.now = dur
	w.finish(res)
	res.TickErrors = tickErrs
	if firstErr != nil {
		res.FirstTickError = firstErr.Error()
	}
	if o.Progress != nil {
		o.Progress(wl.Duration, wl.Duration)
	}
	return res, nil
}

// initial puts the cluster in the state it was in when the recording
// began: each class at the controller's initial replicas (by default what
// the clairvoyant bound plans for the first minutes),
// ready, on ready nodes of the cheapest fitting nodegroups, and every
// nodegroup at least at its minimum size.
func (w *World) initial(ctrl Controller, env Env) {
	init, _ := ctrl.(Initializer)
	if init == nil {
		// Every controller without its own idea starts where the
		// clairvoyant bound would: enough for the first minutes, placed.
		if cv, err := NewClairvoyant(0)(env); err == nil {
			init = cv.(Initializer)
		}
	}
	w.stats.initial = true
	for g := range w.ngs {
		ng := &w.ngs[g]
		for ng.desired < ng.min {
			ng.desired++
			w.launch(g, true)
		}
	}
	for c := range w.classes {
		ci := &w.classes[c]
		n := ci.minRep
		if init != nil {
			n = init.InitialReplicas(ci.name)
		}
		ci.replicas = min(max(n, ci.minRep), ci.maxRep)
		w.reconcileClass(c)
	}
	w.runScheduler(true)
	w.stats.initial = false
}

// templates returns the GPU instances (or CPU slots) of a new node of
// every nodegroup, in its default layout.
func (w *World) templates() map[string][]SlotTemplate {
	out := map[string][]SlotTemplate{}
	for g := range w.ngs {
		ng := &w.ngs[g]
		for _, s := range w.buildSlots(g, ng.defaultMIGOrLayout()) {
			out[ng.name] = append(out[ng.name], SlotTemplate{GPU: s.gpu, Profile: s.profile, UsableMiB: s.usable})
		}
	}
	return out
}

func (w *World) costSoFar() float64 {
	total := 0.0
	for i := range w.nodes {
		n := &w.nodes[i]
		end := n.goneAt
		if n.state != nodeGone {
			end = w.now
		}
		total += w.ngs[n.ng].price * float64(end-n.launched) / float64(time.Hour)
	}
	return total
}

// finish closes the books: bills live nodes, fails requests still held at
// the router, and fills the result.
func (w *World) finish(r *Result) {
	for i := range w.nodes {
		n := &w.nodes[i]
		if n.state != nodeGone {
			w.stats.nodeCost(&w.ngs[n.ng], float64(w.now-n.launched)/float64(time.Hour))
		}
	}
	for c, q := range w.rq {
		for range q {
			w.stats.timeout(c)
		}
		w.rq[c] = nil
	}
	var within, total float64
	for c := range w.classes {
		a := &w.stats.classes[c]
		n := a.completed + a.timeouts + a.drops + a.interrupted
		// Counts are whole requests: the flow level moves fluid masses,
		// rounded here (the shares are of the exact masses).
		cr := ClassResult{Class: w.classes[c].name, SLOMs: float64(w.classes[c].slo) / 1e6, Requests: math.Round(n),
			WithinSLO: math.Round(a.within), Timeouts: math.Round(a.timeouts), Drops: math.Round(a.drops), Interrupted: math.Round(a.interrupted),
			P50Ms: ms(a.lat.quantile(0.5)), P95Ms: ms(a.lat.quantile(0.95)), P99Ms: ms(a.lat.quantile(0.99)), Attainment: 1,
			Worst5m: round6(a.worst5), Worst5mAt: time.Duration(a.worst5At), MinutesBelow: a.minutesBelow,
			Worst5mP95Ms: ms(time.Duration(a.worst5P95)), Worst5mP95At: time.Duration(a.worst5P95At),
			Target: round6(w.classes[c].target), MaxReplicas: a.replicaMax}
		if a.scrape > 0 {
			cr.MeanReplicas = round6(a.replicaSum / float64(a.scrape))
		}
		if n > 0 {
			cr.Attainment = round6(a.within / n)
		}
		within += a.within
		total += n
		r.Classes = append(r.Classes, cr)
	}
	r.Requests = math.Round(total)
	r.Attainment = 1
	if total > 0 {
		r.Attainment = round6(within / total)
	}
	keys := make([]costKey, 0, len(w.stats.costs))
	for k := range w.stats.costs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].ng != keys[b].ng {
			return keys[a].ng < keys[b].ng
		}
		return keys[a].capacity < keys[b].capacity
	})
	for _, k := range keys {
		r.CostBy = append(r.CostBy, CostLine{NodeGroup: k.ng, CapacityType: k.capacity, NodeHours: round6(w.stats.nodeHours[k]), Cost: round6(w.stats.costs[k])})
		r.Cost += w.stats.costs[k]
	}
	r.Cost = round6(r.Cost)
	if h := float64(w.now) / float64(time.Hour); h > 0 {
		r.CostPerHour = round6(r.Cost / h)
	}
	if w.stats.gpuTotal > 0 {
		r.GPUMemoryUtilization = round6(w.stats.gpuUsed / w.stats.gpuTotal)
	}
	r.Repartitions, r.Drains, r.Evictions = w.repartitions, w.drains, w.evictions
	r.InterruptedPods, r.SpotInterruptions, r.SpotShortfalls = w.interruptedPods, w.spotInterruptions, w.shortfalls
	r.Timeline = w.stats.timeline
	r.Incidents = w.stats.closeAll(w)
	for i := range r.Timeline.Points {
		p := &r.Timeline.Points[i]
		roundAll(p.Rate)
		roundAll(p.Capacity)
		roundAll(p.P95)
		roundAll(p.Attainment)
		roundAll(p.BandLo)
		roundAll(p.BandHi)
		p.Cost = round6(p.Cost)
	}
}

func ms(d time.Duration) float64 { return round6(float64(d) / 1e6) }

// round6 keeps six significant digits, so results print the same on every
// platform and small float noise does not show in golden files.
func round6(x float64) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	e := math.Floor(math.Log10(math.Abs(x)))
	f := math.Pow(10, 5-e)
	return math.Round(x*f) / f
}

func roundAll(xs []float64) {
	for i := range xs {
		xs[i] = round6(xs[i])
	}
}
