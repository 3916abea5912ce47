package scaler

import (
	"slices"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/binpack"
	"github.com/headroom-dev/headroom/binpack/frompolicy"
	"github.com/headroom-dev/headroom/policies"
)

// `headroom pack` and the controller build one packing problem from one
// policy: the same nodegroups (modes, layouts, tenants, bounds), the same
// change cost, and for each class the same slices on the same nodegroups.
func TestPackAndControllerBuildOneProblem(t *testing.T) {
	pol, err := policies.Load("../examples/reference")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := pol.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	v := vanishing{}
	c, err := New(Options{Catalog: cat}, pol, v, v, v, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	replicas := map[string]int{}
	var classes []ClassDecision
	demand := &binpack.Demand{}
	for i, mc := range pol.Classes {
		if !usesGPU(&mc) {
			continue
		}
		n := 2 + i
		replicas[mc.Name] = n
		classes = append(classes, ClassDecision{Class: mc.Name})
		demand.Classes = append(demand.Classes, binpack.ClassDemand{Name: mc.Name, Replicas: &n})
	}
	w := index(&Observations{})
	got := Binpack{Catalog: cat}.Problem(c.packRequest(replicas, classes, &w).req)
	want, err := frompolicy.Problem(pol, demand, time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}

	if got.ChangeCost != want.ChangeCost {
		t.Errorf("change cost: controller %v, pack %v", got.ChangeCost, want.ChangeCost)
	}
	if len(got.NodeGroups) != len(want.NodeGroups) {
		t.Fatalf("nodegroups: controller %d, pack %d", len(got.NodeGroups), len(want.NodeGroups))
	}
	for i, g := range got.NodeGroups {
		w := want.NodeGroups[i]
		if g.Name != w.Name || g.InstanceType != w.InstanceType || g.CapacityType != w.CapacityType || g.Mode != w.Mode ||
			g.Layout.String() != w.Layout.String() || g.LayoutName != w.LayoutName || g.TimeSlices != w.TimeSlices ||
			g.Min != w.Min || g.Max != w.Max || !slices.Equal(g.Tenants, w.Tenants) {
			t.Errorf("nodegroup %d:\n controller %+v\n pack       %+v", i, g, w)
		}
	}
	if len(got.Classes) != len(want.Classes) {
		t.Fatalf("classes: controller %d, pack %d", len(got.Classes), len(want.Classes))
	}
	for i, g := range got.Classes {
		w := want.Classes[i]
		if g.Name != w.Name || g.Replicas != w.Replicas || !slices.Equal(g.NodeGroups, w.NodeGroups) ||
			g.Spot != w.Spot || g.MinOnDemandFraction != w.MinOnDemandFraction || g.Tenant != w.Tenant {
			t.Errorf("class %s:\n controller %+v\n pack       %+v", g.Name, g, w)
		}
		key := func(o binpack.Option) string { return o.GPU + "/" + o.Profile }
		gk, wk := []string{}, []string{}
		for _, o := range g.Options {
			gk = append(gk, key(o))
		}
		for _, o := range w.Options {
			wk = append(wk, key(o))
		}
		slices.Sort(gk)
		slices.Sort(wk)
		if !slices.Equal(gk, wk) {
			t.Errorf("class %s options: controller %v, pack %v", g.Name, gk, wk)
		}
	}
}
