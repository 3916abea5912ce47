package router

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint is one backend address with its live state.
type Endpoint struct {
	Addr        string
	outstanding atomic.Int64
	ready       atomic.Bool

	mu          sync.Mutex
	consecFails int
	ejections   int
	// ejectedUntil is read on every Pick without the lock; nil: never
	// ejected. A pointer keeps the time's monotonic reading.
	ejectedUntil atomic.Pointer[time.Time]
}

// Outstanding returns the requests in flight to the endpoint.
func (e *Endpoint) Outstanding() int64 { return e.outstanding.Load() }

// Ready reports the endpoint's last health-check result.
func (e *Endpoint) Ready() bool { return e.ready.Load() }

// SetReady records a health-check result.
func (e *Endpoint) SetReady(ok bool) { e.ready.Store(ok) }

func (e *Endpoint) ejected(now time.Time) bool {
	u := e.ejectedUntil.Load()
	return u != nil && now.Before(*u)
}

// Balancer names how a Pool chooses among its eligible endpoints.
const (
	// BalancerLeastOutstanding (the default) picks the endpoint with the
	// fewest requests in flight; ties rotate round-robin so a cold start,
	// where every endpoint has none, spreads instead of piling onto the
	// first. It is what the scaler's latency model and the simulator assume.
	BalancerLeastOutstanding = "least-outstanding"
	// BalancerP2C picks the less loaded of two random candidates, the power
	// of two choices (Mitzenmacher 2001): no scan, and several routers do
	// not herd onto the same endpoint, at the price of a longer tail.
	BalancerP2C = "p2c"
)

// Pool is the endpoints of one class version. Pick chooses among the ready,
// not-ejected endpoints by the pool's balancer: least outstanding requests
// (default) or the power of two choices. Eligibility, ejection and retry
// avoidance are the same for both.
type Pool struct {
	eps        atomic.Pointer[[]*Endpoint]
	outlier    OutlierConfig
	intn       func(int) int
	balancer   string
	rr         atomic.Uint64 // rotates ties under least-outstanding
	startReady bool
	mu         sync.Mutex // serialises SetEndpoints
}

// NewPool returns a least-outstanding pool over addrs; every endpoint starts
// ready when ready is true (no health checks), not ready otherwise.
func NewPool(addrs []string, outlier OutlierConfig, ready bool) *Pool {
	return NewPoolWith(addrs, outlier, ready, BalancerLeastOutstanding)
}

// NewPoolWith is NewPool with a balancer, BalancerLeastOutstanding or
// BalancerP2C (anything else, "" included, means least-outstanding).
func NewPoolWith(addrs []string, outlier OutlierConfig, ready bool, balancer string) *Pool {
	if balancer != BalancerP2C {
		balancer = BalancerLeastOutstanding
	}
	p := &Pool{outlier: outlier, intn: rand.IntN, balancer: balancer, startReady: ready}
	p.SetEndpoints(addrs)
	return p
}

// Balancer returns the pool's balancer name.
func (p *Pool) Balancer() string { return p.balancer }

// SetEndpoints replaces the pool's addresses, as an endpoint source reports
// them. Endpoints that stay keep their state (outstanding requests,
// readiness, ejection); new ones start ready only when there are no health
// checks. Requests in flight to a removed endpoint finish normally.
func (p *Pool) SetEndpoints(addrs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := map[string]*Endpoint{}
	if cur := p.eps.Load(); cur != nil {
		for _, e := range *cur {
			old[e.Addr] = e
		}
	}
	eps := make([]*Endpoint, 0, len(addrs))
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			continue
		}
		seen[a] = true
		e := old[a]
		if e == nil {
			e = &Endpoint{Addr: a}
			e.ready.Store(p.startReady)
		}
		eps = append(eps, e)
	}
	p.eps.Store(&eps)
}

// Endpoints returns the pool's endpoints (do not modify the slice).
func (p *Pool) Endpoints() []*Endpoint { return *p.eps.Load() }

// HasReady reports whether any endpoint is ready.
func (p *Pool) HasReady() bool {
	for _, e := range p.Endpoints() {
		if e.Ready() {
			return true
		}
	}
	return false
}

// Pick returns an endpoint other than avoid if it can, or nil when no
// endpoint is ready. Ejected endpoints are skipped unless every ready one
// is ejected (then ejection is ignored: some service beats none). Among the
// eligible endpoints the pool's balancer chooses.
func (p *Pool) Pick(now time.Time, avoid *Endpoint) *Endpoint {
	var buf [64]*Endpoint
	cands := buf[:0]
	all := p.Endpoints()
	for pass := 0; pass < 3 && len(cands) == 0; pass++ {
		for _, e := range all {
			if !e.Ready() {
				continue
			}
			if pass < 2 && e.ejected(now) {
				continue
			}
			if pass == 0 && e == avoid {
				continue
			}
			cands = append(cands, e)
		}
	}
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	if p.balancer == BalancerP2C {
		return p.pickP2C(cands)
	}
	return p.pickLeast(cands)
}

// pickLeast returns a candidate with the fewest outstanding requests; among
// equal minima it takes the next in a round-robin rotation. Counts are read
// once into a snapshot so a concurrent change cannot make the choice miss.
func (p *Pool) pickLeast(cands []*Endpoint) *Endpoint {
	var nbuf [64]int64
	n := nbuf[:0]
	lo, ties := int64(math.MaxInt64), 0
	for _, e := range cands {
		o := e.Outstanding()
		n = append(n, o)
		switch {
		case o < lo:
			lo, ties = o, 1
		case o == lo:
			ties++
		}
	}
	k := 0
	if ties > 1 {
		k = int(p.rr.Add(1) % uint64(ties))
	}
	for i, o := range n {
		if o != lo {
			continue
		}
		if k == 0 {
			return cands[i]
		}
		k--
	}
	return cands[0] // unreachable: ties counts the minima in n
}

// pickP2C returns the less loaded of two distinct random candidates.
func (p *Pool) pickP2C(cands []*Endpoint) *Endpoint {
	i := p.intn(len(cands))
	j := p.intn(len(cands) - 1)
	if j >= i {
		j++
	}
	a, b := cands[i], cands[j]
	if b.Outstanding() < a.Outstanding() {
		return b
	}
	return a
}

// Report records the outcome of a request to e; failed means a connection
// error or a 5xx answer. After ConsecutiveFailures failures in a row e is
// ejected for BaseEjection x (its ejection count), capped at MaxEjection, as
// long as no more than MaxEjectedPercent of the pool is ejected. It returns
// true when this report ejected e.
func (p *Pool) Report(e *Endpoint, now time.Time, failed bool) bool {
	e.mu.Lock()
	if !failed {
		e.consecFails = 0
		e.mu.Unlock()
		return false
	}
	e.consecFails++
	if e.consecFails < p.outlier.ConsecutiveFailures || e.ejected(now) {
		e.mu.Unlock()
		return false
	}
	e.mu.Unlock()
	ejected := 0
	all := p.Endpoints()
	for _, o := range all {
		if o != e && o.ejected(now) {
			ejected++
		}
	}
	if (ejected+1)*100 > p.outlier.MaxEjectedPercent*len(all) {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ejections++
	d := time.Duration(e.ejections) * p.outlier.BaseEjection.D()
	d = min(d, p.outlier.MaxEjection.D())
	until := now.Add(d)
	e.ejectedUntil.Store(&until)
	e.consecFails = 0
	return true
}

// RetryBudget bounds retries to a fraction of requests, as Finagle's
// RetryBudget and Envoy's retry budgets do: each request deposits ratio
// tokens, each retry withdraws one, and minPerSecond tokens are added per
// second so a quiet service can still retry. The balance is capped, so
// over any window retries <= ratio x requests + minPerSecond x seconds + cap.
type RetryBudget struct {
	mu           sync.Mutex
	ratio        float64
	minPerSecond float64
	cap          float64
	balance      float64
	last         time.Time
}

// NewRetryBudget returns a budget; the cap is one second of the minimum
// plus ten requests' worth, so a burst of failures cannot spend a long
// quiet period's savings.
func NewRetryBudget(ratio, minPerSecond float64) *RetryBudget {
	c := minPerSecond + 10*ratio
	return &RetryBudget{ratio: ratio, minPerSecond: minPerSecond, cap: c, balance: c}
}

// Deposit records a first attempt at now.
func (b *RetryBudget) Deposit(now time.Time) {
	b.mu.Lock()
	b.refillLocked(now)
	b.balance = min(b.cap, b.balance+b.ratio)
	b.mu.Unlock()
}

// Withdraw asks for one retry at now.
func (b *RetryBudget) Withdraw(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(now)
	if b.balance < 1 {
		return false
	}
	b.balance--
	return true
}

func (b *RetryBudget) refillLocked(now time.Time) {
	if !b.last.IsZero() && now.After(b.last) {
		b.balance = min(b.cap, b.balance+now.Sub(b.last).Seconds()*b.minPerSecond)
	}
	if now.After(b.last) {
		b.last = now
	}
}
