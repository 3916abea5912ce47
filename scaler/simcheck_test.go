package scaler_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/simulations"
)

// fixed is a simulations controller that keeps n replicas and never acts.
type fixed struct{ n int }

func (f fixed) Name() string                          { return "fixed" }
func (f fixed) Interval() time.Duration               { return time.Hour }
func (f fixed) Tick(context.Context, time.Time) error { return nil }
func (f fixed) InitialReplicas(string) int            { return f.n }

// TestModelVsSimulator checks the latency model (PredictLatency) against the
// simulations package's request-level world: constant Poisson load on a
// fixed number of replicas for 20 virtual minutes, the world's measured p95
// against the model's, goal within 10% (issue 5).
func TestModelVsSimulator(t *testing.T) {
	for _, tc := range []struct {
		rate      float64
		reps, cc  int
		mean, p95 time.Duration
	}{
		{40, 4, 1, 50 * time.Millisecond, 100 * time.Millisecond},
		{56, 4, 1, 50 * time.Millisecond, 100 * time.Millisecond},
		{68, 4, 1, 50 * time.Millisecond, 100 * time.Millisecond},
		{84, 1, 4, 38 * time.Millisecond, 70 * time.Millisecond},
		{300, 4, 4, 38 * time.Millisecond, 70 * time.Millisecond},
		{400, 4, 4, 38 * time.Millisecond, 70 * time.Millisecond},
		{450, 10, 1, 20 * time.Millisecond, 45 * time.Millisecond},
	} {
		mc := policies.ModelClass{Name: "a", Spec: policies.ModelClassSpec{
			Image: "x", Model: policies.ModelArtifact{Path: "/m", Source: "local", LoadTime: d(time.Second)},
			GPUMemory: resource.MustParse("10Gi"),
			Profiles:  []policies.ServiceProfile{{GPU: "H100-80GB", Profile: "whole", ServiceTime: policies.ServiceTime{Mean: d(tc.mean), P95: d(tc.p95)}, Concurrency: tc.cc}},
			SLO:       policies.SLO{Latency: d(5 * time.Second), Percentile: 95},
			Scaling:   policies.Scaling{MinReplicas: tc.reps, MaxReplicas: tc.reps},
		}}
		pol := &policies.Policy{Classes: []policies.ModelClass{mc}, NodeGroups: []policies.NodeGroup{{Name: "g", Spec: policies.NodeGroupSpec{
			InstanceType: "p5.48xlarge", CapacityType: "on-demand", Size: policies.Size{Min: 2, Max: 4}, GPU: policies.GPUConfig{Mode: "whole"}}}}}
		policies.Default(pol)
		dur := 20 * time.Minute
		rng := rand.New(rand.NewPCG(3, 4))
		wl := &simulations.Workload{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Duration: dur, Classes: []string{"a"}, Step: time.Minute}
		for ts := 0.0; ts < dur.Seconds(); {
			ts += rng.ExpFloat64() / tc.rate
			if ts >= dur.Seconds() {
				break
			}
			wl.Times = append(wl.Times, int64(ts*1e9))
			wl.Class = append(wl.Class, 0)
		}
		wl.Rates = [][]float64{make([]float64, int(dur/time.Minute))}
		for i := range wl.Rates[0] {
			wl.Rates[0][i] = tc.rate
		}
		res, err := simulations.Run(context.Background(), simulations.RunOptions{Policy: pol, Workload: wl, Seed: 1,
			Controller: func(simulations.Env) (simulations.Controller, error) { return fixed{tc.reps}, nil },
			World:      simulations.WorldOptions{SpotInterruptionsPerHour: -1, SpotShortfall: -1}})
		if err != nil {
			t.Fatal(err)
		}
		pred, _ := scaler.PredictLatency(tc.rate, tc.reps, scaler.ServiceModel{Mean: tc.mean, P95: tc.p95, Concurrency: tc.cc}, 95)
		cr := res.Classes[0]
		rel := (pred.Seconds()*1000 - cr.P95Ms) / cr.P95Ms
		t.Logf("rate %.0f reps %d x%d mean %v: model p95 %.1fms, simulator p95 %.1fms (%+.1f%%), %.0f requests",
			tc.rate, tc.reps, tc.cc, tc.mean, pred.Seconds()*1000, cr.P95Ms, rel*100, cr.Requests)
		if math.Abs(rel) > 0.10 {
			t.Errorf("rate %.0f reps %d x%d: model p95 %v vs simulator %.1fms (%+.1f%%, goal within 10%%)", tc.rate, tc.reps, tc.cc, pred, cr.P95Ms, rel*100)
		}
	}
}
