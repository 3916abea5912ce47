package simulations

import (
	"fmt"
	"time"
)

// WorldOptions are the physics of the simulated cluster and cloud: what the
// policy files do not say. Zero fields take the defaults below (see
// withDefaults); docs/simulations.md lists them with their reasons.
type WorldOptions struct {
	// ScrapeInterval is how often the metrics the controller reads are
	// refreshed; a request's effect is visible only after the next scrape.
	// Default 15s (the Prometheus default many clusters use).
	ScrapeInterval time.Duration
	// BootJitter is the sigma of the lognormal factor applied to a
	// nodegroup's BootTime for each node. Default 0.15 (a 5m boot is within
	// 3.9m..6.7m nine times in ten).
	BootJitter float64
	// ImagePull is the time to pull a reader image on a node that does not
	// have it yet. Default 30s; later pods of the class on that node start
	// at once.
	ImagePull time.Duration
	// LoadJitter is the sigma of the lognormal factor on a class's model
	// LoadTime, by where the model lives. Defaults: local 0.05, efs 0.2,
	// s3 0.35 (object-store throughput varies most).
	LoadJitterLocal, LoadJitterEFS, LoadJitterS3 float64
	// SpotInterruptionsPerHour is the rate of interruptions per spot node.
	// Default 0.02 (about one in three nodes a day); negative disables.
	SpotInterruptionsPerHour float64
	// SpotNotice is the warning before a spot node goes. Default 2m (AWS).
	SpotNotice time.Duration
	// SpotShortfall is the probability a spot launch finds no capacity;
	// it is retried after ShortfallRetry. Default 0.05; negative disables.
	SpotShortfall  float64
	ShortfallRetry time.Duration // default 2m
	// QueueTimeout is how long a request waits for a replica (in a
	// replica's queue or at the router when no replica is ready) before it
	// fails as a timeout. Default 30s.
	QueueTimeout time.Duration
	// MaxQueue is the most requests queued per replica beyond its
	// concurrency; more are dropped (HTTP 503). Default 256.
	MaxQueue int
	// RouterQueue is the most requests the router holds for a class with
	// no ready replica. Default 10000.
	RouterQueue int
}

func (o WorldOptions) withDefaults() WorldOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	deff := func(f *float64, v float64) {
		if *f == 0 {
			*f = v
		}
		if *f < 0 {
			*f = 0
		}
	}
	def(&o.ScrapeInterval, 15*time.Second)
	def(&o.ImagePull, 30*time.Second)
	def(&o.SpotNotice, 2*time.Minute)
	def(&o.ShortfallRetry, 2*time.Minute)
	def(&o.QueueTimeout, 30*time.Second)
	deff(&o.BootJitter, 0.15)
	deff(&o.LoadJitterLocal, 0.05)
	deff(&o.LoadJitterEFS, 0.2)
	deff(&o.LoadJitterS3, 0.35)
	deff(&o.SpotInterruptionsPerHour, 0.02)
	deff(&o.SpotShortfall, 0.05)
	if o.MaxQueue <= 0 {
		o.MaxQueue = 256
	}
	if o.RouterQueue <= 0 {
		o.RouterQueue = 10000
	}
	return o
}

// Mode is how requests are simulated.
type Mode string

const (
	// ModeRequest simulates every request: arrival, routing, queueing,
	// service, timeout. Exact, for per-request traces and moderate rates.
	ModeRequest Mode = "request"
	// ModeFlow simulates per time step and class with an M/G/c queueing
	// approximation and a fluid backlog, for high-rate aggregated traces.
	ModeFlow Mode = "flow"
)

// ParseMode reads a mode name; "" and "auto" return "".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "auto":
		return "", nil
	case string(ModeRequest), string(ModeFlow):
		return Mode(s), nil
	}
	return "", fmt.Errorf("unknown mode %q (want request, flow or auto)", s)
}
