package emulator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// z95 is the standard normal's 95th percentile.
const z95 = 1.6448536269514722

// LogNormal is a log-normal service-time distribution: ln X ~ N(Mu, Sigma^2),
// X in seconds.
type LogNormal struct {
	Mu, Sigma float64
}

// FitLogNormal returns the log-normal with the given mean and 95th
// percentile. With m = exp(mu + s^2/2) and q = exp(mu + z s):
//
//	ln q - ln m = z s - s^2/2  =>  s = z - sqrt(z^2 - 2 ln(q/m)),  mu = ln m - s^2/2
//
// (the smaller root; the larger one gives a distribution whose median
// falls far below its mean). A solution exists for m <= q <= m exp(z^2/2),
// i.e. p95 up to about 3.87 x the mean. Example: mean 38 ms, p95 70 ms gives
// s = 0.427, mu = -3.361 (median 34.7 ms).
func FitLogNormal(mean, p95 time.Duration) (LogNormal, error) {
	m, q := mean.Seconds(), p95.Seconds()
	if m <= 0 {
		return LogNormal{}, fmt.Errorf("mean service time must be positive, got %v", mean)
	}
	if q < m {
		return LogNormal{}, fmt.Errorf("p95 %v is below the mean %v: not a log-normal", p95, mean)
	}
	d := z95*z95 - 2*math.Log(q/m)
	if d < 0 {
		return LogNormal{}, fmt.Errorf("p95 %v is more than %.2f x the mean %v: no log-normal fits", p95, math.Exp(z95*z95/2), mean)
	}
	s := z95 - math.Sqrt(d)
	return LogNormal{Mu: math.Log(m) - s*s/2, Sigma: s}, nil
}

// Mean returns the distribution's mean.
func (l LogNormal) Mean() time.Duration {
	return seconds(math.Exp(l.Mu + l.Sigma*l.Sigma/2))
}

// Quantile returns the p-quantile for p in (0, 1).
func (l LogNormal) Quantile(p float64) time.Duration {
	// Φ^-1(p) = -sqrt(2) erfcinv(2p)
	z := -math.Sqrt2 * math.Erfcinv(2*p)
	return seconds(math.Exp(l.Mu + l.Sigma*z))
}

// Sample draws one service time.
func (l LogNormal) Sample(r *rand.Rand) time.Duration {
	return seconds(math.Exp(l.Mu + l.Sigma*r.NormFloat64()))
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
