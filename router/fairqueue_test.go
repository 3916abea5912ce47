package router

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"
)

// drain pops every waiting request and returns the tenants in dispatch order.
func drain(q *FairQueue) []string {
	var order []string
	for q.queued > 0 {
		order = append(order, q.popLocked().tq.name)
	}
	return order
}

func TestFairQueueSpikeDoesNotStarve(t *testing.T) {
	q := NewFairQueue(1, 1000)
	q.inFlight = 1
	for range 500 {
		if _, err := q.enqueueLocked("spiky", 1); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := q.enqueueLocked("quiet", 1); err != nil {
			t.Fatal(err)
		}
	}
	order := drain(q)
	pos := []int{}
	for i, n := range order {
		if n == "quiet" {
			pos = append(pos, i)
		}
	}
	if len(pos) != 2 || pos[1] > 3 {
		t.Fatalf("quiet tenant dispatched at %v of %d; want both within the first 4", pos, len(order))
	}
}

func TestFairQueueWeights(t *testing.T) {
	q := NewFairQueue(1, 1000)
	q.inFlight = 1
	for range 30 {
		_, _ = q.enqueueLocked("gold", 2)
		_, _ = q.enqueueLocked("std", 1)
	}
	order := drain(q)
	gold := 0
	for _, n := range order[:30] {
		if n == "gold" {
			gold++
		}
	}
	if gold != 20 {
		t.Fatalf("gold got %d of the first 30 slots, want 20 (weight 2:1)", gold)
	}
}

// TestFairQueueProperty: with every tenant backlogged from the start, the
// queue keeps each pair's normalised service within 1/w_i + 1/w_j of each
// other at every point where both still wait (the fairness bound of SFQ,
// Goyal, Vin, Cheng 1996, theorem 1, with unit-cost requests).
func TestFairQueueProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 5).Draw(t, "tenants")
		weights := make([]float64, n)
		counts := make([]int, n)
		q := NewFairQueue(1, 10000)
		q.inFlight = 1
		for i := range n {
			weights[i] = float64(rapid.IntRange(1, 4).Draw(t, fmt.Sprintf("w%d", i)))
			counts[i] = rapid.IntRange(1, 60).Draw(t, fmt.Sprintf("n%d", i))
		}
		// interleave arrivals in a drawn order
		left := append([]int(nil), counts...)
		for {
			var open []int
			for i, l := range left {
				if l > 0 {
					open = append(open, i)
				}
			}
			if len(open) == 0 {
				break
			}
			i := open[rapid.IntRange(0, len(open)-1).Draw(t, "who")]
			left[i]--
			if _, err := q.enqueueLocked(fmt.Sprintf("t%d", i), weights[i]); err != nil {
				t.Fatal(err)
			}
		}
		served := make([]int, n)
		for q.queued > 0 {
			w := q.popLocked()
			var i int
			fmt.Sscanf(w.tq.name, "t%d", &i)
			served[i]++
			for a := range n {
				for b := range n {
					if a == b || served[a] == counts[a] || served[b] == counts[b] {
						continue
					}
					d := math.Abs(float64(served[a])/weights[a] - float64(served[b])/weights[b])
					if d > 1/weights[a]+1/weights[b]+1e-9 {
						t.Fatalf("unfair: served %v weights %v", served, weights)
					}
				}
			}
		}
	})
}

// TestFairQueueFullProperty: the queue never holds more than maxQueue, and
// an arrival is refused only when its tenant already holds the longest queue.
func TestFairQueueFullProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		max := rapid.IntRange(1, 20).Draw(t, "max")
		q := NewFairQueue(1, max)
		q.inFlight = 1
		ops := rapid.SliceOfN(rapid.IntRange(0, 3), 1, 200).Draw(t, "ops")
		for _, op := range ops {
			if op == 3 {
				if q.queued > 0 {
					q.popLocked()
				}
				continue
			}
			name := fmt.Sprintf("t%d", op)
			mine := 0
			if tq := q.tenants[name]; tq != nil {
				mine = len(tq.waiting)
			}
			longest := 0
			for _, tq := range q.tenants {
				longest = maxInt(longest, len(tq.waiting))
			}
			full := q.queued >= max
			_, err := q.enqueueLocked(name, 1)
			if err != nil && !(full && mine == longest) {
				t.Fatalf("refused %s with %d queued while the longest holds %d", name, mine, longest)
			}
			if q.queued > max {
				t.Fatalf("queued %d > max %d", q.queued, max)
			}
		}
	})
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// TestFairQueueAcquireRelease runs in a synctest bubble: the timeouts are
// the bubble's clock, and synctest.Wait returns once every waiter is
// blocked in the queue, so each step checks a settled state.
func TestFairQueueAcquireRelease(t *testing.T) {
	synctest.Test(t, testFairQueueAcquireRelease)
}

func testFairQueueAcquireRelease(t *testing.T) {
	q := NewFairQueue(2, 2)
	ctx := t.Context()
	for range 2 {
		if err := q.Acquire(ctx, "a", 1, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// A third waits and times out.
	start := time.Now()
	if err := q.Acquire(ctx, "a", 1, 20*time.Millisecond); !errors.Is(err, ErrQueueTimeout) {
		t.Fatalf("got %v, want ErrQueueTimeout", err)
	}
	if d := time.Since(start); d != 20*time.Millisecond {
		t.Fatalf("timed out after %v, want the 20 ms timeout", d)
	}
	// Two waiters from a fill the queue; b's arrival pushes out a's newest.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 2 {
		wg.Go(func() { errs[i] = q.Acquire(ctx, "a", 1, 5*time.Second) })
		synctest.Wait()
		if _, qd := q.Stats(); qd != i+1 {
			t.Fatalf("%d queued after %d waiters, want %d", qd, i+1, i+1)
		}
	}
	wg.Go(func() { errs[2] = q.Acquire(ctx, "b", 1, 5*time.Second) })
	synctest.Wait()
	q.mu.Lock()
	bWaiting := q.tenants["b"] != nil && len(q.tenants["b"].waiting) == 1
	q.mu.Unlock()
	if !bWaiting {
		t.Fatal("b's arrival is not queued")
	}
	// One of a's waiters was shed; release both slots to grant the others.
	q.Release()
	q.Release()
	wg.Wait()
	shed := 0
	for _, e := range errs {
		if errors.Is(e, ErrShed) {
			shed++
		} else if e != nil {
			t.Fatalf("unexpected %v", e)
		}
	}
	if shed != 1 || errs[2] != nil {
		t.Fatalf("errs %v: want exactly one of a's waiters shed and b granted", errs)
	}
	if in, qd := q.Stats(); in != 2 || qd != 0 {
		t.Fatalf("in flight %d queued %d, want 2 and 0", in, qd)
	}
	// A cancelled waiter leaves the queue.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- q.Acquire(cctx, "c", 1, 0) }()
	synctest.Wait()
	if _, qd := q.Stats(); qd != 1 {
		t.Fatalf("%d queued, want the waiter from c", qd)
	}
	cancel()
	if err := <-done; !errors.Is(err, ErrQueueTimeout) {
		t.Fatalf("cancelled: got %v", err)
	}
	if _, qd := q.Stats(); qd != 0 {
		t.Fatalf("cancelled waiter still queued")
	}
}
