package simulations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/headroom-dev/headroom/policies"
)

// Contender is one policy with one controller in a comparison.
type Contender struct {
	PolicyName string
	Policy     *policies.Policy
	Controller ControllerFactory
}

// CompareOptions run several contenders over one workload, and the
// clairvoyant bound on the first policy unless NoBound.
type CompareOptions struct {
	Contenders []Contender
	Workload   *Workload
	Seed       uint64
	Mode       Mode
	World      WorldOptions
	NoBound    bool
	// BoundTarget is the share (in %) the bound sizes for; default 99.5.
	BoundTarget float64
	// Parallel is how many runs go at once; 0 means GOMAXPROCS. Runs
	// share nothing that changes, so the result does not depend on it.
	Parallel int
	// Progress, when set, is called as the runs advance (from one
	// goroutine at a time) with the virtual time done averaged over the
	// runs; run is "k/n" where k runs are done.
	Progress func(run string, done, total time.Duration)
}

// Comparison is the side-by-side result; Runs are in contender order, the
// bound last.
type Comparison struct {
	Workload string    `json:"workload"`
	Start    time.Time `json:"start"`
	Duration string    `json:"duration"`
	Seed     uint64    `json:"seed"`
	Runs     []*Result `json:"runs"`
	// LowerBound is the analytic cost floor of the first policy's fleet on
	// this workload (see LowerBound); 0 with NoBound.
	LowerBound float64 `json:"lowerBound,omitempty"`
	// Calendar is the first policy's disruption windows and scheduled
	// minimums over the workload, and the time zone the report shows.
	Calendar Calendar `json:"calendar"`
}

// Compare runs every contender (and the bound) with the same seed, so all
// see the same requests, and fills CostVsBound.
func Compare(ctx context.Context, o CompareOptions) (*Comparison, error) {
	cs := o.Contenders
	if !o.NoBound && len(cs) > 0 {
		cs = append(cs[:len(cs):len(cs)], Contender{PolicyName: cs[0].PolicyName, Policy: cs[0].Policy, Controller: NewClairvoyant(o.BoundTarget)})
	}
	cmp := &Comparison{Workload: o.Workload.Source, Start: o.Workload.Start, Duration: o.Workload.Duration.String(), Seed: o.Seed}
	if len(cs) > 0 {
		cmp.Calendar = CalendarOf(cs[0].Policy, o.Workload.Start, o.Workload.Duration)
	}
	cmp.Runs = make([]*Result, len(cs))
	errs := make([]error, len(cs))
	par := o.Parallel
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	prog := newProgress(o.Progress, len(cs), o.Workload.Duration)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			// The controllers default their policy in place
			// (policies.Default): each run gets its own copy.
			p, err := clonePolicy(c.Policy)
			if err != nil {
				errs[i] = fmt.Errorf("run %d (%s): %w", i+1, c.PolicyName, err)
				return
			}
			r, err := Run(ctx, RunOptions{Policy: p, PolicyName: c.PolicyName, Workload: o.Workload, Controller: c.Controller,
				Seed: o.Seed, Mode: o.Mode, World: o.World, Progress: prog.run(i)})
			if err != nil {
				errs[i] = fmt.Errorf("run %d (%s): %w", i+1, c.PolicyName, err)
				return
			}
			r.WallSeconds = math.Round(time.Since(t0).Seconds()*100) / 100
			cmp.Runs[i] = r
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if !o.NoBound && len(cs) > 0 {
		lb, err := lowerBoundOf(cs[0].Policy, o.Workload, o.World, o.BoundTarget)
		if err != nil {
			return nil, err
		}
		cmp.LowerBound = lb
	}
	if !o.NoBound && len(cmp.Runs) > 0 {
		bound := cmp.Runs[len(cmp.Runs)-1]
		if bound.Cost > 0 {
			for _, r := range cmp.Runs {
				r.CostVsBound = round6(r.Cost / bound.Cost)
			}
		}
	}
	return cmp, nil
}

func lowerBoundOf(p *policies.Policy, wl *Workload, wo WorldOptions, target float64) (float64, error) {
	cat, err := p.Catalog()
	if err != nil {
		return 0, fmt.Errorf("policy catalog: %w", err)
	}
	w, err := newWorld(p, cat, wo.withDefaults(), wl.Start, 0)
	if err != nil {
		return 0, err
	}
	env := Env{Policy: p, Catalog: cat, NodeTemplates: w.templates()}
	return LowerBound(env, wl, target), nil
}

// progress folds the progress of runs going at once into one report: the
// runs done, and the virtual time simulated so far averaged over the runs.
type progress struct {
	mu    sync.Mutex
	f     func(run string, done, total time.Duration)
	n     int
	total time.Duration
	at    []time.Duration
}

func newProgress(f func(string, time.Duration, time.Duration), n int, total time.Duration) *progress {
	return &progress{f: f, n: n, total: total, at: make([]time.Duration, n)}
}

// run returns run i's progress callback; nil without a callback.
func (p *progress) run(i int) func(done, total time.Duration) {
	if p.f == nil {
		return nil
	}
	return func(d, _ time.Duration) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.at[i] = d
		finished, sum := 0, 0.0
		for _, t := range p.at {
			if t >= p.total {
				finished++
			}
			sum += float64(t)
		}
		p.f(fmt.Sprintf("%d/%d", finished, p.n), time.Duration(sum/float64(p.n)), p.total)
	}
}

// clonePolicy deep-copies p through JSON (every field of a policy has its
// JSON form; Default rebuilds the caches it does not carry).
func clonePolicy(p *policies.Policy) (*policies.Policy, error) {
	if p == nil {
		return nil, errors.New("run: policy is required")
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("copying the policy: %w", err)
	}
	c := &policies.Policy{}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("copying the policy: %w", err)
	}
	policies.Default(c)
	return c, nil
}
