package router

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrShed is returned by FairQueue.Acquire when the request was refused or
// pushed out because the queue is full; the caller answers 503.
var ErrShed = errors.New("queue full")

// ErrQueueTimeout is returned when a request waited longer than the queue
// timeout or its own deadline.
var ErrQueueTimeout = errors.New("queue timeout")

// FairQueue admits at most limit requests of one class at once; the rest
// wait, one FIFO per tenant, and free slots go to tenants in weighted fair
// order by virtual-time tags, as in self-clocked and start-time fair
// queueing (Golestani 1994; Goyal, Vin, Cheng 1996): each waiting request
// gets start tag S = max(V, tenant's last finish tag) and finish tag
// F = S + 1/weight (every request costs one unit: service times are not
// known in advance); the smallest F goes first, ties to the lower tenant
// name, and V advances to the S of the request dispatched. A tenant that
// floods the queue thus only delays its own later requests: with tenants A
// (1000 queued) and B (2 queued), equal weights, B's two requests are
// dispatched within the first four.
//
// When the queue is full, the arriving request and the newest request of the
// tenant with the longest queue compete: if the arriving tenant's queue is
// the longest, the arrival is refused; otherwise the other tenant's newest
// request is pushed out. So a spike fills only its own share of the queue.
type FairQueue struct {
	mu       sync.Mutex
	limit    int // 0: unlimited
	maxQueue int
	inFlight int
	queued   int
	vtime    float64
	tenants  map[string]*tenantQueue
}

type tenantQueue struct {
	name       string
	weight     float64
	lastFinish float64
	waiting    []*waiter
}

type waiter struct {
	tq     *tenantQueue
	finish float64
	start  float64
	ready  chan struct{}
	err    error // set before ready closes: nil granted, ErrShed pushed out
}

// NewFairQueue returns a queue admitting limit requests at once (0:
// unlimited) with up to maxQueue waiting.
func NewFairQueue(limit, maxQueue int) *FairQueue {
	return &FairQueue{limit: limit, maxQueue: maxQueue, tenants: map[string]*tenantQueue{}}
}

// Stats returns the requests in flight and waiting.
func (q *FairQueue) Stats() (inFlight, queued int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.inFlight, q.queued
}

// Acquire waits for a slot for tenant (with its fair-share weight) until
// ctx ends or timeout passes. On success the caller must call Release once.
func (q *FairQueue) Acquire(ctx context.Context, tenant string, weight float64, timeout time.Duration) error {
	_, err := q.acquire(ctx, tenant, weight, timeout)
	return err
}

// acquire is Acquire that also reports whether the request was queued
// (granted at once: false).
func (q *FairQueue) acquire(ctx context.Context, tenant string, weight float64, timeout time.Duration) (queued bool, err error) {
	q.mu.Lock()
	if q.limit == 0 || (q.inFlight < q.limit && q.queued == 0) {
		q.inFlight++
		q.mu.Unlock()
		return false, nil
	}
	w, err := q.enqueueLocked(tenant, weight)
	q.mu.Unlock()
	if err != nil {
		return false, err
	}
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-w.ready:
		return true, w.err
	case <-ctx.Done():
	case <-timer:
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	select {
	case <-w.ready: // granted or pushed out while we gave up
		if w.err == nil {
			q.releaseLocked()
		}
		if w.err != nil {
			return true, w.err
		}
		return true, ErrQueueTimeout
	default:
	}
	q.removeLocked(w)
	return true, ErrQueueTimeout
}

// Release frees a slot and hands it to the next waiting request.
func (q *FairQueue) Release() {
	q.mu.Lock()
	q.releaseLocked()
	q.mu.Unlock()
}

func (q *FairQueue) releaseLocked() {
	q.inFlight--
	for q.queued > 0 && (q.limit == 0 || q.inFlight < q.limit) {
		w := q.popLocked()
		q.inFlight++
		close(w.ready)
	}
}

func (q *FairQueue) enqueueLocked(tenant string, weight float64) (*waiter, error) {
	tq := q.tenants[tenant]
	if tq == nil {
		tq = &tenantQueue{name: tenant}
		q.tenants[tenant] = tq
	}
	if weight <= 0 {
		weight = 1
	}
	tq.weight = weight
	if q.queued >= q.maxQueue {
		longest := q.longestLocked()
		if longest == nil || len(tq.waiting)+1 > len(longest.waiting) || longest == tq {
			return nil, ErrShed
		}
		victim := longest.waiting[len(longest.waiting)-1]
		q.removeLocked(victim)
		victim.err = ErrShed
		close(victim.ready)
	}
	start := max(q.vtime, tq.lastFinish)
	w := &waiter{tq: tq, start: start, finish: start + 1/weight, ready: make(chan struct{})}
	tq.lastFinish = w.finish
	tq.waiting = append(tq.waiting, w)
	q.queued++
	return w, nil
}

// longestLocked returns the tenant with the most waiting requests, ties to
// the higher name (so the choice is deterministic).
func (q *FairQueue) longestLocked() *tenantQueue {
	var best *tenantQueue
	for _, tq := range q.tenants {
		if best == nil || len(tq.waiting) > len(best.waiting) ||
			len(tq.waiting) == len(best.waiting) && tq.name > best.name {
			best = tq
		}
	}
	return best
}

func (q *FairQueue) popLocked() *waiter {
	var best *tenantQueue
	for _, tq := range q.tenants {
		if len(tq.waiting) == 0 {
			continue
		}
		if best == nil || tq.waiting[0].finish < best.waiting[0].finish ||
			tq.waiting[0].finish == best.waiting[0].finish && tq.name < best.name {
			best = tq
		}
	}
	w := best.waiting[0]
	best.waiting[0] = nil
	best.waiting = best.waiting[1:]
	q.queued--
	q.vtime = max(q.vtime, w.start)
	q.forgetLocked(best)
	return w
}

func (q *FairQueue) removeLocked(w *waiter) {
	tq := w.tq
	for i, x := range tq.waiting {
		if x == w {
			tq.waiting = append(tq.waiting[:i], tq.waiting[i+1:]...)
			q.queued--
			// Give back the virtual time the request had reserved when it
			// was the tenant's last, so a timed-out request does not count
			// against the tenant's share.
			if i == len(tq.waiting) {
				tq.lastFinish = w.start
			}
			break
		}
	}
	q.forgetLocked(tq)
}

// forgetLocked drops an idle tenant's state so the map does not grow with
// every tenant ever seen; an idle tenant restarts at the current virtual time.
func (q *FairQueue) forgetLocked(tq *tenantQueue) {
	if len(tq.waiting) == 0 && tq.lastFinish <= q.vtime {
		delete(q.tenants, tq.name)
	}
}
