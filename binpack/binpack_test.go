package binpack

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

func TestCheckLayoutKnownCases(t *testing.T) {
	cases := []struct {
		name  string
		l     catalog.Layout
		legal bool
	}{
		{"4g+3g", catalog.Layout{{Profile: "4g.40gb", Start: 0}, {Profile: "3g.40gb", Start: 4}}, true},
		{"3g@4 with 1g@6", catalog.Layout{{Profile: "3g.40gb", Start: 4}, {Profile: "1g.10gb", Start: 6}}, false},
		{"7 x 1g", catalog.Layout{{Profile: "1g.10gb", Start: 0}, {Profile: "1g.10gb", Start: 1}, {Profile: "1g.10gb", Start: 2}, {Profile: "1g.10gb", Start: 3}, {Profile: "1g.10gb", Start: 4}, {Profile: "1g.10gb", Start: 5}, {Profile: "1g.10gb", Start: 6}}, true},
		{"3g+3g strands a slice", catalog.Layout{{Profile: "3g.40gb", Start: 0}, {Profile: "3g.40gb", Start: 4}}, true},
		{"4g at 4", catalog.Layout{{Profile: "4g.40gb", Start: 4}}, false},
		{"8 x 1g", catalog.Layout{{Profile: "1g.10gb", Start: 0}, {Profile: "1g.10gb", Start: 1}, {Profile: "1g.10gb", Start: 2}, {Profile: "1g.10gb", Start: 3}, {Profile: "1g.10gb", Start: 4}, {Profile: "1g.10gb", Start: 5}, {Profile: "1g.10gb", Start: 6}, {Profile: "1g.10gb", Start: 7}}, false},
		{"4g+2g+1g.20gb", catalog.Layout{{Profile: "4g.40gb", Start: 0}, {Profile: "2g.20gb", Start: 4}, {Profile: "1g.20gb", Start: 6}}, true},
		{"4g+3g+1g: 8 compute", catalog.Layout{{Profile: "4g.40gb", Start: 0}, {Profile: "2g.20gb", Start: 4}, {Profile: "1g.10gb", Start: 6}, {Profile: "1g.10gb", Start: 7}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			why := checkLayout("H100-80GB", tc.l)
			if (why == "") != tc.legal {
				t.Fatalf("checker: legal=%v (%s), want %v", why == "", why, tc.legal)
			}
			// The catalog's own validator agrees.
			h100, _ := catalog.Default().GPU("H100-80GB")
			if (h100.ValidateLayout(tc.l) == nil) != tc.legal {
				t.Fatalf("catalog validator disagrees on %s", tc.l)
			}
		})
	}
}

// TestEnumeratedLayoutsLegal: every layout the solver may use is legal by
// the independent checker, and the maximal ones of H100 without the
// double-memory 1g number 19 (mig.md).
func TestEnumeratedLayoutsLegal(t *testing.T) {
	cat := catalog.Default()
	for _, name := range []string{"A100-40GB", "A100-80GB", "H100-80GB", "H200-141GB"} {
		g, _ := cat.GPU(name)
		for _, l := range g.Layouts(false) {
			if why := checkLayout(name, l); why != "" {
				t.Fatalf("%s: %s: %s", name, l, why)
			}
		}
	}
	h100, _ := cat.GPU("H100-80GB")
	n := 0
	for _, l := range h100.Layouts(true) {
		if !strings.Contains(l.String(), "1g.20gb") {
			n++
		}
	}
	if n == 0 {
		t.Fatal("no maximal layouts")
	}
}

func smallProblem() *Problem {
	return &Problem{
		ChangeCost: 0.5,
		NodeGroups: []NodeGroup{
			{Name: "h100-od", InstanceType: "p5.48xlarge", Mode: ModeMIGDynamic, Max: 4},
			{Name: "h100-1", InstanceType: "p5.4xlarge", Mode: ModeMIGDynamic},
			{Name: "h100-spot", InstanceType: "p5.48xlarge", CapacityType: Spot, Mode: ModeMIGDynamic, Max: 2},
			{Name: "a100-fixed", InstanceType: "p4de.24xlarge", Mode: ModeMIGFixed, LayoutName: "all-balanced",
				Layout: catalog.Layout{{Profile: "1g.10gb", Start: 0}, {Profile: "1g.10gb", Start: 1}, {Profile: "2g.20gb", Start: 2}, {Profile: "3g.40gb", Start: 4}}, Max: 2},
			{Name: "l4-ts", InstanceType: "g6.12xlarge", Mode: ModeTimeSliced, TimeSlices: 4, Max: 2},
			{Name: "a10g-whole", InstanceType: "g5.xlarge", Mode: ModeWhole, Max: 3, Tenants: []string{"acme"}},
		},
		Classes: []Class{
			{Name: "large", Rate: 400, MinReplicas: 2, MinOnDemandFraction: 0.5, Options: []Option{
				{GPU: "H100-80GB", Profile: "3g.40gb", Capacity: 60, MemoryGiB: 30},
				{GPU: "H100-80GB", Profile: "7g.80gb", Capacity: 130, MemoryGiB: 30},
				{GPU: "A100-80GB", Profile: "3g.40gb", Capacity: 40, MemoryGiB: 30}}},
			{Name: "base", Rate: 900, Spot: SpotPreferred, Options: []Option{
				{GPU: "H100-80GB", Profile: "1g.10gb", Capacity: 45, MemoryGiB: 8},
				{GPU: "H100-80GB", Profile: "2g.20gb", Capacity: 80, MemoryGiB: 8},
				{GPU: "A100-80GB", Profile: "1g.10gb", Capacity: 30, MemoryGiB: 8}}},
			{Name: "rare", Replicas: 3, Options: []Option{
				{GPU: "L4-24GB", Profile: catalog.ProfileTimeSliced, MemoryGiB: 5},
				{GPU: "H100-80GB", Profile: "1g.10gb", MemoryGiB: 5}}},
			{Name: "onprem", Rate: 50, Spot: SpotNever, Options: []Option{
				{GPU: "H100-80GB", Profile: "2g.20gb", Capacity: 30, MemoryGiB: 12}}},
			{Name: "acme-small", Tenant: "acme", Rate: 40, Options: []Option{
				{GPU: "A10G-24GB", Profile: catalog.ProfileWhole, Capacity: 25, MemoryGiB: 10},
				{GPU: "H100-80GB", Profile: "1g.10gb", Capacity: 20, MemoryGiB: 9}}},
		},
	}
}

func TestSolveSmall(t *testing.T) {
	p := smallProblem()
	plan, err := Solve(p)
	if err != nil {
		t.Fatal(err)
	}
	if bad := checkPlan(p, plan); len(bad) > 0 {
		t.Fatalf("plan violates:\n%s", strings.Join(bad, "\n"))
	}
	ffd, err := SolveFFD(p)
	if err != nil {
		t.Fatal(err)
	}
	if plan.CostPerHour > ffd.CostPerHour+1e-9 {
		t.Errorf("plan $%.2f/h worse than FFD $%.2f/h", plan.CostPerHour, ffd.CostPerHour)
	}
	if plan.LowerBound <= 0 || plan.Gap < 0 {
		t.Errorf("bound %.2f gap %.4f", plan.LowerBound, plan.Gap)
	}
	for _, n := range plan.Nodes {
		if n.NodeGroup == "a100-fixed" && n.MIGConfig != "all-balanced" {
			t.Errorf("mig-fixed node %s has config %q", n.Name, n.MIGConfig)
		}
		if n.MIGConfig != "" {
			if _, ok := plan.MIGConfigs[n.MIGConfig]; !ok {
				t.Errorf("node %s: config %q not in MIGConfigs", n.Name, n.MIGConfig)
			}
		}
	}
}

// TestBoundEqualsLP: on small instances the column generation's bound (its
// LP part) equals the pattern LP solved from scratch by gonum's simplex.
func TestBoundEqualsLP(t *testing.T) {
	for _, spec := range []GenerateSpec{{Classes: 8, GPUs: 100, Seed: 1}, {Classes: 4, GPUs: 40, Seed: 3}, {Classes: 6, GPUs: 60, Seed: 7}} {
		p := Generate(spec)
		m, err := compile(p)
		if err != nil {
			t.Fatal(err)
		}
		opts := Options{BoundIterations: 2000}.withDefaults()
		br := m.bound(1000, opts, nil)
		exact, err := m.lpBound()
		if err != nil {
			t.Logf("%+v: gonum: %v (skipped)", spec, err)
			continue
		}
		if math.Abs(br.lp-exact) > 1e-6*exact {
			t.Errorf("%+v: column generation %.6f, gonum LP %.6f", spec, br.lp, exact)
		}
		if br.value < br.lp-1e-9 {
			t.Errorf("%+v: strengthened bound %.4f below LP %.4f", spec, br.value, br.lp)
		}
	}
}

func planJSON(t *testing.T, p *Plan) string {
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDeterministicAndStable: the same problem gives the same plan, and a
// plan fed back as the current state with the same demand changes nothing.
func TestDeterministicAndStable(t *testing.T) {
	for _, p := range []*Problem{smallProblem(), Generate(GenerateSpec{Classes: 40, GPUs: 300, Seed: 5})} {
		a, err := Solve(p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Solve(p)
		if planJSON(t, a) != planJSON(t, b) {
			t.Fatal("two solves of the same problem differ")
		}
		q := *p
		q.Current = &State{Nodes: a.Nodes}
		c, err := Solve(&q)
		if err != nil {
			t.Fatal(err)
		}
		ch := c.Changes
		if len(ch.NodesAdded)+len(ch.NodesRemoved)+len(ch.LayoutsChanged)+ch.ReplicasMoved+ch.ReplicasAdded+ch.ReplicasGone != 0 {
			t.Errorf("re-plan from its own plan changes things: %+v", ch)
		}
		if c.CostPerHour != a.CostPerHour {
			t.Errorf("re-plan costs %.2f, plan %.2f", c.CostPerHour, a.CostPerHour)
		}
		if bad := checkPlan(&q, c); len(bad) > 0 {
			t.Fatalf("re-plan violates:\n%s", strings.Join(bad, "\n"))
		}
	}
}

// TestSmallDemandChangeKeepsLayouts: one more replica's worth of demand on
// one class does not re-partition the fleet.
func TestSmallDemandChangeKeepsLayouts(t *testing.T) {
	p := Generate(GenerateSpec{Classes: 40, GPUs: 300, Seed: 5})
	a, _ := Solve(p)
	q := *p
	q.Classes = append([]Class(nil), p.Classes...)
	q.Classes[0].Rate *= 1.02
	q.Current = &State{Nodes: a.Nodes}
	b, _ := Solve(&q)
	if bad := checkPlan(&q, b); len(bad) > 0 {
		t.Fatalf("violates:\n%s", strings.Join(bad, "\n"))
	}
	t.Logf("2%% more on one class: %d layouts changed, %d replicas moved of %d GPUs", len(b.Changes.LayoutsChanged), b.Changes.ReplicasMoved, b.GPUs)
}

func TestBadInput(t *testing.T) {
	base := func() *Problem { return smallProblem() }
	cases := []struct {
		name   string
		edit   func(p *Problem)
		class  string
		reason string
		// partial: a plan comes back with the class unplaced
		partial bool
	}{
		{"NaN rate", func(p *Problem) { p.Classes[0].Rate = math.NaN() }, "large", "rate must be", false},
		{"negative rate", func(p *Problem) { p.Classes[0].Rate = -1 }, "large", "rate must be", false},
		{"negative replicas", func(p *Problem) { p.Classes[2].Replicas = -2 }, "rare", "replicas must not be negative", false},
		{"unknown GPU", func(p *Problem) { p.Classes[1].Options[0].GPU = "B200" }, "base", "unknown GPU", false},
		{"unknown profile", func(p *Problem) { p.Classes[1].Options[0].Profile = "5g.50gb" }, "base", "has no profile", false},
		{"unknown nodegroup", func(p *Problem) { p.Classes[1].NodeGroups = []string{"nope"} }, "base", "unknown nodegroup", false},
		{"memory fits nothing", func(p *Problem) {
			for i := range p.Classes[3].Options {
				p.Classes[3].Options[i].MemoryGiB = 90
			}
		}, "onprem", "no allowed slice fits", true},
		{"demand above max", func(p *Problem) {
			p.Classes[3].Rate = 5000
			p.NodeGroups[0].Max = 1
			p.NodeGroups[1].Max = 1
		}, "onprem", "max", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			tc.edit(p)
			plan, err := Solve(p)
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tc.class) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %q does not name %q and %q", err, tc.class, tc.reason)
			}
			if tc.partial {
				if !IsInfeasible(err) || plan == nil {
					t.Fatalf("want a partial plan and an InfeasibleError, got %v", err)
				}
				if bad := checkPlan(p, plan); len(bad) > 0 {
					t.Fatalf("partial plan violates:\n%s", strings.Join(bad, "\n"))
				}
				return
			}
			var ce *ClassError
			if !IsInvalid(err) || !errors.As(err, &ce) || ce.Class != tc.class {
				t.Fatalf("want a ProblemError with a ClassError for %s, got %v", tc.class, err)
			}
		})
	}
}

func TestCostCeiling(t *testing.T) {
	p := smallProblem()
	p.CostCeiling = 1
	plan, err := Solve(p)
	var ie *InfeasibleError
	if !errors.As(err, &ie) || !ie.OverCeiling || plan == nil {
		t.Fatalf("want a plan and an over-ceiling error, got %v", err)
	}
}

// TestPropertyRandomDemands: for random demands over a mixed fleet, every
// layout is legal, every replica is placed or reported, no constraint is
// broken, the cost is at least the bound and at most FFD's.
func TestPropertyRandomDemands(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		p := smallProblem()
		for i := range p.Classes {
			c := &p.Classes[i]
			if c.Rate > 0 {
				c.Rate = rapid.Float64Range(0, 3000).Draw(rt, c.Name+"-rate")
			} else {
				c.Replicas = rapid.IntRange(0, 12).Draw(rt, c.Name+"-replicas")
			}
			c.MinReplicas = rapid.IntRange(0, 3).Draw(rt, c.Name+"-min")
			if c.Spot != SpotNever {
				c.Spot = rapid.SampledFrom([]string{SpotAllowed, SpotPreferred, SpotNever}).Draw(rt, c.Name+"-spot")
				c.MinOnDemandFraction = rapid.SampledFrom([]float64{0, 0.3, 1}).Draw(rt, c.Name+"-od")
			}
		}
		for i := range p.NodeGroups {
			g := &p.NodeGroups[i]
			g.Max = rapid.IntRange(0, 4).Draw(rt, g.Name+"-max")
			g.Min = rapid.IntRange(0, min(1, max(g.Max, 1))).Draw(rt, g.Name+"-min")
		}
		plan, err := Solve(p)
		if err != nil && !IsInfeasible(err) {
			rt.Fatalf("unexpected error: %v", err)
		}
		if len(plan.Unplaced) > 0 && err == nil {
			rt.Fatalf("unplaced demand without an error: %+v", plan.Unplaced)
		}
		if bad := checkPlan(p, plan); len(bad) > 0 {
			rt.Fatalf("plan violates:\n%s", strings.Join(bad, "\n"))
		}
		ffd, _ := SolveFFD(p)
		// Costs compare only between plans that place everything: a
		// partial plan that places more may cost more.
		if len(plan.Unplaced) == 0 && len(ffd.Unplaced) == 0 && plan.CostPerHour > ffd.CostPerHour+1e-9 {
			rt.Fatalf("plan $%.2f/h worse than FFD $%.2f/h", plan.CostPerHour, ffd.CostPerHour)
		}
	})
}

// TestDeadlineStillProves: with a deadline already past, the search stops
// at once and the plan is still valid, with a bound below its cost.
func TestDeadlineStillProves(t *testing.T) {
	p := Generate(GenerateSpec{Classes: 50, GPUs: 400, Seed: 2})
	p.Options.Deadline = time.Unix(0, 0)
	plan, err := SolveAt(p, func() time.Time { return time.Unix(1, 0) })
	if err != nil {
		t.Fatal(err)
	}
	if bad := checkPlan(p, plan); len(bad) > 0 {
		t.Fatalf("violates:\n%s", strings.Join(bad, "\n"))
	}
	full, _ := Solve(p)
	if plan.LowerBound > full.LowerBound+1e-6 {
		t.Errorf("stopped bound %.2f above the converged one %.2f", plan.LowerBound, full.LowerBound)
	}
}

// TestWorkersDoNotChangeThePlan: the parallel roundings give the same plan
// as one worker.
func TestWorkersDoNotChangeThePlan(t *testing.T) {
	for _, spec := range []GenerateSpec{{Classes: 30, GPUs: 300, Seed: 4}, {Classes: 150, GPUs: 800, Seed: 5}} {
		p := Generate(spec)
		p.Options.Workers = 1
		a, err := Solve(p)
		if err != nil {
			t.Fatal(err)
		}
		p.Options.Workers = 4
		b, _ := Solve(p)
		if planJSON(t, a) != planJSON(t, b) {
			t.Errorf("%+v: one worker and four give different plans", spec)
		}
	}
}

// TestPropertyStable: for random demands, re-planning from the plan with
// the same demand changes nothing and costs the same.
func TestPropertyStable(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		p := smallProblem()
		for i := range p.Classes {
			c := &p.Classes[i]
			if c.Rate > 0 {
				c.Rate = rapid.Float64Range(0, 2000).Draw(rt, c.Name+"-rate")
			} else {
				c.Replicas = rapid.IntRange(0, 10).Draw(rt, c.Name+"-replicas")
			}
		}
		first, err := Solve(p)
		if err != nil {
			return // partial plans are covered elsewhere
		}
		q := *p
		q.Current = &State{Nodes: first.Nodes}
		again, err := Solve(&q)
		if err != nil {
			rt.Fatalf("re-plan: %v", err)
		}
		ch := again.Changes
		if ch.ReplicasMoved+ch.ReplicasAdded+ch.ReplicasGone+len(ch.LayoutsChanged)+len(ch.NodesAdded)+len(ch.NodesRemoved) != 0 {
			rt.Fatalf("re-plan of an unchanged demand changes %+v", ch)
		}
		if math.Abs(again.CostPerHour-first.CostPerHour) > 1e-6 {
			rt.Fatalf("re-plan costs %.4f, plan %.4f", again.CostPerHour, first.CostPerHour)
		}
	})
}
