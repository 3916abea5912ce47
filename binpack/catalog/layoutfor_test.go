package catalog

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// TestLayoutForMatchesEnumeration: for random instance counts, LayoutFor
// finds a placement exactly when one of the GPU's enumerated legal layouts
// has those counts, and what it returns is legal.
func TestLayoutForMatchesEnumeration(t *testing.T) {
	cat := Default()
	rapid.Check(t, func(t *rapid.T) {
		gpu, _ := cat.GPU(rapid.SampledFrom([]string{"A100-40GB", "A100-80GB", "H100-80GB", "H200-141GB"}).Draw(t, "gpu"))
		counts := map[string]int{}
		for _, p := range gpu.Profiles {
			if n := rapid.IntRange(0, 4).Draw(t, p.Name); n > 0 {
				counts[p.Name] = n
			}
		}
		if len(counts) == 0 {
			return
		}
		want := false
		for _, l := range gpu.Layouts(false) {
			if fmt.Sprint(l.Counts()) == fmt.Sprint(counts) {
				want = true
				break
			}
		}
		l, got := gpu.LayoutFor(counts)
		if got != want {
			t.Fatalf("%s %v: LayoutFor %v, enumeration %v", gpu.Name, counts, got, want)
		}
		if got && (gpu.ValidateLayout(l) != nil || fmt.Sprint(l.Counts()) != fmt.Sprint(counts)) {
			t.Fatalf("%s %v: returned %s", gpu.Name, counts, l)
		}
	})
}

// TestLayoutForReferenceCases are the consequences listed in
// shared/reference/mig.md, on H100 80GB.
func TestLayoutForReferenceCases(t *testing.T) {
	cat := Default()
	gpu, _ := cat.GPU("H100-80GB")
	tests := []struct {
		counts map[string]int
		legal  bool
	}{
		{map[string]int{"4g.40gb": 1, "3g.40gb": 1}, true},
		{map[string]int{"3g.40gb": 2}, true},
		{map[string]int{"1g.10gb": 7}, true},
		{map[string]int{"1g.10gb": 8}, false},
		{map[string]int{"3g.40gb": 1, "1g.10gb": 4}, true},  // 3g at 4, 1g at 0-3
		{map[string]int{"3g.40gb": 1, "1g.20gb": 3}, false}, // memory, not compute, runs out
		{map[string]int{"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}, true},
		{map[string]int{"7g.80gb": 1, "1g.10gb": 1}, false},
	}
	for _, tt := range tests {
		if _, got := gpu.LayoutFor(tt.counts); got != tt.legal {
			t.Errorf("%v: got legal=%v, want %v", tt.counts, got, tt.legal)
		}
	}
}
