package frompolicy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/binpack"
	"github.com/headroom-dev/headroom/policies"
)

func TestFromPolicyReference(t *testing.T) {
	pol, err := policies.Load("../../examples/reference")
	if err != nil {
		t.Fatal(err)
	}
	rate := func(x float64) *float64 { return &x }
	n := func(x int) *int { return &x }
	d := &binpack.Demand{Classes: []binpack.ClassDemand{
		{Name: "reader-en-large", Rate: rate(420)},
		{Name: "reader-en-base", Replicas: n(4)},
		{Name: "reader-de-large", Rate: rate(150), Capacity: []binpack.CapacityRecord{{GPU: "H100-80GB", Profile: "3g.40gb", Rate: 61}}},
	}}
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC) // a Monday, Berlin business hours
	p, err := Problem(pol, d, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range p.NodeGroups {
		if strings.HasPrefix(g.Name, "cpu-") {
			t.Errorf("CPU-only nodegroup %s packed", g.Name)
		}
	}
	var large, de *binpack.Class
	for i := range p.Classes {
		switch p.Classes[i].Name {
		case "reader-en-large":
			large = &p.Classes[i]
		case "reader-de-large":
			de = &p.Classes[i]
		}
	}
	if large == nil || large.MinReplicas < 8 {
		t.Fatalf("reader-en-large: scheduled minimum of 8 at %v not applied: %+v", now, large)
	}
	if large.MinOnDemandFraction != 0.5 || len(large.NodeGroups) == 0 {
		t.Errorf("reader-en-large placement not carried: %+v", large)
	}
	found := false
	for _, o := range de.Options {
		if o.GPU == "H100-80GB" && o.Profile == "3g.40gb" {
			found = o.Capacity == 61
		}
	}
	if !found {
		t.Errorf("capacity override not applied: %+v", de.Options)
	}
	plan, err := binpack.Solve(p)
	if err != nil {
		t.Fatal(err)
	}
	// The solver's own property tests check plans in depth; here: every
	// class placed, and only on the nodegroups its policy allows.
	if len(plan.Unplaced) > 0 {
		t.Fatalf("unplaced: %+v", plan.Unplaced)
	}
	allowed := map[string][]string{}
	for _, c := range p.Classes {
		allowed[c.Name] = c.NodeGroups
	}
	for _, a := range plan.Allocations {
		if !slices.Contains(allowed[a.Class], a.NodeGroup) {
			t.Errorf("%s placed on %s, allowed %v", a.Class, a.NodeGroup, allowed[a.Class])
		}
	}

	_, err = Problem(pol, &binpack.Demand{Classes: []binpack.ClassDemand{{Name: "reader-xx", Rate: rate(1), Line: 7}}}, now)
	if err == nil || !strings.Contains(err.Error(), `"reader-xx"`) || !strings.Contains(err.Error(), "line 7") {
		t.Fatalf("unknown class: %v", err)
	}
}
