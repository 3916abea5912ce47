package sandbox

import (
	"testing"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/scaler/kube"
)

// A node relabelled from all-3g.40gb to all-1g.10gb goes pending, stays
// pending for the re-partition time, then succeeds with 7 x 1g.10gb per GPU
// and no 3g.40gb left.
func TestPlanMIGRepartition(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	migs := map[string]catalog.MIGConfig{"all-1g.10gb": catalog.UniformMIG(map[string]int{"1g.10gb": 7})}
	n := MIGNode{Name: "n", Want: "all-1g.10gb", State: MIGSuccess, Applied: "all-3g.40gb", GPUs: 2}

	s := PlanMIG(t0, n, migs, 10*time.Second)
	if s == nil || s.Labels[kube.MIGConfigStateLabel] != MIGPending || s.Annotations[PendingSinceAnnotation] == "" || s.Resources != nil {
		t.Fatalf("first step %+v, want pending with its start", s)
	}
	n.State, n.PendingSince = MIGPending, t0
	if s := PlanMIG(t0.Add(9*time.Second), n, migs, 10*time.Second); s != nil {
		t.Fatalf("before the re-partition time: %+v, want nothing", s)
	}
	s = PlanMIG(t0.Add(10*time.Second), n, migs, 10*time.Second)
	if s == nil || s.Labels[kube.MIGConfigStateLabel] != MIGSuccess || s.Annotations[AppliedMIGAnnotation] != "all-1g.10gb" {
		t.Fatalf("after: %+v, want success with the config applied", s)
	}
	if q := s.Resources["nvidia.com/mig-1g.10gb"]; q.Value() != 14 {
		t.Errorf("1g.10gb %v, want 14", q.String())
	}
	if q, ok := s.Resources["nvidia.com/gpu"]; !ok || q.Value() != 0 {
		t.Errorf("nvidia.com/gpu %v (listed %v), want listed at 0", q.String(), ok)
	}
	n.State, n.Applied, n.PendingSince = MIGSuccess, "all-1g.10gb", time.Time{}
	if s := PlanMIG(t0.Add(11*time.Second), n, migs, 10*time.Second); s != nil {
		t.Fatalf("settled: %+v, want nothing", s)
	}
}

func TestPlanMIGUnknownConfigFails(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	n := MIGNode{Name: "n", Want: "nope", State: MIGPending, Applied: "all-disabled", PendingSince: t0, GPUs: 1}
	s := PlanMIG(t0.Add(time.Minute), n, nil, time.Second)
	if s == nil || s.Labels[kube.MIGConfigStateLabel] != MIGFailed {
		t.Fatalf("%+v, want failed", s)
	}
	n.State = MIGFailed
	if s := PlanMIG(t0.Add(2*time.Minute), n, nil, time.Second); s != nil {
		t.Fatalf("after failing: %+v, want nothing until the label changes", s)
	}
}
