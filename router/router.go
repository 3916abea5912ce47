package router

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
)

// Options assembles a Router. Config is required; the rest have defaults.
type Options struct {
	Config *Config
	// Logger receives access logs and events (default: no-op).
	Logger *zap.Logger
	// Registerer receives the router's metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Gatherer, when set, is served on /metrics.
	Gatherer prometheus.Gatherer
	// TracerProvider traces requests (default: no-op, tracing off).
	TracerProvider trace.TracerProvider
	// Dial connects to readers (default: a net.Dialer with a 2 s timeout);
	// tests map addresses with it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// IntN picks random numbers for version splits and balancing
	// (default math/rand/v2.IntN); tests pass a seeded one.
	IntN func(int) int
}

// Router is the request router: an http.Handler that authenticates,
// classifies, queues fairly, balances and forwards each request.
type Router struct {
	cfg        *Config
	log        *zap.Logger
	metrics    *Metrics
	gatherer   prometheus.Gatherer
	tracer     trace.Tracer
	tracing    bool // a real TracerProvider: extract, start spans, inject
	propagator propagation.TextMapPropagator
	upstream   *upstream
	now        func() time.Time
	intn       func(int) int

	classifier *Classifier
	tenants    *Tenants
	classes    map[string]*classState
	classList  []*classState
	budget     *RetryBudget
	retryOn    map[int]bool
	draining   atomic.Bool
	byCode     codeMetricsCache
}

type classState struct {
	name        string
	versions    []*versionState
	byName      map[string]*versionState
	totalWeight int
	queue       *FairQueue
	cfg         ModelConfig
	inFlight    prometheus.Gauge
	queueHist   prometheus.Observer
	retries     prometheus.Counter
	latency     *LatencyWindow // time to response head of answered attempts
}

type versionState struct {
	name   string
	weight int
	pool   *Pool
	ready  prometheus.Gauge
	ejects prometheus.Counter
}

// New builds a Router from a validated config.
func New(o Options) (*Router, error) {
	if o.Config == nil {
		return nil, errors.New("router: nil config")
	}
	c := o.Config
	r := &Router{
		cfg:        c,
		log:        o.Logger,
		gatherer:   o.Gatherer,
		propagator: propagation.TraceContext{},
		upstream:   newUpstream(),
		now:        o.Now,
		intn:       o.IntN,
		classifier: NewClassifier(c.Classify),
		tenants:    NewTenants(c.Auth, c.Tenants),
		classes:    map[string]*classState{},
		budget:     NewRetryBudget(c.Retry.BudgetRatio, c.Retry.MinPerSecond),
		retryOn:    c.Retry.retryableStatus(),
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	if r.now == nil {
		r.now = time.Now
	}
	if o.Dial != nil {
		r.upstream.dial = o.Dial
	}
	if r.intn == nil {
		r.intn = rand.IntN
	}
	tp := o.TracerProvider
	if _, isNoop := tp.(noop.TracerProvider); tp == nil || isNoop {
		tp = noop.NewTracerProvider()
	} else {
		r.tracing = true
	}
	r.tracer = tp.Tracer("github.com/headroom-dev/headroom/router")
	r.metrics = NewMetrics(o.Registerer)
	checks := c.HealthCheck.Interval > 0
	for _, m := range c.Models {
		cs := &classState{
			name:      m.Class,
			byName:    map[string]*versionState{},
			queue:     NewFairQueue(m.MaxInFlight, m.MaxQueue),
			cfg:       m,
			inFlight:  r.metrics.InFlight.WithLabelValues(m.Class),
			queueHist: r.metrics.Queue.WithLabelValues(m.Class),
			retries:   r.metrics.Retries.WithLabelValues(m.Class),
			latency:   NewLatencyWindow(latencyWindow, r.now()),
		}
		for _, v := range m.Versions {
			vs := &versionState{name: v.Name, weight: v.Weight,
				pool:   NewPoolWith(v.Endpoints, c.Outlier, !checks, m.Balancer),
				ready:  r.metrics.Ready.WithLabelValues(m.Class, v.Name),
				ejects: r.metrics.Ejections.WithLabelValues(m.Class, v.Name)}
			vs.pool.intn = r.intn
			if !checks {
				vs.ready.Set(float64(len(v.Endpoints)))
			}
			cs.versions = append(cs.versions, vs)
			cs.byName[v.Name] = vs
			cs.totalWeight += v.Weight
		}
		r.classes[m.Class] = cs
		r.classList = append(r.classList, cs)
	}
	return r, nil
}

// Metrics returns the router's collectors.
func (r *Router) Metrics() *Metrics { return r.metrics }

// StartDraining makes /readyz fail, so load balancers and Kubernetes stop
// sending new requests; requests that still arrive are served, since the
// callers cannot know yet.
func (r *Router) StartDraining() { r.draining.Store(true) }

// Ready reports whether the router takes traffic: not draining and every
// class has a ready endpoint. The second result names the classes without.
func (r *Router) Ready() (bool, []string) {
	if r.draining.Load() {
		return false, nil
	}
	var missing []string
	for _, cs := range r.classList {
		ok := false
		for _, v := range cs.versions {
			if v.pool.HasReady() {
				ok = true
				break
			}
		}
		if !ok {
			missing = append(missing, cs.name)
		}
	}
	return len(missing) == 0, missing
}

// exchange is one request's record, filled as it moves through the router
// and written to the metrics and the access log at the end.
type exchange struct {
	start    time.Time
	class    string
	version  string
	tenant   string
	status   int
	attempts int
	endpoint string
	queued   time.Duration
	errCode  string
	bytes    int64
	// path is the normalised path once the request has one (the access
	// log's; before that the log takes the raw path).
	path   string
	method string

	// What end gives back and closes.
	fc     *fasthttp.RequestCtx
	span   trace.Span
	cancel context.CancelFunc // the request's, once admit made it; under intr's lock
	watch  *time.Timer
	gone   atomic.Bool // the client hung up (watchClient)
	intr   interrupt   // cuts off the reader's connection when it did; its lock guards watch and ended
	ended  bool
	adm    *admission
	ep     *Endpoint          // the endpoint that answered, outstanding until end
	upResp *fasthttp.Response // the reader's response
	stream *answerStream      // non-nil: the answer streams, and its Close ends the exchange
}

// finish records the exchange in the metrics, the span and the access log;
// path and remote are functions so they are only computed when the log is on.
func (r *Router) finish(x *exchange, method string, path, remote func() string, span trace.Span) {
	d := r.now().Sub(x.start)
	m := r.byCode.get(r.metrics, x.class, x.tenant, x.status)
	m.duration.Observe(d.Seconds())
	m.requests.Inc()
	if span.IsRecording() {
		span.SetName("router " + x.class)
		span.SetAttributes(
			attribute.String("headroom.class", x.class),
			attribute.String("headroom.version", x.version),
			attribute.String("headroom.tenant", x.tenant),
			attribute.Int("http.response.status_code", x.status),
			attribute.Int("headroom.attempts", x.attempts),
		)
		if x.status >= 500 {
			span.SetStatus(codes.Error, x.errCode)
		}
	}
	if r.cfg.Server.DisableAccessLog {
		return
	}
	// The access log carries no header, query or body content: keys travel
	// in headers and prompts in bodies. The path is logged, its query is
	// not, and keys sent in the path are redacted (Tenants.logPath).
	p := x.path
	if p == "" {
		p = path()
	}
	fields := []zap.Field{
		zap.String("method", method),
		zap.String("path", r.tenants.logPath(p)),
		zap.String("class", x.class),
		zap.String("version", x.version),
		zap.String("tenant", x.tenant),
		zap.Int("status", x.status),
		zap.Duration("duration", d),
		zap.Duration("queued", x.queued),
		zap.Int("attempts", x.attempts),
		zap.String("endpoint", x.endpoint),
		zap.Int64("bytes", x.bytes),
		zap.String("remote", hostOnly(remote())),
	}
	if x.errCode != "" {
		fields = append(fields, zap.String("error", x.errCode))
	}
	if sc := span.SpanContext(); sc.IsValid() {
		fields = append(fields, zap.String("trace_id", sc.TraceID().String()))
	}
	r.log.Info("request", fields...)
}

// admission is a request let through to forwarding: its class, version,
// deadline and whether it waited in the queue; release gives back its
// queue slot and tenant slot.
type admission struct {
	ctx    context.Context
	cancel context.CancelFunc
	cs     *classState
	vs     *versionState
	tenant *Tenant
	waited bool
}

func (a admission) release() {
	a.cs.queue.Release()
	a.cancel()
	a.cs.inFlight.Dec()
	a.tenant.release()
}

// admit classifies the request, resolves the route, applies the tenant's
// limits and waits in the class's fair queue.
func (r *Router) admit(ctx context.Context, tenant *Tenant, parts RequestParts, x *exchange) (admission, error) {
	route, err := r.classifier.Classify(parts)
	if err != nil {
		return admission{}, err
	}
	cs := r.classes[route.Class]
	if cs == nil {
		return admission{}, &RequestError{Status: http.StatusNotFound, Code: "unknown_model",
			Message: "no model class by that name"}
	}
	x.class = cs.name
	var vs *versionState
	if route.Version != "" {
		if vs = cs.byName[route.Version]; vs == nil {
			return admission{}, &RequestError{Status: http.StatusNotFound, Code: "unknown_version",
				Message: "model class " + cs.name + " has no version by that name"}
		}
	} else {
		vs = cs.pickVersion(r.intn)
	}
	x.version = vs.name
	if !tenant.Allows(cs.name) {
		return admission{}, &RequestError{Status: http.StatusForbidden, Code: "forbidden",
			Message: "the API key's tenant may not use model class " + cs.name}
	}
	if tenant.limiter != nil {
		if ok, wait := tenant.limiter.Take(r.now()); !ok {
			r.metrics.Shed.WithLabelValues(cs.name, "rate_limit").Inc()
			return admission{}, &RequestError{Status: http.StatusTooManyRequests, Code: "rate_limited",
				Message: "the tenant's request rate is over its limit", RetryAfter: wait}
		}
	}
	if !tenant.acquire() {
		r.metrics.Shed.WithLabelValues(cs.name, "tenant_concurrency").Inc()
		return admission{}, &RequestError{Status: http.StatusTooManyRequests, Code: "concurrency_limited",
			Message: "the tenant has too many requests in flight", RetryAfter: time.Second}
	}
	cs.inFlight.Inc()
	client := ctx
	ctx, cancel := context.WithTimeout(ctx, cs.cfg.Timeout.D())
	x.setCancel(cancel)
	qStart := r.now()
	waited, err := cs.queue.acquire(ctx, tenant.Name, tenant.Weight, cs.cfg.QueueTimeout.D())
	x.queued = r.now().Sub(qStart)
	cs.queueHist.Observe(x.queued.Seconds())
	if err != nil {
		cancel()
		cs.inFlight.Dec()
		tenant.release()
		if client.Err() != nil || x.gone.Load() {
			// The client went away (the watcher cancelled the wait):
			// not a refusal for load.
			return admission{}, errClientGone
		}
		reason := "queue_full"
		if errors.Is(err, ErrQueueTimeout) {
			reason = "queue_timeout"
		}
		r.metrics.Shed.WithLabelValues(cs.name, reason).Inc()
		return admission{}, &RequestError{Status: http.StatusServiceUnavailable, Code: reason,
			Message: "model class " + cs.name + " is overloaded", RetryAfter: time.Second}
	}
	return admission{ctx: ctx, cancel: cancel, cs: cs, vs: vs, tenant: tenant, waited: waited}, nil
}

func (cs *classState) pickVersion(intn func(int) int) *versionState {
	if len(cs.versions) == 1 {
		return cs.versions[0]
	}
	n := intn(cs.totalWeight)
	for _, v := range cs.versions {
		if n < v.weight {
			return v
		}
		n -= v.weight
	}
	return cs.versions[len(cs.versions)-1]
}

// hopHeaders are connection-scoped headers a proxy must not forward
// (RFC 9110 section 7.6.1).
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// noEndpoint counts a request shed because its version has no ready
// endpoint and returns its 503.
func (r *Router) noEndpoint(cs *classState, vs *versionState) error {
	r.metrics.Shed.WithLabelValues(cs.name, "no_endpoint").Inc()
	return &RequestError{Status: http.StatusServiceUnavailable, Code: "no_ready_endpoint",
		Message:    "model class " + cs.name + " version " + vs.name + " has no ready endpoint",
		RetryAfter: time.Second}
}

func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
