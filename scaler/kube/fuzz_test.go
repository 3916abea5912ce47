package kube

import (
	"strings"
	"testing"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// FuzzProfileOf: any resource name maps to "" or a profile, and a MIG
// profile maps back to the same resource name (catalog.ResourceName is
// the inverse).
func FuzzProfileOf(f *testing.F) {
	for _, s := range []string{"nvidia.com/mig-3g.40gb", "nvidia.com/gpu", "nvidia.com/gpu.shared", "nvidia.com/mig-1g.10gb+me", "nvidia.com/mig-", "cpu", "nvidia.com/mig-9g.9gb-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, res string) {
		p := ProfileOf(res)
		switch {
		case p == "":
		case p == catalog.ProfileWhole:
			if res != "nvidia.com/gpu" {
				t.Fatalf("%q -> whole", res)
			}
		case p == catalog.ProfileTimeSliced:
			if res != "nvidia.com/gpu.shared" {
				t.Fatalf("%q -> timesliced", res)
			}
		default:
			if back := catalog.ResourceName(p); back != res {
				t.Fatalf("%q -> %q -> %q", res, p, back)
			}
			if !validProfile(p) || strings.ContainsAny(p, "/ ") {
				t.Fatalf("%q -> invalid profile %q", res, p)
			}
		}
	})
}

// FuzzCapacityType: the label maps into the core's three values, and the
// core's values map to themselves.
func FuzzCapacityType(f *testing.F) {
	for _, s := range []string{"ON_DEMAND", "SPOT", "on-demand", "spot", "", "CAPACITY_BLOCK"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, label string) {
		got := CapacityType(label)
		if got != "" && got != "on-demand" && got != "spot" {
			t.Fatalf("%q -> %q", label, got)
		}
		if CapacityType(got) != got {
			t.Fatalf("%q -> %q is not a fixed point", label, got)
		}
	})
}
