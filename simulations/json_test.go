package simulations

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/simulations/trace"
)

// Every comparison encodes as JSON: a multi-class trace with idle classes,
// bursts and classes that start late leaves no NaN or infinity in the
// results (encoding/json refuses them), and request counts are whole.
func TestComparisonJSONFinite(t *testing.T) {
	t.Parallel()
	p := loadRef(t)
	names := classNames(p)
	levels := []float64{0, 0, 0.01, 3, 40, 400}
	for seed := uint64(1); seed <= 6; seed++ {
		rng := rand.New(rand.NewPCG(seed, 17))
		tr := &trace.Trace{Format: trace.FormatRates, Window: time.Minute}
		steps := 2 + rng.IntN(8)
		for i := 0; i < steps; i++ {
			for _, name := range names {
				tr.Rates = append(tr.Rates, trace.RateWindow{Start: time.Unix(1_700_000_000+int64(60*i), 0).UTC(), Class: name, Rate: levels[rng.IntN(len(levels))]})
			}
		}
		mode := []Mode{ModeFlow, ModeRequest}[seed%2]
		wl, err := NewWorkload(tr, WorkloadOptions{Classes: names, Seed: 1, Poisson: mode == ModeRequest})
		if err != nil {
			t.Fatal(err)
		}
		cmp, err := Compare(context.Background(), CompareOptions{Workload: wl, Seed: 1, Mode: mode, Contenders: []Contender{
			{PolicyName: "ref", Policy: p, Controller: NewHeadroom(scaler.Options{})},
			{PolicyName: "ref", Policy: p, Controller: NewHPACA(HPAOptions{})},
			{PolicyName: "ref", Policy: p, Controller: NewStatic(0)},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(cmp); err != nil {
			t.Fatalf("json: %v", err)
		}
		for _, r := range cmp.Runs {
			for _, c := range r.Classes {
				for _, n := range []float64{c.Requests, c.WithinSLO, c.Timeouts, c.Drops, c.Interrupted} {
					if n != float64(int64(n)) {
						t.Fatalf("%s %s: a count of %g requests", r.Controller, c.Class, n)
					}
				}
			}
		}
	}
}

// A run's private copy of a policy is the policy.
func TestClonePolicy(t *testing.T) {
	for _, p := range []*policies.Policy{loadRef(t), syntheticFleet(t, 3)} {
		c, err := clonePolicy(p)
		if err != nil {
			t.Fatal(err)
		}
		if d := policies.Diff(p, c); len(d) > 0 {
			t.Errorf("copy differs: %v", d)
		}
		a, _ := json.Marshal(p)
		b, _ := json.Marshal(c)
		if string(a) != string(b) {
			t.Errorf("copy differs:\n%s\n%s", a, b)
		}
	}
}
