package simulations

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/simulations/trace"
)

// BenchmarkRequestLevel measures the request-level hot path: Poisson
// arrivals over 2 minutes against a fixed fleet (static controller), from
// 240k requests on 4 classes to 2.4M requests on 20 classes. Reports
// requests simulated per second (wall and CPU).
func BenchmarkRequestLevel(b *testing.B) {
	for _, c := range []struct {
		classes int
		rate    float64
	}{{4, 2000}, {4, 20000}, {20, 20000}} {
		b.Run(fmt.Sprintf("classes=%d/rate=%.0f", c.classes, c.rate), func(b *testing.B) {
			p := syntheticFleet(b, c.classes)
			tr := &trace.Trace{Format: trace.FormatRates, Window: time.Minute}
			for i := 0; i < 2; i++ {
				tr.Rates = append(tr.Rates, trace.RateWindow{Start: time.Unix(int64(60*i), 0).UTC(), Rate: c.rate})
			}
			wl, err := NewWorkload(tr, WorkloadOptions{Classes: classNames(p), Poisson: true, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var n float64
			cpu0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				r, err := Run(context.Background(), RunOptions{Policy: p, Workload: wl, Controller: NewStatic(0), Seed: 1, Mode: ModeRequest})
				if err != nil {
					b.Fatal(err)
				}
				n += r.Requests
			}
			b.ReportMetric(n/b.Elapsed().Seconds(), "requests/s")
			if cpu := cpuSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(n/cpu, "requests/cpu-s")
			}
		})
	}
}

// BenchmarkFlowServeGen14d runs 14 days of the ServeGen rate trace spread
// over 20 classes at flow level. Reports simulated days per second and the
// wall seconds of one run.
func BenchmarkFlowServeGen14d(b *testing.B) {
	p := syntheticFleet(b, 20)
	tr, err := trace.ReadFile("testdata/traces/servegen_language_m-mid_rate.csv", trace.ReadOptions{})
	if err != nil {
		b.Skipf("ServeGen trace: %v", err)
	}
	wl, err := NewWorkload(tr, WorkloadOptions{Classes: classNames(p), Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		f    ControllerFactory
	}{
		{"hpa-ca", NewHPACA(HPAOptions{})},
		{"headroom", NewHeadroom(scaler.Options{})},
	} {
		b.Run(c.name, func(b *testing.B) {
			cpu0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				if _, err := Run(context.Background(), RunOptions{Policy: p, Workload: wl, Controller: c.f, Seed: 1, Mode: ModeFlow}); err != nil {
					b.Fatal(err)
				}
			}
			per := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(per, "s/run")
			b.ReportMetric(wl.Duration.Hours()/24/per, "sim-days/s")
			if cpu := cpuSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(cpu/float64(b.N), "cpu-s/run")
			}
		})
	}
}

// BenchmarkWhatIf14d is the what-if a policy pull request runs: 14 days
// of the ServeGen 10-minute rate trace at flow level on the reference
// fleet, headroom with two policies (head and base, here the same),
// HPA + Cluster Autoscaler and the clairvoyant bound, through Compare.
// "headroom" is one headroom run alone. Reports simulated days per
// CPU-second (over all runs) and the wall seconds of the whole.
func BenchmarkWhatIf14d(b *testing.B) {
	p := loadRef(b)
	tr, err := trace.ReadFile("testdata/traces/servegen_language_m-mid_rate.csv", trace.ReadOptions{})
	if err != nil {
		b.Skipf("ServeGen trace: %v", err)
	}
	wl, err := NewWorkload(tr, WorkloadOptions{Classes: classNames(p), Seed: 1,
		Mix: Mix{"reader-en-large": 0.5, "reader-de-large": 0.3, "reader-en-base": 0.2}})
	if err != nil {
		b.Fatal(err)
	}
	days := wl.Duration.Hours() / 24
	for _, c := range []struct {
		name string
		cs   []Contender
		// runs counts the simulated runs, the bound included.
		runs int
	}{
		{"headroom", []Contender{{PolicyName: "head", Policy: p, Controller: NewHeadroom(scaler.Options{})}}, 1},
		{"compare", []Contender{
			{PolicyName: "head", Policy: p, Controller: NewHeadroom(scaler.Options{})},
			{PolicyName: "base", Policy: p, Controller: NewHeadroom(scaler.Options{})},
			{PolicyName: "base", Policy: p, Controller: NewHPACA(HPAOptions{})},
		}, 4},
	} {
		b.Run(c.name, func(b *testing.B) {
			cpu0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				if _, err := Compare(context.Background(), CompareOptions{Contenders: c.cs, Workload: wl, Seed: 1, Mode: ModeFlow, NoBound: c.runs == len(c.cs)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op-wall")
			if cpu := cpuSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(days*float64(c.runs*b.N)/cpu, "sim-days/cpu-s")
			}
		})
	}
}
