package catalog

import (
	"errors"
	"sort"
	"strings"
	"testing"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	for _, name := range c.InstanceNames() {
		it := c.Instances[name]
		if err := c.Clone().AddInstance(*it); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if it.SpotPrice <= 0 || it.SpotPrice >= it.OnDemandPrice {
			t.Errorf("%s: spot %.3f not in (0, on-demand %.3f)", name, it.SpotPrice, it.OnDemandPrice)
		}
	}
	for _, name := range c.GPUNames() {
		g := c.GPUs[name]
		for _, p := range g.Profiles {
			if p.UsableGiB <= 0 || p.UsableGiB > g.MemoryGiB {
				t.Errorf("%s %s: usable %.2f outside (0, %.2f]", name, p.Name, p.UsableGiB, g.MemoryGiB)
			}
		}
	}
}

func TestValidateLayout(t *testing.T) {
	h100, _ := Default().GPU("H100-80GB")
	cases := []struct {
		name   string
		layout Layout
		reason string // substring of the error; empty when legal
	}{
		{"4g+3g", Layout{{"4g.40gb", 0}, {"3g.40gb", 4}}, ""},
		{"3g+3g strands a compute slice", Layout{{"3g.40gb", 0}, {"3g.40gb", 4}}, ""},
		{"7 x 1g", Layout{{"1g.10gb", 0}, {"1g.10gb", 1}, {"1g.10gb", 2}, {"1g.10gb", 3}, {"1g.10gb", 4}, {"1g.10gb", 5}, {"1g.10gb", 6}}, ""},
		{"7g alone", Layout{{"7g.80gb", 0}}, ""},
		{"3g@4 excludes 1g@6", Layout{{"3g.40gb", 4}, {"1g.10gb", 6}}, "overlaps"},
		{"8 x 1g", Layout{{"1g.10gb", 0}, {"1g.10gb", 1}, {"1g.10gb", 2}, {"1g.10gb", 3}, {"1g.10gb", 4}, {"1g.10gb", 5}, {"1g.10gb", 6}, {"1g.10gb", 7}}, "may not start"},
		{"4g at 4", Layout{{"4g.40gb", 4}}, "may not start"},
		{"2g at 6", Layout{{"2g.20gb", 6}}, "may not start"},
		{"1g.20gb at 1", Layout{{"1g.20gb", 1}}, "may not start"},
		{"4g+2g+1g", Layout{{"4g.40gb", 0}, {"2g.20gb", 4}, {"1g.10gb", 6}}, ""},
		{"4g+2g+1g.20gb uses all 7 compute", Layout{{"4g.40gb", 0}, {"2g.20gb", 4}, {"1g.20gb", 6}}, ""},
		{"1g at 7", Layout{{"3g.40gb", 0}, {"1g.10gb", 7}}, "may not start"},
		{"unknown profile", Layout{{"5g.50gb", 0}}, "unknown MIG profile"},
		{"A100 name on H100", Layout{{"1g.5gb", 0}}, "unknown MIG profile"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := h100.ValidateLayout(tc.layout)
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("want legal, got %v", err)
			case tc.reason != "" && err == nil:
				t.Fatalf("want illegal (%s), got legal", tc.reason)
			case tc.reason != "" && !strings.Contains(err.Error(), tc.reason):
				t.Fatalf("error %q does not mention %q", err, tc.reason)
			}
			var le *LayoutError
			if err != nil && !errors.As(err, &le) {
				t.Fatalf("error is %T, want *LayoutError", err)
			}
		})
	}
}

// On the real geometry the memory rules already keep compute at or under 7,
// so the compute rule is checked on a synthetic GPU whose 2-slice profile
// costs 3 compute slices.
func TestComputeLimit(t *testing.T) {
	g := &GPU{Name: "synthetic", MIG: true, Profiles: []Profile{
		{Name: "3g.x", Compute: 3, Memory: 2, Starts: []int{0, 2, 4, 6}, UsableGiB: 1},
	}}
	if err := g.ValidateLayout(Layout{{"3g.x", 0}, {"3g.x", 2}}); err != nil {
		t.Fatal(err)
	}
	err := g.ValidateLayout(Layout{{"3g.x", 0}, {"3g.x", 2}, {"3g.x", 4}})
	if err == nil || !strings.Contains(err.Error(), "9 compute slices") {
		t.Fatalf("got %v, want a compute-slice error", err)
	}
	if n := len(g.Layouts(true)); n == 0 {
		t.Fatal("no maximal layouts")
	}
	for _, l := range g.Layouts(false) {
		if len(l) > 2 {
			t.Fatalf("enumerated %v past the compute limit", l)
		}
	}
}

// The reference (shared/reference/mig.md) states: without the double-memory
// 1g profile there are 19 maximal layouts and 14 distinct multisets.
func TestMaximalLayoutCount(t *testing.T) {
	h100, _ := Default().GPU("H100-80GB")
	g := *h100
	g.Profiles = nil
	for _, p := range h100.Profiles {
		if p.Name != "1g.20gb" {
			g.Profiles = append(g.Profiles, p)
		}
	}
	maximal := g.Layouts(true)
	multisets := map[string]bool{}
	for _, l := range maximal {
		if err := g.ValidateLayout(l); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range l {
			names = append(names, p.Profile)
		}
		sort.Strings(names)
		multisets[strings.Join(names, ",")] = true
	}
	if len(maximal) != 19 || len(multisets) != 14 {
		t.Errorf("got %d maximal layouts, %d multisets; want 19, 14", len(maximal), len(multisets))
		for _, l := range maximal {
			t.Log(l)
		}
	}
}

func TestLayoutsAreLegalAndComplete(t *testing.T) {
	for _, name := range []string{"A100-40GB", "H100-80GB", "H200-141GB"} {
		g, _ := Default().GPU(name)
		all := g.Layouts(false)
		seen := map[string]bool{}
		for _, l := range all {
			if err := g.ValidateLayout(l); err != nil {
				t.Fatalf("%s: enumerated illegal layout: %v", name, err)
			}
			if seen[l.String()] {
				t.Fatalf("%s: layout %s enumerated twice", name, l)
			}
			seen[l.String()] = true
		}
		// Every legal layout extended by Place stays legal.
		for _, l := range all {
			for _, p := range g.Profiles {
				if next, ok := g.Place(l, p.Name); ok {
					if err := g.ValidateLayout(next); err != nil {
						t.Fatalf("%s: Place(%s, %s) gave illegal %v", name, l, p.Name, err)
					}
					if !seen[next.String()] {
						t.Fatalf("%s: Place gave %s, which Layouts missed", name, next)
					}
				}
			}
		}
	}
}

func TestPlaceKeepsLowStartsForLargeProfiles(t *testing.T) {
	h100, _ := Default().GPU("H100-80GB")
	l, ok := h100.Place(nil, "1g.10gb")
	if !ok || l[0].Start != 6 {
		t.Fatalf("first 1g went to %v, want start 6", l)
	}
	l, ok = h100.Place(l, "4g.40gb")
	if !ok {
		t.Fatalf("4g no longer fits after one 1g: %v", l)
	}
	if _, ok := h100.Place(l, "3g.40gb"); ok {
		t.Fatalf("3g fit into %v", l)
	}
}

func TestAddInstanceErrors(t *testing.T) {
	c := Default()
	err := c.AddInstance(InstanceType{Name: "x1", GPU: "B200", GPUs: 8, VCPU: 1, MemoryGiB: 1, OnDemandPrice: 1})
	if err == nil || !strings.Contains(err.Error(), `gpu "B200" is not in the catalog`) {
		t.Fatalf("got %v", err)
	}
	err = c.AddInstance(InstanceType{Name: "x2", VCPU: 0, MemoryGiB: -1})
	if err == nil || !strings.Contains(err.Error(), "vcpu") || !strings.Contains(err.Error(), "memoryGiB") || !strings.Contains(err.Error(), "onDemandPrice") {
		t.Fatalf("want all findings, got %v", err)
	}
	if err := c.AddInstance(InstanceType{Name: "g7.xlarge", GPU: "L4-24GB", GPUs: 1, VCPU: 4, MemoryGiB: 16, OnDemandPrice: 1}); err != nil {
		t.Fatal(err)
	}
	if it, _ := c.Instance("g7.xlarge"); it.SpotPrice != 0.4 {
		t.Fatalf("spot default %.3f, want 0.4", it.SpotPrice)
	}
	if _, ok := Default().Instance("g7.xlarge"); ok {
		t.Fatal("Default shares state between calls")
	}
}

func BenchmarkLayouts(b *testing.B) {
	h200, _ := Default().GPU("H200-141GB")
	for b.Loop() {
		h200.Layouts(false)
	}
}
