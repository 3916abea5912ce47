package router

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// eject marks e ejected until until, as Report would after enough failures.
func eject(e *Endpoint, until time.Time) {
	e.ejectedUntil.Store(&until)
}

// TestPickLeastOutstanding is the least-outstanding pick table: the least
// loaded eligible endpoint wins; unready and ejected endpoints are skipped;
// a retry avoids the endpoint that just failed while another is ready.
func TestPickLeastOutstanding(t *testing.T) {
	now := time.Unix(0, 0)
	tests := []struct {
		name        string
		outstanding []int64
		unready     []int
		ejected     []int
		avoid       int // index, -1 for none
		want        []int
	}{
		{"least wins", []int64{3, 1, 2}, nil, nil, -1, []int{1}},
		{"least wins at the end", []int64{3, 2, 4, 0}, nil, nil, -1, []int{3}},
		{"unready skipped though idle", []int64{0, 5, 6}, []int{0}, nil, -1, []int{1}},
		{"ejected skipped though idle", []int64{0, 5, 6}, nil, []int{0}, -1, []int{1}},
		{"retry avoids last though idle", []int64{0, 5, 6}, nil, nil, 0, []int{1}},
		{"retry takes last when it is the only ready", []int64{0, 5}, []int{1}, nil, 0, []int{0}},
		{"avoid gives way before ejection", []int64{0, 1}, nil, []int{1}, 0, []int{0}},
		{"all ready ejected: ejection ignored", []int64{4, 2}, nil, []int{0, 1}, -1, []int{1}},
		{"ties among eligible only", []int64{0, 0, 1, 0}, []int{0}, nil, 3, []int{1}},
		{"nothing ready", []int64{0, 0}, []int{0, 1}, nil, -1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addrs := make([]string, len(tc.outstanding))
			for i := range addrs {
				addrs[i] = fmt.Sprintf("e%d:1", i)
			}
			p := NewPool(addrs, testOutlier(), true)
			eps := p.Endpoints()
			for i, o := range tc.outstanding {
				eps[i].outstanding.Store(o)
			}
			for _, i := range tc.unready {
				eps[i].SetReady(false)
			}
			for _, i := range tc.ejected {
				eject(eps[i], now.Add(time.Minute))
			}
			var avoid *Endpoint
			if tc.avoid >= 0 {
				avoid = eps[tc.avoid]
			}
			for range 10 { // ties rotate, so ask more than once
				got := p.Pick(now, avoid)
				if tc.want == nil {
					if got != nil {
						t.Fatalf("picked %s; want nil", got.Addr)
					}
					continue
				}
				ok := false
				for _, w := range tc.want {
					ok = ok || got == eps[w]
				}
				if !ok {
					t.Fatalf("picked %v; want one of %v", got, tc.want)
				}
			}
		})
	}
}

// TestPickLeastTiesRotate: with every endpoint idle (a cold start, or
// requests that finish before the next arrives) successive picks cycle
// through all endpoints instead of piling onto the first.
func TestPickLeastTiesRotate(t *testing.T) {
	p := NewPool([]string{"a:1", "b:1", "c:1", "d:1"}, testOutlier(), true)
	now := time.Unix(0, 0)
	counts := map[string]int{}
	for range 400 {
		counts[p.Pick(now, nil).Addr]++
	}
	for _, e := range p.Endpoints() {
		if counts[e.Addr] != 100 {
			t.Fatalf("idle picks %v; want 100 each", counts)
		}
	}
	// A cold burst where each pick takes a request: the first four picks
	// cover the four endpoints.
	seen := map[*Endpoint]bool{}
	for range 4 {
		e := p.Pick(now, nil)
		e.outstanding.Add(1)
		seen[e] = true
	}
	if len(seen) != 4 {
		t.Fatalf("4 picks of a cold pool reached %d endpoints; want 4", len(seen))
	}
}

// TestLeastOutstandingBalances: the same churn as TestPowerOfTwoBalances;
// least-outstanding keeps the spread within one request.
func TestLeastOutstandingBalances(t *testing.T) {
	p := NewPool([]string{"a:1", "b:1", "c:1", "d:1", "e:1", "f:1", "g:1", "h:1"}, testOutlier(), true)
	r := rand.New(rand.NewPCG(1, 2))
	lo, hi := churnSpread(p, r)
	// Each pick adds to a minimum, each finish lowers one endpoint by one:
	// the spread can grow only by finishes, and picks close it again.
	if hi-lo > 2 {
		t.Fatalf("outstanding spread %d..%d over 8 endpoints with 65 live requests; want within 2", lo, hi)
	}
}

// TestPickProperty: for any pool state and either balancer, Pick returns an
// eligible endpoint (ready; not ejected unless all ready ones are; not the
// avoided one unless it is the only choice left); under least-outstanding
// its outstanding count is the minimum among the eligible.
func TestPickProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 70).Draw(t, "n")
		bal := rapid.SampledFrom([]string{BalancerLeastOutstanding, BalancerP2C}).Draw(t, "balancer")
		addrs := make([]string, n)
		for i := range addrs {
			addrs[i] = fmt.Sprintf("e%d:1", i)
		}
		p := NewPoolWith(addrs, testOutlier(), true, bal)
		p.intn = rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 1)).IntN
		now := time.Unix(100, 0)
		eps := p.Endpoints()
		for i, e := range eps {
			e.outstanding.Store(rapid.Int64Range(0, 5).Draw(t, fmt.Sprintf("out%d", i)))
			e.SetReady(rapid.IntRange(0, 4).Draw(t, fmt.Sprintf("ready%d", i)) > 0)
			if rapid.IntRange(0, 3).Draw(t, fmt.Sprintf("ejected%d", i)) == 0 {
				eject(e, now.Add(time.Second))
			}
		}
		var avoid *Endpoint
		if ai := rapid.IntRange(-1, n-1).Draw(t, "avoid"); ai >= 0 {
			avoid = eps[ai]
		}
		// The eligible set, written independently of Pick.
		var eligible []*Endpoint
		rules := []func(*Endpoint) bool{
			func(e *Endpoint) bool { return e.Ready() && !e.ejected(now) && e != avoid },
			func(e *Endpoint) bool { return e.Ready() && !e.ejected(now) },
			func(e *Endpoint) bool { return e.Ready() },
		}
		for _, ok := range rules {
			for _, e := range eps {
				if ok(e) {
					eligible = append(eligible, e)
				}
			}
			if len(eligible) > 0 {
				break
			}
		}
		picks := rapid.IntRange(1, 5).Draw(t, "picks")
		for range picks {
			got := p.Pick(now, avoid)
			if len(eligible) == 0 {
				if got != nil {
					t.Fatalf("picked %s with nothing ready", got.Addr)
				}
				return
			}
			lo, in := int64(1<<62), false
			for _, e := range eligible {
				lo = min(lo, e.Outstanding())
				in = in || e == got
			}
			if !in {
				t.Fatalf("%s picked %v, not eligible", bal, got)
			}
			if bal == BalancerLeastOutstanding && got.Outstanding() != lo {
				t.Fatalf("picked %s with %d outstanding; eligible minimum is %d", got.Addr, got.Outstanding(), lo)
			}
		}
	})
}

// BenchmarkPick measures one Pick over 8 and 64 ready endpoints with mixed
// load, for each balancer (ns/op is the cost per request).
func BenchmarkPick(b *testing.B) {
	for _, bal := range []string{BalancerLeastOutstanding, BalancerP2C} {
		for _, n := range []int{8, 64} {
			b.Run(fmt.Sprintf("%s/endpoints=%d", bal, n), func(b *testing.B) {
				addrs := make([]string, n)
				for i := range addrs {
					addrs[i] = fmt.Sprintf("e%d:1", i)
				}
				p := NewPoolWith(addrs, testOutlier(), true, bal)
				p.intn = rand.New(rand.NewPCG(1, 2)).IntN
				for i, e := range p.Endpoints() {
					e.outstanding.Store(int64(i*7) % 5)
				}
				now := time.Unix(0, 0)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if p.Pick(now, nil) == nil {
						b.Fatal("nil pick")
					}
				}
			})
		}
	}
}

// TestBalancerEndToEnd: through the router, sequential requests to a
// default (least-outstanding) class spread exactly evenly over its three
// backends, since every backend is idle when each request arrives and ties
// rotate; a class configured with p2c gets a p2c pool.
func TestBalancerEndToEnd(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	var addrs []string
	for i := range 3 {
		name := fmt.Sprintf("b%d", i)
		addrs = append(addrs, fmt.Sprintf("%q", handlerBackend(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			mu.Lock()
			hits[name]++
			mu.Unlock()
			_, _ = io.WriteString(w, `{"ok":true}`)
		})))
	}
	cfg := fmt.Sprintf(`
models:
  - {class: a, versions: [{name: v1, endpoints: [%[1]s]}]}
  - {class: b, balancer: p2c, versions: [{name: v1, endpoints: [%[1]s]}]}
`, strings.Join(addrs, ", "))
	r := startRouter(t, cfg)
	if got := r.classes["b"].versions[0].pool.Balancer(); got != BalancerP2C {
		t.Fatalf("class b balancer %q; want p2c", got)
	}
	if got := r.classes["a"].versions[0].pool.Balancer(); got != BalancerLeastOutstanding {
		t.Fatalf("class a balancer %q; want least-outstanding", got)
	}
	for range 30 {
		if res := do(t, "POST", r.URL+"/infer", keyAcme, nil, `{"model":"a"}`); res.code != 200 {
			t.Fatalf("%d %s", res.code, res.body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range 3 {
		if n := hits[fmt.Sprintf("b%d", i)]; n != 10 {
			t.Fatalf("hits %v over 30 sequential requests; want 10 each", hits)
		}
	}
}

// churnSpread keeps 65 requests live on p over 10,000 picks, finishing a
// random one after each pick, and returns the lowest and highest
// outstanding count left on an endpoint.
func churnSpread(p *Pool, r *rand.Rand) (lo, hi int64) {
	now := time.Unix(0, 0)
	var live []*Endpoint
	for range 10000 {
		e := p.Pick(now, nil)
		e.outstanding.Add(1)
		live = append(live, e)
		if len(live) > 64 {
			i := r.IntN(len(live))
			live[i].outstanding.Add(-1)
			live = append(live[:i], live[i+1:]...)
		}
	}
	lo, hi = int64(1<<62), int64(0)
	for _, e := range p.Endpoints() {
		lo, hi = min(lo, e.Outstanding()), max(hi, e.Outstanding())
	}
	return lo, hi
}
