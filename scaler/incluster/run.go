package incluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
)

// Options configure the in-cluster controller. Zero fields take the
// defaults of withDefaults.
type Options struct {
	// PolicyDir is the policy directory, reloaded every ReloadEvery
	// (default 10s) when its files change.
	PolicyDir   string
	ReloadEvery time.Duration
	// Scaler configures the core; Scaler.DryRun plans without acting.
	Scaler scaler.Options
	// Leader election on a coordination.k8s.io Lease: only the leader
	// ticks. Disabled, this process always ticks (one replica only).
	LeaderElection bool
	LeaseNamespace string // default "headroom"
	LeaseName      string // default "headroom-controller"
	Identity       string // default the host name
	// LeaseDuration, RenewDeadline and RetryPeriod follow client-go's
	// leader election (defaults 15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Listen serves /metrics, /healthz and /readyz (default ":8080"; ""
	// after defaults is not possible, use "-" for none).
	Listen string
}

func (o Options) withDefaults() Options {
	dur := func(p *time.Duration, d time.Duration) {
		if *p <= 0 {
			*p = d
		}
	}
	dur(&o.ReloadEvery, 10*time.Second)
	dur(&o.LeaseDuration, 15*time.Second)
	dur(&o.RenewDeadline, 10*time.Second)
	dur(&o.RetryPeriod, 2*time.Second)
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&o.LeaseNamespace, "headroom")
	def(&o.LeaseName, "headroom-controller")
	def(&o.Listen, ":8080")
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.PolicyDir == "" {
		errs = append(errs, errors.New("a policy directory is required (--policy)"))
	}
	if o.LeaderElection && o.Identity == "" {
		errs = append(errs, errors.New("leader election needs an identity (the pod name)"))
	}
	if !(o.LeaseDuration > o.RenewDeadline && o.RenewDeadline > o.RetryPeriod) {
		errs = append(errs, errors.New("want leaseDuration > renewDeadline > retryPeriod"))
	}
	return errors.Join(errs...)
}

// Deps are the systems the controller runs against.
type Deps struct {
	Metrics scaler.Metrics
	Cluster scaler.Cluster
	Cloud   scaler.Cloud
	// Ready reports whether the adapters are ready (caches synced); nil
	// is always ready.
	Ready func() error
	// Kube is the client for the Lease; required with leader election.
	Kube     kubernetes.Interface
	Log      *zap.Logger
	Registry *prometheus.Registry
	Clock    scaler.Clock
	// OnPolicy, if set, runs on the leader with the policy in force when
	// it starts leading and after each reload (`--manage-readers` applies
	// the readers it renders). An error is logged and retried at the next
	// reload check; it never stops the loop.
	OnPolicy func(ctx context.Context, p *policies.Policy) error
}

// Controller is one controller process.
type Controller struct {
	opts   Options
	deps   Deps
	core   *scaler.Controller
	reload *Reloader

	policy   *policies.Policy // in force, for OnPolicy
	applied  bool             // OnPolicy succeeded for policy
	leader   atomic.Bool
	lastTick atomic.Int64 // unix nanos of the last tick's end
	met      shellMetrics
}

type shellMetrics struct {
	tick   prometheus.Histogram
	leader prometheus.Gauge
}

// New loads the policy and assembles the core over deps.
func New(opts Options, deps Deps) (*Controller, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("controller options: %w", err)
	}
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	if deps.Clock == nil {
		deps.Clock = scaler.RealClock()
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	if opts.LeaderElection && deps.Kube == nil {
		return nil, errors.New("controller: leader election needs a Kubernetes client")
	}
	r, err := NewReloader(opts.PolicyDir, deps.Log, deps.Registry)
	if err != nil {
		return nil, err
	}
	pol, err := r.Load()
	if err != nil {
		return nil, err
	}
	core, err := scaler.New(opts.Scaler, pol, deps.Metrics, deps.Cluster, deps.Cloud, deps.Log, deps.Registry)
	if err != nil {
		return nil, err
	}
	c := &Controller{opts: opts, deps: deps, core: core, reload: r, policy: pol}
	c.met.tick = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "headroom", Subsystem: "controller", Name: "tick_duration_seconds",
		Help: "Wall time of one control tick (observe, plan, act).", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)})
	c.met.leader = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "headroom", Subsystem: "controller", Name: "leader",
		Help: "1 while this process holds the Lease and acts."})
	for _, col := range []prometheus.Collector{c.met.tick, c.met.leader} {
		if err := deps.Registry.Register(col); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Once runs one tick now and returns its Decision (with Scaler.DryRun,
// the plan without acting).
func (c *Controller) Once(ctx context.Context) (scaler.Decision, error) {
	return c.core.Tick(ctx, c.deps.Clock.Now())
}

// Run serves the HTTP endpoints and, while leader, runs the loop until ctx
// ends. Losing the Lease ends Run with an error, so the process restarts
// as a follower rather than act on a stale view.
func (c *Controller) Run(ctx context.Context) error {
	srv, err := c.serve()
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if !c.opts.LeaderElection {
		c.setLeader(true)
		return c.lead(ctx)
	}
	lock := &resourcelock.LeaseLock{Client: c.deps.Kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: c.opts.Identity}}
	lock.LeaseMeta.Namespace, lock.LeaseMeta.Name = c.opts.LeaseNamespace, c.opts.LeaseName
	var runErr error
	var once sync.Once
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true, Name: c.opts.LeaseName,
		LeaseDuration: c.opts.LeaseDuration, RenewDeadline: c.opts.RenewDeadline, RetryPeriod: c.opts.RetryPeriod,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				c.setLeader(true)
				c.deps.Log.Info("leading", zap.String("identity", c.opts.Identity))
				if err := c.lead(lctx); err != nil && !errors.Is(err, context.Canceled) {
					once.Do(func() { runErr = err })
				}
			},
			OnStoppedLeading: func() {
				c.setLeader(false)
				if ctx.Err() == nil {
					once.Do(func() { runErr = errors.New("leader election lost") })
				}
			},
			OnNewLeader: func(id string) {
				if id != c.opts.Identity {
					c.deps.Log.Info("following", zap.String("leader", id))
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	le.Run(ctx) // returns when ctx ends or the lease is lost
	if runErr != nil {
		return runErr
	}
	return ctx.Err()
}

func (c *Controller) setLeader(on bool) {
	c.leader.Store(on)
	v := 0.0
	if on {
		v = 1
	}
	c.met.leader.Set(v)
}

// lead runs the loop: a policy check, then a tick, every interval. A tick
// in progress when ctx ends runs to its end (its context is detached from
// ctx and bounded by the interval).
func (c *Controller) lead(ctx context.Context) error {
	every := c.core.Interval()
	nextReload := time.Time{}
	for {
		now := c.deps.Clock.Now()
		if !now.Before(nextReload) {
			if p := c.reload.Check(); p != nil {
				if err := c.core.SetPolicy(p); err != nil {
					c.deps.Log.Error("new policy refused", zap.Error(err))
				} else {
					c.policy, c.applied = p, false
				}
			}
			c.onPolicy(ctx)
			nextReload = now.Add(c.opts.ReloadEvery)
		}
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), every)
		d, _ := c.core.Tick(tctx, now)
		cancel()
		end := c.deps.Clock.Now()
		c.met.tick.Observe(end.Sub(now).Seconds())
		c.lastTick.Store(end.UnixNano())
		c.logDecision(d)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.deps.Clock.After(every):
		}
	}
}

// onPolicy runs the OnPolicy hook for the policy in force until it
// succeeds once.
func (c *Controller) onPolicy(ctx context.Context) {
	if c.deps.OnPolicy == nil || c.applied {
		return
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := c.deps.OnPolicy(hctx, c.policy); err != nil {
		c.deps.Log.Error("applying the policy's readers failed; retried at the next reload check", zap.Error(err))
		return
	}
	c.applied = true
}

func (c *Controller) logDecision(d scaler.Decision) {
	for _, a := range d.Actions {
		c.deps.Log.Info("action", zap.String("kind", string(a.Kind)), zap.String("target", a.Target),
			zap.String("from", a.From), zap.String("to", a.To), zap.String("status", a.Status),
			zap.String("error", a.Error), zap.String("reason", a.Reason))
	}
	for _, s := range d.NotDone {
		c.deps.Log.Info("not done", zap.String("what", s))
	}
}

// Handler serves /metrics, /healthz and /readyz.
//
//	/healthz  200 unless this process leads and its last tick ended more
//	          than 3 intervals ago (a stuck loop: the kubelet restarts it)
//	/readyz   200 once the adapters are ready (caches synced); followers
//	          are ready too, so a rollout does not wait for the Lease
func (c *Controller) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(c.deps.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if c.leader.Load() {
			last := c.lastTick.Load()
			if last != 0 && c.deps.Clock.Now().Sub(time.Unix(0, last)) > 3*c.core.Interval() {
				http.Error(w, "control loop stuck: last tick "+time.Unix(0, last).UTC().Format(time.RFC3339), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if c.deps.Ready != nil {
			if err := c.deps.Ready(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

func (c *Controller) serve() (*http.Server, error) {
	srv := &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 5 * time.Second}
	if c.opts.Listen == "-" {
		return srv, nil
	}
	ln, err := net.Listen("tcp", c.opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", c.opts.Listen, err)
	}
	c.deps.Log.Info("serving /metrics, /healthz, /readyz", zap.String("addr", ln.Addr().String()))
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.deps.Log.Error("metrics server stopped", zap.Error(err))
		}
	}()
	return srv, nil
}

// Leading reports whether this process holds the Lease (or runs without
// leader election).
func (c *Controller) Leading() bool { return c.leader.Load() }
