package scaler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/headroom-dev/headroom/policies"
)

// Controller is the control loop's core: Tick observes through Metrics,
// Cluster and Cloud, plans (Plan, pure), applies safety and acts. It reads
// no clock and never sleeps: retries are spaced by tick time. One Loop or
// one simulator drives it; SetPolicy may come from another goroutine.
type Controller struct {
	mu      sync.Mutex // serializes Tick and SetPolicy
	opts    Options
	policy  *policies.Policy
	metrics Metrics
	cluster Cluster
	cloud   Cloud
	log     *zap.Logger
	met     *selfMetrics
	st      state
}

// New assembles a controller. policy should come from policies.Load; one
// built in code is defaulted here (policies.Default, in place), since the
// core reads the policy's defaults rather than repeating them. logger and
// reg may be nil (no-op logger, no metrics).
func New(opts Options, policy *policies.Policy, m Metrics, c Cluster, cl Cloud, logger *zap.Logger, reg prometheus.Registerer) (*Controller, error) {
	if policy == nil {
		return nil, errors.New("scaler: policy is nil")
	}
	if m == nil || c == nil || cl == nil {
		return nil, errors.New("scaler: metrics, cluster and cloud are required")
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("scaler options: %w", err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	met, err := newSelfMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("registering scaler metrics: %w", err)
	}
	policies.Default(policy)
	return &Controller{opts: opts, policy: policy, metrics: m, cluster: c, cloud: cl, log: logger, met: met, st: newState()}, nil
}

// SetPolicy swaps the policy between ticks (a policy changed mid-flight):
// classes that left are forgotten, new bounds apply from the next tick.
func (c *Controller) SetPolicy(p *policies.Policy) error {
	if p == nil {
		return errors.New("scaler: policy is nil")
	}
	policies.Default(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.policy = p
	return nil
}

// Tick runs one control cycle at now. The error is non-nil only when ctx
// ended; everything else (failed reads, failed writes) is in the Decision.
// A bug that panics inside the tick is recovered, logged and reported in
// NotDone: the loop keeps going and the next tick starts from what it
// observes. Tick and SetPolicy may be called from different goroutines;
// Observe, Plan and Act, the parts of Tick for callers that drive it
// themselves, may not run concurrently with either.
func (c *Controller) Tick(ctx context.Context, now time.Time) (d Decision, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return Decision{At: now}, err
	}
	defer func() {
		if r := recover(); r != nil {
			c.met.observeErrors.WithLabelValues("panic").Inc()
			c.log.Error("tick panicked; holding until the next tick", zap.Any("panic", r), zap.Stack("stack"))
			d.At = now
			d.NotDone = append(d.NotDone, fmt.Sprintf("internal error, rest of the tick abandoned: %v", r))
			err = ctx.Err()
		}
	}()
	obs := c.Observe(ctx, now)
	d = c.Plan(obs, now)
	c.Act(ctx, &d, now)
	c.record(d)
	return d, ctx.Err()
}

// Observe reads everything one tick needs. Each read fails on its own.
func (c *Controller) Observe(ctx context.Context, now time.Time) Observations {
	var obs Observations
	windows := map[time.Duration]bool{}
	for i := range c.policy.Classes {
		s := c.policy.Classes[i].Spec.Scaling.Panic
		windows[s.StableWindow.Duration] = true
		if !s.Disabled {
			windows[s.Window.Duration] = true
		}
	}
	obs.StatsErr = map[time.Duration]error{}
	for _, w := range sortedDurations(windows) {
		stats, err := c.metrics.ClassStats(ctx, now, w)
		if err != nil {
			obs.StatsErr[w] = err
			c.met.observeErrors.WithLabelValues("class-stats").Inc()
			continue
		}
		obs.AddStats(w, stats...)
	}
	var err error
	if obs.GPU, err = c.metrics.GPUMemory(ctx, now); err != nil {
		obs.GPUErr = err
		c.met.observeErrors.WithLabelValues("gpu-memory").Inc()
	}
	if obs.Usage, err = c.metrics.PodUsage(ctx, now); err != nil {
		obs.UsageErr = err
		c.met.observeErrors.WithLabelValues("pod-usage").Inc()
	}
	if obs.Cluster, err = c.cluster.Snapshot(ctx); err != nil {
		obs.ClusterErr = err
		c.met.observeErrors.WithLabelValues("cluster").Inc()
	}
	if obs.NodeGroups, err = c.cloud.NodeGroups(ctx); err != nil {
		obs.CloudErr = err
		c.met.observeErrors.WithLabelValues("nodegroups").Inc()
	}
	if obs.Interruptions, err = c.cloud.Interruptions(ctx, now); err != nil {
		obs.InterruptErr = err
		c.met.observeErrors.WithLabelValues("interruptions").Inc()
	}
	return obs
}

// Act applies the plan's actions in phase order under the safety rules:
// dry-run, per-target backoff, the per-tick action budget, and no scale-down
// in a tick where a scale-up failed. Statuses and errors are written back
// into d.
func (c *Controller) Act(ctx context.Context, d *Decision, now time.Time) {
	budget := c.opts.MaxActionsPerTick
	upFailed := false
	for i := range d.Actions {
		a := &d.Actions[i]
		if b := c.st.backoff[a.key()]; b != nil && now.Before(b.until) {
			a.Status, a.Error = StatusSkipped, fmt.Sprintf("backing off until %s after %d failures (last: %s)", b.until.UTC().Format(time.RFC3339), b.failures, b.err)
			continue
		}
		if budget <= 0 && !a.Involuntary {
			a.Status, a.Error = StatusSkipped, fmt.Sprintf("per-tick action budget %d used: next tick", c.opts.MaxActionsPerTick)
			continue
		}
		if upFailed && a.phase >= phaseDisrupt && !a.Involuntary {
			a.Status, a.Error = StatusSkipped, "a scale-up failed this tick: holding disruption and scale-down"
			continue
		}
		budget--
		if d.DryRun {
			a.Status = StatusDryRun
			continue
		}
		err := c.apply(ctx, a)
		if r, ok := c.cluster.(Reporter); ok {
			a.Status, a.Error = StatusDone, ""
			if err != nil {
				a.Status, a.Error = StatusFailed, err.Error()
			}
			r.Report(ctx, *a)
		}
		if err == nil {
			a.Status = StatusDone
			delete(c.st.backoff, a.key())
			c.applied(a, now)
			continue
		}
		a.Status, a.Error = StatusFailed, err.Error()
		if a.phase == phaseUp {
			upFailed = true
		}
		if IsNotFound(err) {
			// The target vanished between observe and act: nothing to retry.
			a.Error += " (target vanished; re-planned next tick)"
			if a.onNode() {
				delete(c.st.procs, a.Target) // the node's procedure ends with it
			}
			continue
		}
		b := c.st.backoff[a.key()]
		if b == nil {
			b = &backoff{}
			c.st.backoff[a.key()] = b
		}
		b.failures++
		b.err = err.Error()
		delay := time.Duration(float64(c.opts.BackoffBase) * math.Pow(2, float64(b.failures-1)))
		if IsThrottled(err) {
			delay *= 2
		}
		delay = min(delay, c.opts.BackoffMax)
		if a.Involuntary {
			// A spot interruption's steps race a termination the cloud
			// has fixed: retry every tick, not after it.
			delay = min(delay, c.opts.Interval)
		}
		b.until = now.Add(delay)
		c.log.Warn("action failed", zap.String("kind", string(a.Kind)), zap.String("target", a.Target), zap.Error(err), zap.Time("retryAfter", b.until))
	}
}

func (c *Controller) apply(ctx context.Context, a *Action) error {
	switch a.Kind {
	case ActScaleClass:
		return c.cluster.ScaleClass(ctx, a.Target, a.to)
	case ActSetResources:
		return c.cluster.SetResources(ctx, a.Target, a.res)
	case ActNodeGroupSize:
		return c.cloud.SetDesiredSize(ctx, a.Target, a.to)
	case ActCordon:
		return c.cluster.Cordon(ctx, a.Target, true)
	case ActUncordon:
		return c.cluster.Cordon(ctx, a.Target, false)
	case ActDrain:
		return c.cluster.Drain(ctx, a.Target)
	case ActSetMIGConfig:
		return c.cluster.SetMIGConfig(ctx, a.Target, a.mig)
	case ActSetProfile:
		return c.cluster.SetProfile(ctx, a.Target, a.To)
	case ActRemoveNode:
		if r, ok := c.cloud.(NodeRemover); ok {
			return r.RemoveNode(ctx, a.NodeGroup, a.Target)
		}
		groups, err := c.cloud.NodeGroups(ctx)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if g.Name == a.NodeGroup {
				a.Reason += " (cloud cannot remove a named node: desired size lowered by one)"
				return c.cloud.SetDesiredSize(ctx, g.Name, max(g.Desired-1, 0))
			}
		}
		return fmt.Errorf("nodegroup %s: %w", a.NodeGroup, ErrNotFound)
	}
	return fmt.Errorf("unknown action kind %q", a.Kind)
}

// applied updates the memory after a successful write.
func (c *Controller) applied(a *Action, now time.Time) {
	switch a.Kind {
	case ActScaleClass:
		if cs := c.st.classes[a.Target]; cs != nil {
			cs.beh.Record(now, a.from, a.to)
		}
	case ActSetResources:
		if cs := c.st.classes[a.Target]; cs != nil {
			cs.applied = a.res
		}
	case ActRemoveNode:
		if p := c.st.procs[a.Target]; p != nil {
			p.Removed = true
		}
	}
}

// ---------------------------------------------------------------------------
// Metrics about the controller itself.

type selfMetrics struct {
	forecast, observed, predictedLat, observedLat *prometheus.GaugeVec
	desired, ready, multiplier, panicking         *prometheus.GaugeVec
	dataAge                                       *prometheus.GaugeVec
	actions, observeErrors                        *prometheus.CounterVec
	ticks                                         prometheus.Counter
}

func newSelfMetrics(reg prometheus.Registerer) (*selfMetrics, error) {
	g := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "headroom", Subsystem: "scaler", Name: name, Help: help}, []string{"class"})
	}
	m := &selfMetrics{
		forecast:     g("forecast_rate", "Upper-quantile forecast of the request rate at the class's horizon, req/s."),
		observed:     g("observed_rate", "Observed request rate over the stable window, req/s."),
		predictedLat: g("predicted_latency_seconds", "Model's latency at the SLO percentile for the desired replicas."),
		observedLat:  g("observed_latency_p95_seconds", "Observed p95 latency."),
		desired:      g("desired_replicas", "Replicas the controller wants."),
		ready:        g("ready_replicas", "Replicas ready and serving."),
		multiplier:   g("service_time_multiplier", "Online latency correction of the declared service time."),
		panicking:    g("panic", "1 while the class is in panic mode."),
		dataAge:      g("data_age_seconds", "Age of the newest stable-window sample at the tick; missing data keeps the last age."),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "headroom", Subsystem: "scaler", Name: "actions_total",
			Help: "Actions by kind and status."}, []string{"kind", "status"}),
		observeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "headroom", Subsystem: "scaler", Name: "observe_errors_total",
			Help: "Failed reads by source."}, []string{"source"}),
		ticks: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "headroom", Subsystem: "scaler", Name: "ticks_total", Help: "Control ticks run."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.forecast, m.observed, m.predictedLat, m.observedLat, m.desired, m.ready, m.multiplier, m.panicking, m.dataAge, m.actions, m.observeErrors, m.ticks} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (c *Controller) record(d Decision) {
	m := c.met
	m.ticks.Inc()
	for _, cd := range d.Classes {
		m.forecast.WithLabelValues(cd.Class).Set(cd.ForecastUp)
		m.observed.WithLabelValues(cd.Class).Set(cd.ObservedRate)
		m.predictedLat.WithLabelValues(cd.Class).Set(cd.PredictedP95.Seconds())
		m.observedLat.WithLabelValues(cd.Class).Set(cd.ObservedP95.Seconds())
		m.desired.WithLabelValues(cd.Class).Set(float64(cd.Desired))
		m.ready.WithLabelValues(cd.Class).Set(float64(cd.Ready))
		m.multiplier.WithLabelValues(cd.Class).Set(cd.Multiplier)
		p := 0.0
		if cd.Panicking {
			p = 1
		}
		m.panicking.WithLabelValues(cd.Class).Set(p)
		if cd.DataAge > 0 {
			m.dataAge.WithLabelValues(cd.Class).Set(cd.DataAge.Seconds())
		}
	}
	for _, a := range d.Actions {
		m.actions.WithLabelValues(string(a.Kind), a.Status).Inc()
		if a.Status == StatusFailed || a.Status == StatusSkipped {
			c.log.Info("action not done", zap.String("kind", string(a.Kind)), zap.String("target", a.Target), zap.String("status", a.Status), zap.String("error", a.Error))
		}
	}
	if len(d.Actions) > 0 {
		c.log.Debug("tick", zap.Time("at", d.At), zap.Int("actions", len(d.Actions)), zap.Bool("dryRun", d.DryRun), zap.String("summary", strconv.Itoa(d.Count("", StatusDone))+" done"))
	}
}

// ---------------------------------------------------------------------------
// Loop.

// Clock is the time source of a Loop.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Interval is the control interval a Loop ticks at (Options.Interval).
func (c *Controller) Interval() time.Duration { return c.opts.Interval }

// RealClock is the wall clock (under testing/synctest, the bubble's fake one).
func RealClock() Clock { return realClock{} }

// Loop runs Tick every Interval on Clock until ctx ends.
type Loop struct {
	Controller *Controller
	Clock      Clock
	// Interval defaults to the controller's Options.Interval.
	Interval time.Duration
	// OnDecision, if set, sees every decision (logging, the CLI, tests).
	OnDecision func(Decision)
}

// Run ticks until ctx is done and returns ctx's error.
func (l *Loop) Run(ctx context.Context) error {
	clock := l.Clock
	if clock == nil {
		clock = RealClock()
	}
	every := l.Interval
	if every <= 0 {
		every = l.Controller.opts.Interval
	}
	for {
		d, err := l.Controller.Tick(ctx, clock.Now())
		if err != nil {
			return err
		}
		if l.OnDecision != nil {
			l.OnDecision(d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-clock.After(every):
		}
	}
}
