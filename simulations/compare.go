package simulations

import (
	"context"
	"fmt"
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
	Progress    func(run string, done, total time.Duration)
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
	for i, c := range cs {
		var prog func(done, total time.Duration)
		if o.Progress != nil {
			name := fmt.Sprintf("%d/%d", i+1, len(cs))
			prog = func(d, t time.Duration) { o.Progress(name, d, t) }
		}
		r, err := Run(ctx, RunOptions{Policy: c.Policy, PolicyName: c.PolicyName, Workload: o.Workload, Controller: c.Controller,
			Seed: o.Seed, Mode: o.Mode, World: o.World, Progress: prog})
		if err != nil {
			return nil, fmt.Errorf("run %d (%s): %w", i+1, c.PolicyName, err)
		}
		cmp.Runs = append(cmp.Runs, r)
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
