package scaler

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/forecast"
)

// Options configure a Controller. Zero fields take the defaults of
// withDefaults, in this one place.
type Options struct {
	// Interval is the control interval the Loop ticks at (default 15s).
	Interval time.Duration
	// Staleness is how old a class's newest sample may be before its data
	// counts as missing (default 90s).
	Staleness time.Duration
	// MaxActionsPerTick bounds the writes of one tick (default 40);
	// actions beyond it wait for the next tick, capacity first.
	MaxActionsPerTick int
	// DryRun plans and reports without acting (also set by the policy's
	// cluster spec).
	DryRun bool
	// Forecaster and Packer are the seams to the forecast and binpack
	// packages; nil takes the forecast package's online forecaster (one per
	// class, step = Interval) calibrated on its own residuals (Calibrated)
	// and the built-in Greedy packer.
	Forecaster Forecaster
	Packer     Packer
	// Catalog is the GPU and instance catalog; nil takes catalog.Default().
	Catalog *catalog.Catalog
	// Correction tunes the online latency correction; zero takes
	// DefaultCorrection.
	Correction Correction
	Vertical   VerticalOptions
	// GPUMemoryMargin is added to the observed p99 GPU memory before
	// right-sizing (default 0.1).
	GPUMemoryMargin float64
	// VerticalMinChange is the relative change of a vertical
	// recommendation below which it is not re-applied (default 0.1).
	VerticalMinChange float64
	// BackoffBase and BackoffMax bound the retry delay after a failed
	// write (defaults 15s and 5m); the delay doubles per failure.
	BackoffBase, BackoffMax time.Duration
	// DrainLead is how long before a spot termination the node is drained
	// even if its replacement is not ready yet (default 90s).
	DrainLead time.Duration
	// ConsolidationCandidates caps the nodes checked for consolidation per
	// tick (default 3), each a full re-pack.
	ConsolidationCandidates int
	// ConsolidationPayback is the window a consolidation's savings must
	// pay back the moved replicas' warm-up within (default 1h).
	ConsolidationPayback time.Duration
	// MIGTimeout is how long a re-partition may take before it is reported
	// as stuck (default 15m).
	MIGTimeout time.Duration
}

func (o Options) withDefaults() Options {
	dur := func(p *time.Duration, d time.Duration) {
		if *p <= 0 {
			*p = d
		}
	}
	dur(&o.Interval, 15*time.Second)
	dur(&o.Staleness, 90*time.Second)
	dur(&o.BackoffBase, 15*time.Second)
	dur(&o.BackoffMax, 5*time.Minute)
	dur(&o.DrainLead, 90*time.Second)
	dur(&o.ConsolidationPayback, time.Hour)
	dur(&o.MIGTimeout, 15*time.Minute)
	if o.MaxActionsPerTick <= 0 {
		o.MaxActionsPerTick = 40
	}
	if o.ConsolidationCandidates <= 0 {
		o.ConsolidationCandidates = 3
	}
	if !(o.GPUMemoryMargin > 0) {
		o.GPUMemoryMargin = 0.1
	}
	if !(o.VerticalMinChange > 0) {
		o.VerticalMinChange = 0.1
	}
	if o.Correction == (Correction{}) {
		o.Correction = DefaultCorrection
	}
	if o.Catalog == nil {
		o.Catalog = catalog.Default()
	}
	if o.Forecaster == nil {
		o.Forecaster = NewCalibrated(NewOnline(forecast.Options{Step: o.Interval}))
	}
	switch p := o.Packer.(type) {
	case nil:
		o.Packer = Greedy{Catalog: o.Catalog}
	case Greedy: // the policy's catalog, unless one is given
		if p.Catalog == nil {
			p.Catalog = o.Catalog
			o.Packer = p
		}
	case Binpack:
		if p.Catalog == nil {
			p.Catalog = o.Catalog
			o.Packer = p
		}
	}
	return o
}

// Packers are the packers a flag or a file can name, the default first.
var Packers = []string{"greedy", "binpack"}

// PackerNamed is the packer of that name ("" is the default, nil).
func PackerNamed(name string) (Packer, error) {
	switch name {
	case "":
		return nil, nil
	case "greedy":
		return Greedy{}, nil
	case "binpack":
		return Binpack{}, nil
	}
	return nil, fmt.Errorf("packer %q: want %s", name, strings.Join(Packers, " or "))
}

func (o Options) validate() error {
	var errs []error
	if o.Correction.Gain <= 0 || o.Correction.MaxStep < 1 || o.Correction.Min <= 0 || o.Correction.Max < o.Correction.Min {
		errs = append(errs, errors.New("correction: gain must be positive, maxStep >= 1, 0 < min <= max"))
	}
	if o.BackoffMax < o.BackoffBase {
		errs = append(errs, errors.New("backoffMax must be >= backoffBase"))
	}
	return errors.Join(errs...)
}
