package scaler_test

import (
	"context"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
)

// The controller plans at the policy's horizon, per nodegroup and not by
// adding the largest boot to the largest re-partition across groups: with a
// mig-dynamic group (boot 2m, re-partition 5m) and a mig-fixed group (boot
// 10m, default re-partition 2m) and a 90s model load, that is 13m30s (the
// mig-fixed group), not 10m + 5m + 90s = 16m30s.
func TestHorizonIsThePolicys(t *testing.T) {
	pol := testPolicy(testClass("a", 1, 10))
	pol.NodeGroups[0].Spec.BootTime = d(2 * time.Minute)
	pol.NodeGroups[0].Spec.GPU.RepartitionTime = d(5 * time.Minute)
	pol.NodeGroups = append(pol.NodeGroups, policies.NodeGroup{Name: "p5-fixed", Spec: policies.NodeGroupSpec{
		InstanceType: "p5.48xlarge", CapacityType: "on-demand", Size: policies.Size{Max: 4}, BootTime: d(10 * time.Minute),
		GPU: policies.GPUConfig{Mode: policies.GPUModeMIGFixed, Layout: &policies.NamedLayout{Name: "two-3g", Devices: map[string]int{"3g.40gb": 2}}}}})
	w := world(2)
	c := newController(t, w, pol, scaler.Options{})
	setRate(w, "a", 10, t0)
	dec, err := c.Tick(context.Background(), t0)
	if err != nil {
		t.Fatal(err)
	}
	cd, _ := dec.Class("a")
	want := 13*time.Minute + 30*time.Second
	if got := pol.Horizon(&pol.Classes[0]); got != want {
		t.Fatalf("policies.Horizon = %v, want %v", got, want)
	}
	if cd.Horizon != want {
		t.Errorf("the controller plans at %v, the policy says %v", cd.Horizon, want)
	}
}
