package simulations

import (
	"context"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/simulations/trace"
)

func loadRef(t testing.TB) *policies.Policy {
	t.Helper()
	p, err := policies.Load("../examples/reference")
	if err != nil {
		t.Fatalf("loading reference policy: %v", err)
	}
	return p
}

func azureWorkload(t testing.TB, p *policies.Policy, scale float64, d time.Duration) *Workload {
	t.Helper()
	tr, err := trace.ReadFile("testdata/traces/AzureLLMInferenceTrace_conv.csv", trace.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range p.Classes {
		names = append(names, c.Name)
	}
	wl, err := NewWorkload(tr, WorkloadOptions{Classes: names, Scale: scale, Duration: d, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return wl
}

func TestRunBaselines(t *testing.T) {
	p := loadRef(t)
	wl := azureWorkload(t, p, 50, 0)
	for _, f := range []ControllerFactory{NewHPACA(HPAOptions{}), NewStatic(0), NewClairvoyant(0)} {
		start := time.Now()
		r, err := Run(context.Background(), RunOptions{Policy: p, Workload: wl, Controller: f, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %.0f req att %.4f cost %.2f gpu %.2f ticksErr %d %s (%v) p95 %v", r.Controller, r.Requests, r.Attainment, r.Cost, r.GPUMemoryUtilization, r.TickErrors, r.FirstTickError, time.Since(start), r.Classes[0].P95Ms)
		for _, c := range r.Classes {
			t.Logf("  %+v", c)
		}
		for _, c := range r.CostBy {
			t.Logf("  %+v", c)
		}
	}
}

func TestRunHeadroom(t *testing.T) {
	p := loadRef(t)
	wl := azureWorkload(t, p, 50, 0)
	start := time.Now()
	r, err := Run(context.Background(), RunOptions{Policy: p, Workload: wl, Controller: NewHeadroom(scaler.Options{}), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %.0f req att %.4f cost %.2f gpu %.2f ticksErr %d %s (%v) rep %d drains %d", r.Controller, r.Requests, r.Attainment, r.Cost, r.GPUMemoryUtilization, r.TickErrors, r.FirstTickError, time.Since(start), r.Repartitions, r.Drains)
	for _, c := range r.Classes {
		t.Logf("  %+v", c)
	}
	for _, c := range r.CostBy {
		t.Logf("  %+v", c)
	}
}
