package router

import (
	"math/rand/v2"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func testOutlier() OutlierConfig {
	return OutlierConfig{ConsecutiveFailures: 3, BaseEjection: Duration(10 * time.Second),
		MaxEjection: Duration(25 * time.Second), MaxEjectedPercent: 50}
}

func TestPickPrefersLessLoaded(t *testing.T) {
	p := NewPool([]string{"a:1", "b:1"}, testOutlier(), true)
	p.Endpoints()[0].outstanding.Store(5)
	now := time.Unix(0, 0)
	for range 20 {
		if got := p.Pick(now, nil); got.Addr != "b:1" {
			t.Fatalf("picked %s with 5 outstanding over b with 0", got.Addr)
		}
	}
}

func TestPickSkipsUnreadyEjectedAndAvoided(t *testing.T) {
	p := NewPool([]string{"a:1", "b:1", "c:1"}, testOutlier(), true)
	now := time.Unix(0, 0)
	p.Endpoints()[0].SetReady(false)
	for range 3 {
		p.Report(p.Endpoints()[1], now, true)
	}
	for range 20 {
		if got := p.Pick(now, nil); got.Addr != "c:1" {
			t.Fatalf("picked %s; want c (a unready, b ejected)", got.Addr)
		}
	}
	// Avoiding c leaves only the ejected b: a healthy endpoint that failed
	// once beats an ejected one, so avoid gives way before ejection does.
	if got := p.Pick(now, p.Endpoints()[2]); got.Addr != "c:1" {
		t.Fatalf("picked %s avoiding c; want c", got.Addr)
	}
	// After the ejection, b is back.
	later := now.Add(11 * time.Second)
	if got := p.Pick(later, p.Endpoints()[2]); got.Addr != "b:1" {
		t.Fatalf("picked %s after ejection ended; want b", got.Addr)
	}
	p.Endpoints()[1].SetReady(false)
	p.Endpoints()[2].SetReady(false)
	if got := p.Pick(later, nil); got != nil {
		t.Fatalf("picked %s with nothing ready", got.Addr)
	}
}

func TestEjectionBackoffAndCap(t *testing.T) {
	p := NewPool([]string{"a:1", "b:1", "c:1", "d:1"}, testOutlier(), true)
	now := time.Unix(0, 0)
	ejectAt := func(e *Endpoint, at time.Time) bool {
		ej := false
		for range 3 {
			ej = p.Report(e, at, true) || ej
		}
		return ej
	}
	if !ejectAt(p.Endpoints()[0], now) {
		t.Fatal("a not ejected after 3 failures")
	}
	if !p.Endpoints()[0].ejected(now.Add(9*time.Second)) || p.Endpoints()[0].ejected(now.Add(10*time.Second)) {
		t.Fatal("first ejection should last 10s")
	}
	second := now.Add(10 * time.Second)
	ejectAt(p.Endpoints()[0], second)
	if !p.Endpoints()[0].ejected(second.Add(19*time.Second)) || p.Endpoints()[0].ejected(second.Add(20*time.Second)) {
		t.Fatal("second ejection should last 20s")
	}
	third := second.Add(20 * time.Second)
	ejectAt(p.Endpoints()[0], third)
	if p.Endpoints()[0].ejected(third.Add(25 * time.Second)) {
		t.Fatal("ejection should be capped at 25s")
	}
	// At most 50% of 4 endpoints: b may join a, c may not.
	if !ejectAt(p.Endpoints()[1], third) {
		t.Fatal("b should be ejected (2 of 4)")
	}
	if ejectAt(p.Endpoints()[2], third) {
		t.Fatal("c must not be ejected: that would be 3 of 4")
	}
	// A success resets the failure count.
	p.Report(p.Endpoints()[3], third, true)
	p.Report(p.Endpoints()[3], third, true)
	p.Report(p.Endpoints()[3], third, false)
	p.Report(p.Endpoints()[3], third, true)
	if p.Endpoints()[3].ejected(third) {
		t.Fatal("d was ejected though its failures were not consecutive")
	}
}

// TestPowerOfTwoBalances: with requests that finish at random, P2C keeps
// the spread of outstanding requests small.
func TestPowerOfTwoBalances(t *testing.T) {
	p := NewPoolWith([]string{"a:1", "b:1", "c:1", "d:1", "e:1", "f:1", "g:1", "h:1"}, testOutlier(), true, BalancerP2C)
	r := rand.New(rand.NewPCG(1, 2))
	p.intn = r.IntN
	lo, hi := churnSpread(p, r)
	if hi-lo > 4 {
		t.Fatalf("outstanding spread %d..%d over 8 endpoints with 65 live requests; want within 4", lo, hi)
	}
}

// TestRetryBudgetProperty: over any schedule of requests and retry asks,
// granted retries <= ratio x requests + minPerSecond x seconds + cap.
func TestRetryBudgetProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ratio := rapid.Float64Range(0, 0.5).Draw(t, "ratio")
		minPS := rapid.Float64Range(0, 20).Draw(t, "minPerSecond")
		b := NewRetryBudget(ratio, minPS)
		now := time.Unix(0, 0)
		start := now
		requests, retries := 0, 0
		steps := rapid.SliceOfN(rapid.IntRange(0, 2), 1, 500).Draw(t, "steps")
		for _, s := range steps {
			switch s {
			case 0:
				b.Deposit(now)
				requests++
			case 1:
				if b.Withdraw(now) {
					retries++
				}
			case 2:
				now = now.Add(time.Duration(rapid.Int64Range(0, int64(200*time.Millisecond)).Draw(t, "dt")))
			}
		}
		limit := ratio*float64(requests) + minPS*now.Sub(start).Seconds() + b.cap
		if float64(retries) > limit+1e-9 {
			t.Fatalf("%d retries for %d requests over %v: limit %.2f", retries, requests, now.Sub(start), limit)
		}
	})
}

func TestRetryBudgetSteadyState(t *testing.T) {
	// 10,000 failing requests over 10 s, each asking for a retry: the budget
	// grants about 10% plus 5/s (plus the initial cap).
	b := NewRetryBudget(0.1, 5)
	granted := 0
	for i := range 10000 {
		now := time.Unix(0, 0).Add(time.Duration(i) * time.Millisecond)
		b.Deposit(now)
		if b.Withdraw(now) {
			granted++
		}
	}
	want := 0.1*10000 + 5*10.0
	if float64(granted) > want+b.cap || float64(granted) < want-5 {
		t.Fatalf("granted %d retries, want about %.0f", granted, want)
	}
}

func TestSetEndpointsKeepsState(t *testing.T) {
	p := NewPool([]string{"a:1", "b:1"}, testOutlier(), false)
	a := p.Endpoints()[0]
	a.SetReady(true)
	a.outstanding.Store(3)
	p.SetEndpoints([]string{"c:1", "a:1", "c:1"})
	eps := p.Endpoints()
	if len(eps) != 2 || eps[0].Addr != "c:1" || eps[1] != a {
		t.Fatalf("endpoints %v", eps)
	}
	if eps[0].Ready() {
		t.Fatal("a new endpoint must wait for its health check")
	}
	if !a.Ready() || a.Outstanding() != 3 {
		t.Fatal("a kept endpoint lost its state")
	}
}
