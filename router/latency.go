package router

import (
	"math"
	"sync/atomic"
	"time"
)

// The attempt timeout bounds one attempt's wait for the response head, so a
// reader that accepts and never answers costs one attempt, not the whole
// request deadline: the attempt fails, counts against the endpoint for
// ejection, and the request is retried on another endpoint within its
// deadline and the retry budget.
//
// Unless models[].attemptTimeout sets it, it is derived from the class's
// own latency: attemptTimeoutFactor x the p99 time to response head of the
// class's recent answered attempts (the last one to two latencyWindow
// periods), at least minAttemptTimeout, at most half the request deadline.
// Until latencyMinSamples attempts were seen it is the deadline divided by
// retry.maxAttempts. The last attempt a request may make has no attempt
// timeout, only the deadline (forward). Example: readers answering in
// 200-400 ms (p99 450 ms), deadline 60 s: 4 x 450 ms = 1.8 s, so a hung
// reader costs 1.8 s and the retry still has 58 s.
//
// The floor is there for readers much faster than inference (or a router
// starved of CPU): with a 50 ms floor over 1 ms readers, a loaded
// two-core machine stalled attempts past it, and the router retried
// healthy readers and ejected one (scripts/bench-router.sh, 63 errors in
// 50,000 requests).
const (
	attemptTimeoutFactor = 4
	minAttemptTimeout    = time.Second
	latencyMinSamples    = 20
	latencyWindow        = 30 * time.Second
)

// latencyBuckets are upper bounds growing by 2^(1/4) (19% apart) from
// 1 ms: 64 buckets reach about 65 s.
const latencyBuckets = 64

func latencyBucket(d time.Duration) int {
	ms := float64(d) / float64(time.Millisecond)
	if ms <= 1 {
		return 0
	}
	b := int(math.Ceil(4 * math.Log2(ms)))
	return min(b, latencyBuckets-1)
}

func latencyBound(b int) time.Duration {
	return time.Duration(math.Pow(2, float64(b)/4) * float64(time.Millisecond))
}

// LatencyWindow keeps a class's recent attempt latencies in two
// histograms, the current period's and the last one's, for a quantile
// over the last one to two periods. Observe and Quantile are safe for
// concurrent use and take the time as an argument.
type LatencyWindow struct {
	period time.Duration
	start  atomic.Int64 // unix nanos at which cur began
	cur    atomic.Pointer[latencyHist]
	prev   atomic.Pointer[latencyHist]
}

type latencyHist struct {
	n      atomic.Int64
	counts [latencyBuckets]atomic.Int64
}

// NewLatencyWindow returns an empty window rotating every period.
func NewLatencyWindow(period time.Duration, now time.Time) *LatencyWindow {
	w := &LatencyWindow{period: period}
	w.start.Store(now.UnixNano())
	w.cur.Store(&latencyHist{})
	w.prev.Store(&latencyHist{})
	return w
}

func (w *LatencyWindow) rotate(now time.Time) {
	s := w.start.Load()
	if now.UnixNano()-s < int64(w.period) {
		return
	}
	if !w.start.CompareAndSwap(s, now.UnixNano()) {
		return // another goroutine rotates
	}
	if now.UnixNano()-s >= 2*int64(w.period) {
		w.prev.Store(&latencyHist{}) // nothing recent
	} else {
		w.prev.Store(w.cur.Load())
	}
	w.cur.Store(&latencyHist{})
}

// Observe records one latency at now.
func (w *LatencyWindow) Observe(d time.Duration, now time.Time) {
	w.rotate(now)
	h := w.cur.Load()
	h.counts[latencyBucket(d)].Add(1)
	h.n.Add(1)
}

// Quantile returns the upper bound of the bucket holding the q-quantile
// of the recent latencies and how many there are (0: no estimate).
func (w *LatencyWindow) Quantile(q float64, now time.Time) (time.Duration, int64) {
	w.rotate(now)
	a, b := w.cur.Load(), w.prev.Load()
	n := a.n.Load() + b.n.Load()
	if n == 0 {
		return 0, 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i := range latencyBuckets {
		seen += a.counts[i].Load() + b.counts[i].Load()
		if seen >= rank {
			return latencyBound(i), n
		}
	}
	return latencyBound(latencyBuckets - 1), n
}

// attemptTimeout returns the wait for a response head that one attempt
// of the class gets (see the comment at the top of this file).
func (cs *classState) attemptTimeout(maxAttempts int, now time.Time) time.Duration {
	if cs.cfg.AttemptTimeout > 0 {
		return cs.cfg.AttemptTimeout.D()
	}
	deadline := cs.cfg.Timeout.D()
	p99, n := cs.latency.Quantile(0.99, now)
	if n < latencyMinSamples {
		return deadline / time.Duration(max(maxAttempts, 1))
	}
	return min(max(attemptTimeoutFactor*p99, minAttemptTimeout), deadline/2)
}
