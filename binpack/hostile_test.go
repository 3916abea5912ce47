package binpack

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// boundedProblem is smallProblem with a max size on every nodegroup, so
// the fleet can hold only so much.
func boundedProblem() *Problem {
	p := smallProblem()
	p.NodeGroups[1].Max = 4
	return p
}

// TestDemandBeyondTheFleet: demand more than the nodegroups could ever
// hold at their max sizes gives a partial plan, at once, that says so;
// none of these numbers overflows into a plan that looks fine.
func TestDemandBeyondTheFleet(t *testing.T) {
	for _, tc := range []struct {
		name  string
		class string
		edit  func(p *Problem)
	}{
		{"replicas 99999999999", "rare", func(p *Problem) { p.Classes[2].Replicas = 99999999999 }},
		{"rate 1e8", "base", func(p *Problem) { p.Classes[1].Rate = 1e8 }},
		{"rate 1e300", "large", func(p *Problem) { p.Classes[0].Rate = 1e300 }},
		{"capacity 1e-300", "large", func(p *Problem) {
			for i := range p.Classes[0].Options {
				p.Classes[0].Options[i].Capacity = 1e-300
			}
		}},
		{"max size near MaxInt", "large", func(p *Problem) {
			p.Classes[0].Rate = 1e300
			p.NodeGroups[0].Max = math.MaxInt / 2
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := boundedProblem()
			tc.edit(p)
			plan, err := Solve(p)
			var ie *InfeasibleError
			if !errors.As(err, &ie) || plan == nil {
				if tc.name == "max size near MaxInt" && IsInvalid(err) {
					return // too big to plan is a fine answer too
				}
				t.Fatalf("want a partial plan, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.class) || !strings.Contains(err.Error(), "max sizes") {
				t.Fatalf("the error does not say class %s is over what the max sizes hold: %v", tc.class, err)
			}
			if bad := checkPlan(p, plan); len(bad) > 0 {
				t.Fatalf("plan violates:\n%s", strings.Join(bad, "\n"))
			}
			if !(plan.LowerBound >= 0) || math.IsInf(plan.LowerBound, 0) || plan.Gap < 0 {
				t.Fatalf("bound $%v/h, gap %v for a plan of $%v/h", plan.LowerBound, plan.Gap, plan.CostPerHour)
			}
		})
	}
}

// TestProblemTooLargeToPlan: on nodegroups without a max size, demand
// the solver could not hold in memory is an input error that names the
// class and the limit, before any allocation.
func TestProblemTooLargeToPlan(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		edit       func(p *Problem)
	}{
		{"replicas 99999999999", "MaxReplicas", func(p *Problem) { p.Classes[2].Replicas = 99999999999 }},
		{"rate 1e300", "MaxReplicas", func(p *Problem) { p.Classes[0].Rate = 1e300 }},
		{"capacity 1e-300", "MaxReplicas", func(p *Problem) {
			for i := range p.Classes[0].Options {
				p.Classes[0].Options[i].Capacity = 1e-300
			}
		}},
		{"minReplicas 2^40", "MaxReplicas", func(p *Problem) { p.Classes[0].MinReplicas = 1 << 40 }},
		{"min size 2^40 nodes", "MaxGPUs", func(p *Problem) { p.NodeGroups[1].Min = 1 << 40 }},
		{"a small limit", "MaxReplicas", func(p *Problem) { p.Options.MaxReplicas = 10 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := smallProblem()
			tc.edit(p)
			plan, err := Solve(p)
			if plan != nil || !IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an invalid-problem error naming %s, got plan %v, %v", tc.want, plan != nil, err)
			}
		})
	}
}

// TestPropertyHostileDemand: any demand, however large or small its
// numbers, gives an input error or a plan that keeps every constraint,
// with a bound between 0 and its cost.
func TestPropertyHostileDemand(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		p := smallProblem()
		if rapid.Bool().Draw(rt, "bounded") {
			p.NodeGroups[1].Max = 4
		}
		for i := range p.Classes {
			c := &p.Classes[i]
			mag := math.Pow(10, rapid.Float64Range(-300, 300).Draw(rt, c.Name+"-exp"))
			if c.Rate > 0 {
				c.Rate = mag
				for j := range c.Options {
					c.Options[j].Capacity = math.Pow(10, rapid.Float64Range(-300, 300).Draw(rt, c.Name+"-cap"))
				}
			} else {
				c.Replicas = int(min(mag, math.MaxInt/2))
			}
		}
		p.Options.BoundIterations = 50
		plan, err := Solve(p)
		if err != nil && !IsInfeasible(err) {
			if !IsInvalid(err) {
				rt.Fatalf("unexpected error: %v", err)
			}
			return
		}
		if bad := checkPlan(p, plan); len(bad) > 0 {
			rt.Fatalf("plan violates:\n%s", strings.Join(bad, "\n"))
		}
		if !(plan.LowerBound >= 0) || plan.LowerBound > plan.CostPerHour+1e-6 || plan.Gap < 0 {
			rt.Fatalf("bound $%v/h, gap %v for a plan of $%v/h", plan.LowerBound, plan.Gap, plan.CostPerHour)
		}
	})
}

// TestProblemNumbers: the problem-wide numbers must be finite; an infinite
// change cost used to plan, then fail to print as JSON.
func TestProblemNumbers(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(p *Problem)
	}{
		{"changeCost +Inf", func(p *Problem) { p.ChangeCost = math.Inf(1) }},
		{"changeCost NaN", func(p *Problem) { p.ChangeCost = math.NaN() }},
		{"costCeiling +Inf", func(p *Problem) { p.CostCeiling = math.Inf(1) }},
		{"costCeiling NaN", func(p *Problem) { p.CostCeiling = math.NaN() }},
		{"costCeiling negative", func(p *Problem) { p.CostCeiling = -1 }},
		{"price +Inf", func(p *Problem) { p.NodeGroups[0].Price = math.Inf(1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := smallProblem()
			tc.edit(p)
			if _, err := Solve(p); !IsInvalid(err) {
				t.Fatalf("want an invalid-problem error, got %v", err)
			}
		})
	}
}

// TestParseHostileFiles: YAML attacks on the demand, state and problem
// files end as file errors, fast.
func TestParseHostileFiles(t *testing.T) {
	var bomb strings.Builder
	bomb.WriteString("apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses: &c0 [{name: a, rate: 1}]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&bomb, "x%d: &c%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*c%d, ", i-1), 9), ", "))
	}
	for _, tc := range []struct{ name, src, want string }{
		{"billion laughs", bomb.String(), "x1 not found"},
		{"deep nesting", "apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - name: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n", "exceeded max depth"},
		{"NUL", "apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - {name: \"a\x00\", rate: 1}\n", "control characters"},
		{"replicas overflow", "apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - {name: a, replicas: 1e30}\n", "cannot unmarshal"},
		{"too large", "apiVersion: headroom.dev/v1alpha1\nkind: Demand\n" + strings.Repeat("#", MaxFileBytes), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDemand("d.yaml", []byte(tc.src))
			var fe *FileError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want a file error containing %q, got %v", tc.want, err)
			}
		})
	}
}
