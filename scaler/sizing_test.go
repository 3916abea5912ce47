package scaler

import (
	"container/heap"
	"math"
	"math/big"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// erlangCExact is the textbook closed form, in exact rationals:
// C = (a^c/c! · c/(c-a)) / (Σ_{k<c} a^k/k! + a^c/c! · c/(c-a)).
func erlangCExact(c int, a *big.Rat) float64 {
	term := big.NewRat(1, 1) // a^k/k!
	sum := new(big.Rat)
	for k := 0; k < c; k++ {
		sum.Add(sum, term)
		term.Mul(term, a)
		term.Quo(term, big.NewRat(int64(k+1), 1))
	}
	cc := big.NewRat(int64(c), 1)
	top := new(big.Rat).Mul(term, new(big.Rat).Quo(cc, new(big.Rat).Sub(cc, a)))
	v, _ := new(big.Rat).Quo(top, new(big.Rat).Add(sum, top)).Float64()
	return v
}

func TestErlangCPublished(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    int
		a    float64
		want float64
		tol  float64
	}{
		// Wolfram Language documentation, ErlangC "Basic Examples": ErlangC[3, 2] = 4/9.
		{"wolfram c=3 a=2", 3, 2, 4.0 / 9, 1e-12},
		// M/M/2 closed form 2ρ²/(1+ρ) with ρ=1/2 (Kleinrock vol. 1, sec. 3.5).
		{"mm2 rho=0.5", 2, 1, 1.0 / 3, 1e-12},
		// M/M/1: probability of waiting is ρ.
		{"mm1 rho=0.8", 1, 0.8, 0.8, 1e-12},
		// Call-centre tables (e.g. the Erlang C tables of Cooper, Introduction
		// to Queueing Theory, 1981): 10 agents at 8 erlangs wait 40.9% of the time.
		{"c=10 a=8", 10, 8, 0.4092, 5e-4},
		{"unstable", 4, 4, 1, 0},
		{"idle", 4, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ErlangC(tc.c, tc.a); math.Abs(got-tc.want) > tc.tol {
				t.Fatalf("ErlangC(%d, %g) = %.6f, want %.6f ± %g", tc.c, tc.a, got, tc.want, tc.tol)
			}
		})
	}
	// Wolfram's "technical support" example: 30 calls/h, 5 min each (2.5
	// erlangs); the fewest agents so that at most 10% of calls wait.
	n := 1
	for ErlangC(n, 2.5) > 0.10 {
		n++
	}
	if n != 6 {
		t.Fatalf("agents for 2.5 erlangs at 10%% waiting = %d, want 6", n)
	}
}

func TestErlangCMatchesExactFormula(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := rapid.IntRange(1, 120).Draw(t, "c")
		num := rapid.Int64Range(1, int64(c)*1000-1).Draw(t, "a_milli")
		a := big.NewRat(num, 1000)
		af, _ := a.Float64()
		got, want := ErlangC(c, af), erlangCExact(c, a)
		if math.Abs(got-want) > 1e-9*math.Max(1, want) {
			t.Fatalf("ErlangC(%d, %g) = %.12g, exact %.12g", c, af, got, want)
		}
	})
}

func TestFitLognormal(t *testing.T) {
	for _, tc := range []struct {
		ratio, cs2 float64
	}{{1, 0}, {2, 0.28}, {3, 1.38}} {
		l := fitLognormal(0.1, 0.1*tc.ratio)
		if math.Abs(l.cs2()-tc.cs2) > 0.01 {
			t.Errorf("p95/mean %g: Cs² = %.3f, want %.2f", tc.ratio, l.cs2(), tc.cs2)
		}
		if tc.ratio > 1 {
			if got := l.cdf(0.1 * tc.ratio); math.Abs(got-0.95) > 1e-9 {
				t.Errorf("p95/mean %g: cdf(p95) = %g", tc.ratio, got)
			}
			if mean := math.Exp(l.mu + l.sigma*l.sigma/2); math.Abs(mean-0.1) > 1e-12 {
				t.Errorf("p95/mean %g: mean = %g", tc.ratio, mean)
			}
		}
	}
}

// With deterministic service (p95 = mean) the model's quantile has a closed
// form: T = D + W, P(W > w) = Pw·e^{-θw}, θ = (cμ-λ)/((1+0)/2).
func TestPredictLatencyDeterministicClosedForm(t *testing.T) {
	// One replica of concurrency 2: no dispatch phase, plain M/D/2.
	s := ServiceModel{Mean: 100 * time.Millisecond, P95: 100 * time.Millisecond, Concurrency: 2}
	rate, c := 15.0, 2
	pw := ErlangC(c, rate*0.1)
	theta := (float64(c)/0.1 - rate) / 0.5
	want := 0.1 + math.Log(pw/0.05)/theta
	got, ok := PredictLatency(rate, 1, s, 95)
	if !ok || math.Abs(got.Seconds()-want) > 1e-3 {
		t.Fatalf("p95 = %v ok=%v, want %.4fs", got, ok, want)
	}
}

func TestSizeReplicasTable(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name     string
		rate     float64
		svc      ServiceModel
		slo      time.Duration
		max      int
		want     int
		feasible bool
	}{
		{"no load", 0, ServiceModel{Mean: 38 * ms, P95: 70 * ms, Concurrency: 4}, 300 * ms, 40, 0, true},
		// 100 req/s x 38ms = 3.8 erlangs over 4-wide replicas: 1 replica is
		// unstable, 2 (8 servers, util 48%) meet 300ms easily.
		{"design example", 100, ServiceModel{Mean: 38 * ms, P95: 70 * ms, Concurrency: 4}, 300 * ms, 40, 2, true},
		{"needs stability only", 500, ServiceModel{Mean: 10 * ms, P95: 20 * ms, Concurrency: 1}, time.Second, 40, 6, true},
		{"tight slo needs slack", 50, ServiceModel{Mean: 100 * ms, P95: 150 * ms, Concurrency: 1}, 200 * ms, 40, 8, true},
		{"slower than declared gets more", 50, ServiceModel{Mean: 100 * ms, P95: 150 * ms, Concurrency: 1, Multiplier: 1.3}, 200 * ms, 40, 13, true},
		{"too slow for the slo", 50, ServiceModel{Mean: 100 * ms, P95: 150 * ms, Concurrency: 1, Multiplier: 1.5}, 200 * ms, 40, 0, false},
		{"over max", 1000, ServiceModel{Mean: 100 * ms, P95: 150 * ms, Concurrency: 1}, time.Second, 40, 101, false},
		{"nan rate", math.NaN(), ServiceModel{Mean: 100 * ms}, time.Second, 40, 0, false},
		// A trace scaled by 1e12 or more: answered at once and without an
		// int overflow (1e300 used to come back as 64 replicas).
		{"absurd rate", 1e300, ServiceModel{Mean: 100 * ms, P95: 150 * ms, Concurrency: 1}, time.Second, 40, math.MaxInt32, false},
		{"rate far over max", 1e9, ServiceModel{Mean: 100 * ms, P95: 150 * ms, Concurrency: 1}, time.Second, 40, 100_000_001, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SizeReplicas(tc.rate, tc.svc, tc.slo, 95, tc.max)
			if got.Feasible != tc.feasible || (tc.want != 0 && got.Replicas != tc.want) {
				t.Fatalf("got %d feasible=%v (%s), want %d feasible=%v", got.Replicas, got.Feasible, got.Reason, tc.want, tc.feasible)
			}
			if got.Reason == "" {
				t.Fatal("no reason")
			}
		})
	}
}

// The smallest count is minimal: one fewer replica misses the SLO.
func TestSizeReplicasMinimal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mean := time.Duration(rapid.IntRange(5, 200).Draw(t, "mean_ms")) * time.Millisecond
		ratio := rapid.Float64Range(1, 3.5).Draw(t, "p95_ratio")
		s := ServiceModel{Mean: mean, P95: time.Duration(float64(mean) * ratio), Concurrency: rapid.IntRange(1, 8).Draw(t, "conc")}
		slo := time.Duration(float64(s.P95) * rapid.Float64Range(1.05, 5).Draw(t, "slo_factor"))
		rate := rapid.Float64Range(0.1, 2000).Draw(t, "rate")
		got := SizeReplicas(rate, s, slo, 95, 10000)
		if !got.Feasible {
			t.Fatalf("infeasible: %s", got.Reason)
		}
		if p, ok := PredictLatency(rate, got.Replicas, s, 95); !ok || p > slo+time.Millisecond {
			t.Fatalf("%d replicas predict %v > %v", got.Replicas, p, slo)
		}
		if got.Replicas > 1 {
			if p, ok := PredictLatency(rate, got.Replicas-1, s, 95); ok && p < slo-time.Millisecond {
				t.Fatalf("%d replicas already predict %v < %v", got.Replicas-1, p, slo)
			}
		}
	})
}

// simulateMGc runs a FCFS M/G/c queue with lognormal service (fixed seed)
// and returns the measured latency quantile: the request-level check of the
// model. Requests go to one of reps replicas by least outstanding requests
// (dispatch "jsq", what the simulations package does) or the power of two
// choices on outstanding requests ("p2c", what the router does), then FCFS
// on that replica's conc slots; "central" is one shared queue.
func simulateMGc(rate float64, reps, conc int, s ServiceModel, q float64, n int, seed uint64, dispatch string) float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	l := fitLognormal(s.Mean.Seconds(), s.P95.Seconds())
	if dispatch == "central" {
		conc, reps = conc*reps, 1
	}
	free := make([]freeHeap, reps) // per replica: when each slot frees up
	out := make([]freeHeap, reps)  // per replica: completion times outstanding
	for i := range free {
		free[i] = make(freeHeap, conc)
	}
	now := 0.0
	lat := make([]float64, 0, n)
	for i := 0; i < n+n/10; i++ {
		now += rng.ExpFloat64() / rate
		for j := range out {
			for out[j].Len() > 0 && out[j][0] <= now {
				heap.Pop(&out[j])
			}
		}
		r := 0
		switch {
		case reps > 1 && dispatch == "jsq":
			for j := range out {
				if out[j].Len() < out[r].Len() {
					r = j
				}
			}
		case reps > 1:
			a, b := rng.IntN(reps), rng.IntN(reps-1)
			if b >= a {
				b++
			}
			r = a
			if out[b].Len() < out[a].Len() {
				r = b
			}
		}
		start := math.Max(now, free[r][0])
		svc := math.Exp(l.mu + l.sigma*rng.NormFloat64())
		free[r][0] = start + svc
		heap.Fix(&free[r], 0)
		heap.Push(&out[r], start+svc)
		if i >= n/10 { // warm-up
			lat = append(lat, start+svc-now)
		}
	}
	sort.Float64s(lat)
	return lat[int(q*float64(len(lat)))]
}

func TestPredictLatencyAgainstSimulation(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name string
		rate float64
		reps int
		svc  ServiceModel
	}{
		{"light", 40, 4, ServiceModel{Mean: 50 * ms, P95: 100 * ms, Concurrency: 1}},
		{"util 70%", 56, 4, ServiceModel{Mean: 50 * ms, P95: 100 * ms, Concurrency: 1}},
		{"util 85%", 68, 4, ServiceModel{Mean: 50 * ms, P95: 100 * ms, Concurrency: 1}},
		{"one replica concurrency 4 util 80%", 84, 1, ServiceModel{Mean: 38 * ms, P95: 70 * ms, Concurrency: 4}},
		{"4x4 util 70%", 300, 4, ServiceModel{Mean: 38 * ms, P95: 70 * ms, Concurrency: 4}},
		{"4x4 util 95%", 400, 4, ServiceModel{Mean: 38 * ms, P95: 70 * ms, Concurrency: 4}},
		{"many replicas util 90%", 450, 10, ServiceModel{Mean: 20 * ms, P95: 45 * ms, Concurrency: 1}},
		{"heavy tail util 80%", 16, 4, ServiceModel{Mean: 200 * ms, P95: 700 * ms, Concurrency: 1}},
		{"20 replicas util 85%", 170, 20, ServiceModel{Mean: 100 * ms, P95: 200 * ms, Concurrency: 1}},
		{"3x2 heavy tail util 83%", 100, 3, ServiceModel{Mean: 50 * ms, P95: 150 * ms, Concurrency: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pred, ok := PredictLatency(tc.rate, tc.reps, tc.svc, 95)
			if !ok {
				t.Fatal("unstable")
			}
			meas := simulateMGc(tc.rate, tc.reps, tc.svc.Concurrency, tc.svc, 0.95, 200000, 7, "jsq")
			rel := (pred.Seconds() - meas) / meas
			p2c := simulateMGc(tc.rate, tc.reps, tc.svc.Concurrency, tc.svc, 0.95, 200000, 7, "p2c")
			t.Logf("p95 model %.1fms, simulated least-outstanding %.1fms (%+.1f%%), power-of-two %.1fms (%+.1f%%)",
				pred.Seconds()*1000, meas*1000, rel*100, p2c*1000, (pred.Seconds()-p2c)/p2c*100)
			if math.Abs(rel) > 0.10 {
				t.Errorf("model p95 %v vs simulated %.1fms: %+.1f%% (goal within 10%%)", pred, meas*1000, rel*100)
			}
		})
	}
}

func BenchmarkSizeReplicas(b *testing.B) {
	s := ServiceModel{Mean: 38 * time.Millisecond, P95: 70 * time.Millisecond, Concurrency: 4}
	for b.Loop() {
		SizeReplicas(900, s, 300*time.Millisecond, 95, 1000)
	}
}

type freeHeap []float64

func (h freeHeap) Len() int           { return len(h) }
func (h freeHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h freeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *freeHeap) Push(x any)        { *h = append(*h, x.(float64)) }
func (h *freeHeap) Pop() any          { old := *h; x := old[len(old)-1]; *h = old[:len(old)-1]; return x }
