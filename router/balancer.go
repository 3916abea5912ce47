package router

import (
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

	mu           sync.Mutex
	consecFails  int
	ejections    int
	ejectedUntil time.Time
}

// Outstanding returns the requests in flight to the endpoint.
func (e *Endpoint) Outstanding() int64 { return e.outstanding.Load() }

// Ready reports the endpoint's last health-check result.
func (e *Endpoint) Ready() bool { return e.ready.Load() }

// SetReady records a health-check result.
func (e *Endpoint) SetReady(ok bool) { e.ready.Store(ok) }

func (e *Endpoint) ejected(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return now.Before(e.ejectedUntil)
}

// Pool is the endpoints of one class version. Pick chooses among the ready,
// not-ejected endpoints by the power of two choices on outstanding requests
// (Mitzenmacher 2001): two random candidates, the less loaded wins, which
// keeps the maximum load close to least-outstanding without scanning or
// herding every router onto the same endpoint.
type Pool struct {
	eps        atomic.Pointer[[]*Endpoint]
	outlier    OutlierConfig
	intn       func(int) int
	startReady bool
	mu         sync.Mutex // serialises SetEndpoints
}

// NewPool returns a pool over addrs; every endpoint starts ready when ready
// is true (no health checks), not ready otherwise.
func NewPool(addrs []string, outlier OutlierConfig, ready bool) *Pool {
	p := &Pool{outlier: outlier, intn: rand.IntN, startReady: ready}
	p.SetEndpoints(addrs)
	return p
}

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
// is ejected (then ejection is ignored: some service beats none).
func (p *Pool) Pick(now time.Time, avoid *Endpoint) *Endpoint {
	var buf [16]*Endpoint
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
	if e.consecFails < p.outlier.ConsecutiveFailures || now.Before(e.ejectedUntil) {
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
	e.ejectedUntil = now.Add(d)
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
