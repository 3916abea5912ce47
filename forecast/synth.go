package forecast

import (
	"math"
	"math/rand/v2"
	"time"
)

// SyntheticOptions describes a generated rate series with known shape. It
// is for tests, benchmarks and the documented figures, which need series
// whose period, trend and noise are known.
type SyntheticOptions struct {
	Start time.Time
	Step  time.Duration
	Len   int     // number of steps
	Base  float64 // mean rate, requests per second
	// Daily and Weekly are the relative amplitudes of the daily cycle (peak
	// in the afternoon, a second harmonic for a lunch dip) and of the
	// weekend dip (0 for none).
	Daily, Weekly float64
	// Trend is the relative growth per day (0.01 = 1% a day).
	Trend float64
	// Noise is the relative standard deviation of multiplicative noise; on
	// top, the count noise of a Poisson process at this rate and step.
	Noise float64
	Seed  uint64
}

// Synthetic generates a rate series; the same options give the same series.
func Synthetic(o SyntheticOptions) Series {
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	v := make([]float64, o.Len)
	day := 24 * time.Hour
	sec := o.Step.Seconds()
	for i := range v {
		t := time.Duration(i) * o.Step
		d := float64(t%day) / float64(day) // phase in the day, 0..1
		w := float64(t%(7*day)) / float64(day)
		r := o.Base * (1 + o.Trend*float64(t)/float64(day))
		r *= 1 + o.Daily*(-math.Cos(2*math.Pi*(d-0.1))*0.8+0.2*math.Sin(4*math.Pi*d))
		if w >= 5 { // days 5 and 6 of each week are the weekend
			r *= 1 - o.Weekly*math.Sin(math.Pi*(w-5)/2)
		}
		r *= 1 + o.Noise*rng.NormFloat64()
		if r < 0 {
			r = 0
		}
		// Poisson count noise, normal approximation: sd of the rate is
		// sqrt(rate/step).
		r += math.Sqrt(r/sec) * rng.NormFloat64()
		v[i] = math.Max(r, 0)
	}
	return Series{Start: o.Start, Step: o.Step, Values: v}
}
