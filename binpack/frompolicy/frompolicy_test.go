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

// TestFromPolicyPerProfileFit: the demand's capacity records say, per
// profile, that the model does not fit (fits: false: the option goes,
// with a note) or how much memory a replica needs there (memoryGiB, in
// place of the class's one gpuMemory; the packer then rejects a slice it
// overflows).
func TestFromPolicyPerProfileFit(t *testing.T) {
	pol, err := policies.Load("../../examples/reference")
	if err != nil {
		t.Fatal(err)
	}
	rate, no := 150.0, false
	mem := func(x float64) *float64 { return &x }
	d := &binpack.Demand{Classes: []binpack.ClassDemand{{Name: "reader-de-large", Rate: &rate, Line: 3, Capacity: []binpack.CapacityRecord{
		{GPU: "H100-80GB", Profile: "2g.20gb", Fits: &no},
		{GPU: "H100-80GB", Profile: "3g.40gb", MemoryGiB: mem(22)},
		{GPU: "A100-80GB", Profile: "3g.40gb", Rate: 30, MemoryGiB: mem(45)},
	}}}}
	p, err := Problem(pol, d, time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	c := p.Classes[0]
	got := map[string]binpack.Option{}
	for _, o := range c.Options {
		got[o.GPU+" "+o.Profile] = o
	}
	if _, ok := got["H100-80GB 2g.20gb"]; ok {
		t.Errorf("a profile marked fits: false kept: %+v", c.Options)
	}
	if !slices.ContainsFunc(c.Notes, func(n string) bool { return strings.Contains(n, "2g.20gb: the model does not fit (demand line 3") }) {
		t.Errorf("no note for fits: false: %q", c.Notes)
	}
	if o := got["H100-80GB 3g.40gb"]; o.MemoryGiB != 22 || o.Capacity <= 0 {
		t.Errorf("memoryGiB record without a rate: %+v (want 22 GiB and the policy's capacity)", o)
	}
	if o := got["A100-80GB 2g.20gb"]; o.MemoryGiB != 14 {
		t.Errorf("a profile without a record: %+v (want the class's 14 GiB)", o)
	}
	plan, _ := binpack.Solve(p)
	for _, a := range plan.Allocations {
		if a.Profile == "3g.40gb" && a.GPU == "A100-80GB" {
			t.Errorf("placed on a slice its 45 GiB overflow: %+v", a)
		}
	}
}
