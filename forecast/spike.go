package forecast

import (
	"fmt"
	"math"
	"time"
)

// Band is the forecast band load is expected to stay in.
type Band struct {
	Point, Upper float64
}

// SpikeOptions configures a SpikeDetector; the zero value is usable.
type SpikeOptions struct {
	// ShortWindow is the time constant of the fast average of the rate;
	// 0 means 10s.
	ShortWindow time.Duration
	// LongWindow is the time constant of the slow average, the reference
	// when no band is known; 0 means 5m.
	LongWindow time.Duration
	// Tolerance is the relative excess over the band's upper edge that is
	// still inside; 0 means 0.1.
	Tolerance float64
	// CUSUMThreshold: the detector also fires when the cumulative relative
	// excess over the band, in short windows, reaches this (a CUSUM, Page
	// 1954: S = max(0, S + (x/upper - 1 - tolerance) * dt/short)). 0 means 1:
	// twice the band for one short window, or 20% over for about ten.
	CUSUMThreshold float64
	// Ratio: with no band (Upper <= 0), the detector fires when the short
	// average exceeds Ratio times the long one; 0 means 2.
	Ratio float64
}

func (o SpikeOptions) withDefaults() SpikeOptions {
	if o.ShortWindow <= 0 {
		o.ShortWindow = 10 * time.Second
	}
	if o.LongWindow <= 0 {
		o.LongWindow = 5 * time.Minute
	}
	if o.Tolerance <= 0 {
		o.Tolerance = 0.1
	}
	if o.CUSUMThreshold <= 0 {
		o.CUSUMThreshold = 1
	}
	if o.Ratio <= 0 {
		o.Ratio = 2
	}
	return o
}

// SpikeResult says whether load has left the forecast band, and why.
type SpikeResult struct {
	Spike  bool    `json:"spike"`
	Reason string  `json:"reason"`
	Short  float64 `json:"short"` // fast average of the rate
	Long   float64 `json:"long"`  // slow average of the rate
	CUSUM  float64 `json:"cusum"`
}

// SpikeDetector watches raw rate samples (every few seconds) against the
// forecast band, for the controller's fast path. It is not safe for
// concurrent use.
type SpikeDetector struct {
	opts        SpikeOptions
	short, long float64
	cusum       float64
	lastT       time.Time
	started     bool
	spike       bool
}

// NewSpikeDetector returns a detector with the given options.
func NewSpikeDetector(opts SpikeOptions) *SpikeDetector {
	return &SpikeDetector{opts: opts.withDefaults()}
}

// Observe feeds one rate sample taken at t and compares it with band. The
// averages are exponential with time constants ShortWindow and LongWindow,
// weighted by the time since the previous sample, so irregular sampling
// is handled. A spike stays on until the short average is back inside the
// band (hysteresis). Unusable rates and samples out of time order are
// ignored and reported as such.
func (d *SpikeDetector) Observe(t time.Time, rate float64, band Band) SpikeResult {
	if !usable(rate) {
		return d.result(fmt.Sprintf("ignored unusable rate %g", rate))
	}
	if !d.started {
		d.short, d.long, d.lastT, d.started = rate, rate, t, true
	} else {
		dt := t.Sub(d.lastT)
		if dt < 0 {
			return d.result("ignored sample older than the previous one")
		}
		d.lastT = t
		as := 1 - math.Exp(-float64(dt)/float64(d.opts.ShortWindow))
		al := 1 - math.Exp(-float64(dt)/float64(d.opts.LongWindow))
		d.short += as * (rate - d.short)
		d.long += al * (rate - d.long)
		if band.Upper > 0 {
			x := rate/band.Upper - 1 - d.opts.Tolerance
			d.cusum = math.Max(0, d.cusum+x*float64(dt)/float64(d.opts.ShortWindow))
		}
	}
	upper := band.Upper * (1 + d.opts.Tolerance)
	if band.Upper > 0 && rate <= band.Upper && d.short <= band.Upper {
		d.cusum = 0 // both the sample and the average are back inside
	}
	switch {
	case band.Upper > 0 && d.short > upper:
		d.spike = true
		return d.result(fmt.Sprintf("short-window rate %.4g is above the band's upper edge %.4g (+%.0f%% tolerance)", d.short, band.Upper, 100*d.opts.Tolerance))
	case band.Upper > 0 && d.cusum >= d.opts.CUSUMThreshold:
		d.spike = true
		return d.result(fmt.Sprintf("cumulative excess over the band %.3g reached the threshold %.3g", d.cusum, d.opts.CUSUMThreshold))
	case band.Upper <= 0 && d.short > d.opts.Ratio*d.long && d.short > 0:
		d.spike = true
		return d.result(fmt.Sprintf("no band: short-window rate %.4g is over %g times the long-window rate %.4g", d.short, d.opts.Ratio, d.long))
	case d.spike && band.Upper > 0 && d.short > band.Upper:
		return d.result(fmt.Sprintf("still above the band: short-window rate %.4g > upper %.4g", d.short, band.Upper))
	}
	d.spike = false
	return d.result("inside the band")
}

func (d *SpikeDetector) result(reason string) SpikeResult {
	return SpikeResult{Spike: d.spike, Reason: reason, Short: d.short, Long: d.long, CUSUM: d.cusum}
}
