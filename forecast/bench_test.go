package forecast

import (
	"strconv"
	"syscall"
	"testing"
	"time"
)

// benchSeries returns k synthetic series of 14 days at 1-minute steps
// (20,160 points), with varied shapes.
func benchSeries(k int) []Series {
	out := make([]Series, k)
	for i := range out {
		out[i] = Synthetic(SyntheticOptions{
			Step: time.Minute, Len: 14 * 1440, Base: 10 + float64(i%50),
			Daily: 0.2 + 0.1*float64(i%6), Weekly: 0.1 * float64(i%4), Trend: 0.002 * float64(i%3),
			Noise: 0.03 + 0.01*float64(i%5), Seed: uint64(i),
		})
	}
	return out
}

// BenchmarkSelectMany fits and chooses the method for series of 14 days at
// 1-minute steps on all cores, the "1,000 series in under 5 s".
// It reports seconds per 1,000 series.
func BenchmarkSelectMany(b *testing.B) {
	for _, k := range []int{10, 100, 1000} {
		b.Run(itoa(k)+"series", func(b *testing.B) {
			ss := benchSeries(k)
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for b.Loop() {
				SelectMany(ss, SelectOptions{Horizon: 15 * time.Minute}, 0)
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(sec*1000/float64(k), "s/1000series")
			// CPU seconds too: on a shared machine the wall time depends on
			// the neighbours; CPU time / cores is the uncontended wall time.
			b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N)*1000/float64(k), "cpu-s/1000series")
		})
	}
}

// BenchmarkSelect is one series, one core, by history length.
func BenchmarkSelect(b *testing.B) {
	for _, days := range []int{1, 3, 14} {
		b.Run(itoa(days)+"d", func(b *testing.B) {
			s := benchSeries(1)[0]
			s.Values = s.Values[:days*1440]
			for b.Loop() {
				Select(s, SelectOptions{Horizon: 15 * time.Minute})
			}
			b.ReportMetric(float64(len(s.Values))*float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkOnlineUpdate is one control tick of one series in steady state:
// an Observe and a Predict with the chosen method already live (the
// periodic re-choice is BenchmarkOnlineReselect).
func BenchmarkOnlineUpdate(b *testing.B) {
	s := benchSeries(1)[0]
	on := NewOnline(Options{Step: time.Minute, ReselectEvery: 1000 * time.Hour})
	for i, v := range s.Values {
		on.Observe(t0.Add(time.Duration(i)*time.Minute), v)
	}
	now := t0.Add(time.Duration(len(s.Values)-1) * time.Minute)
	on.Predict(now, 15*time.Minute, 0.95)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		now = now.Add(time.Minute)
		on.Observe(now, s.Values[i%len(s.Values)])
		on.Predict(now, 15*time.Minute, 0.95)
		i++
	}
}

// BenchmarkOnlineReselect is the periodic re-choice of one series with 14
// days of history (every Options.ReselectEvery, 1 h by default).
func BenchmarkOnlineReselect(b *testing.B) {
	s := benchSeries(1)[0]
	on := NewOnline(Options{Step: time.Minute})
	for i, v := range s.Values {
		on.Observe(t0.Add(time.Duration(i)*time.Minute), v)
	}
	now := t0.Add(time.Duration(len(s.Values)-1) * time.Minute)
	for b.Loop() {
		now = now.Add(time.Hour)
		on.Predict(now, 15*time.Minute, 0.95)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// cpuSeconds is the user+system CPU time of this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
