package binpack

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time: on a shared machine it
// says more about the solver than wall time does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchSizes are the generated instances of the goals: 5 to 2,000
// classes over A100/H100/H200 nodegroups. Seeds are fixed.
var benchSizes = []GenerateSpec{
	{Classes: 5, GPUs: 200, Seed: 1},
	{Classes: 5, GPUs: 1000, Seed: 1},
	{Classes: 20, GPUs: 300, Seed: 1},
	{Classes: 50, GPUs: 400, Seed: 1},
	{Classes: 200, GPUs: 1000, Seed: 1},
	{Classes: 2000, GPUs: 10000, Seed: 1},
}

// BenchmarkSolve reports, besides time and allocations per plan, the plan's
// gap to the lower bound (gap%), its GPUs, and how much cheaper it is than
// the first-fit-decreasing baseline (vs-ffd%).
func BenchmarkSolve(b *testing.B) {
	for _, spec := range benchSizes {
		b.Run(fmt.Sprintf("classes=%d/gpus=%d", spec.Classes, spec.GPUs), func(b *testing.B) {
			p := Generate(spec)
			ffd, err := SolveFFD(p)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			var plan *Plan
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if plan, err = Solve(p); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(plan.Gap*100, "gap%")
			b.ReportMetric(float64(plan.GPUs), "GPUs")
			b.ReportMetric(plan.CostPerHour, "$/h")
			b.ReportMetric((ffd.CostPerHour-plan.CostPerHour)/ffd.CostPerHour*100, "vs-ffd%")
			b.ReportMetric((ffd.CostPerHour-plan.LowerBound)/plan.LowerBound*100, "ffd-gap%")
		})
	}
}

// BenchmarkFFD times the baseline alone.
func BenchmarkFFD(b *testing.B) {
	for _, spec := range benchSizes {
		b.Run(fmt.Sprintf("classes=%d/gpus=%d", spec.Classes, spec.GPUs), func(b *testing.B) {
			p := Generate(spec)
			b.ReportAllocs()
			var plan *Plan
			for i := 0; i < b.N; i++ {
				plan, _ = SolveFFD(p)
			}
			b.ReportMetric(float64(plan.GPUs), "GPUs")
			b.ReportMetric(plan.CostPerHour, "$/h")
		})
	}
}

// BenchmarkReplanUnchanged times the controller's steady state: a re-plan
// from the previous plan with the same demand (it must change nothing).
func BenchmarkReplanUnchanged(b *testing.B) {
	p := Generate(GenerateSpec{Classes: 200, GPUs: 1000, Seed: 1})
	first, err := Solve(p)
	if err != nil {
		b.Fatal(err)
	}
	q := *p
	q.Current = &State{Nodes: first.Nodes}
	b.ReportAllocs()
	b.ResetTimer()
	var plan *Plan
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		plan, _ = Solve(&q)
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(plan.Changes.ReplicasMoved+len(plan.Changes.LayoutsChanged)), "changes")
}

// BenchmarkReplanChanged is a re-plan after 10% more demand on a tenth of
// the classes: the keep-what-runs plan competes with the fresh one.
func BenchmarkReplanChanged(b *testing.B) {
	p := Generate(GenerateSpec{Classes: 200, GPUs: 1000, Seed: 1})
	first, err := Solve(p)
	if err != nil {
		b.Fatal(err)
	}
	q := *p
	q.Classes = append([]Class(nil), p.Classes...)
	for i := 0; i < len(q.Classes); i += 10 {
		q.Classes[i].Rate *= 1.1
	}
	q.Current = &State{Nodes: first.Nodes}
	b.ReportAllocs()
	b.ResetTimer()
	var plan *Plan
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		plan, _ = Solve(&q)
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(plan.Changes.ReplicasMoved), "moved")
	b.ReportMetric(float64(len(plan.Changes.LayoutsChanged)), "repartitions")
	b.ReportMetric(plan.Gap*100, "gap%")
}

// BenchmarkBound times the lower bound alone (column generation).
func BenchmarkBound(b *testing.B) {
	for _, spec := range []GenerateSpec{{Classes: 200, GPUs: 1000, Seed: 1}, {Classes: 2000, GPUs: 10000, Seed: 1}} {
		b.Run(fmt.Sprintf("classes=%d", spec.Classes), func(b *testing.B) {
			p := Generate(spec)
			m, err := compile(p)
			if err != nil {
				b.Fatal(err)
			}
			opts := p.Options.withDefaults()
			ffd := m.solveWith("ffd", m.listCost, nil, packFFD, opts, false)
			target := m.cost(ffd)
			b.ResetTimer()
			var br boundResult
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				br = m.bound(target, opts, nil)
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(br.iters), "rounds")
			b.ReportMetric(float64(br.pivots), "pivots")
			b.ReportMetric(br.value, "bound$/h")
		})
	}
}

// BenchmarkSolveMIG solves the six MIG scenarios of testdata/mig (11
// models on A100-80GB) per 8-GPU p4de node and per GPU, and reports the
// gap to the integer-aware bound (gap%) and to the LP bound alone
// (lp-gap%), what the plans reported before the bound knew that nodes and
// replicas come whole.
func BenchmarkSolveMIG(b *testing.B) {
	for _, perGPU := range []bool{false, true} {
		for i, p := range migScenarios(b, perGPU) {
			unit := "node"
			if perGPU {
				unit = "gpu"
			}
			b.Run(fmt.Sprintf("scenario=%d/per=%s", i+1, unit), func(b *testing.B) {
				var plan *Plan
				var err error
				cpu0 := cpuTime()
				for range b.N {
					if plan, err = Solve(p); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
				m, _ := compile(p)
				lp := m.bound(plan.CostPerHour, p.Options.withDefaults(), nil).value
				b.ReportMetric(plan.Gap*100, "gap%")
				b.ReportMetric((plan.CostPerHour-lp)/lp*100, "lp-gap%")
				b.ReportMetric(float64(plan.GPUs), "GPUs")
				b.ReportMetric(plan.CostPerHour, "$/h")
			})
		}
	}
}
