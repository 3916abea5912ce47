package router

import (
	"testing"
	"time"
)

// waitFor polls cond until it holds and fails the test after 10 s. It is
// for state with no event to wait on (a metric, a socket, a queue's
// length); where there is an event, tests wait on a channel instead.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("condition never held")
		}
	}
}

// recv returns the next value from c and fails the test after 10 s.
func recv[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never happened", what)
		panic("unreachable")
	}
}
