package simulations

import (
	"context"
	"time"

	"github.com/headroom-dev/headroom/scaler"
)

// NewHeadroom returns the factory of headroom's own controller: the real
// scaler core (scaler.New, (*Controller).Tick), not a copy of it, driven
// on the virtual clock through the world's Metrics, Cluster and Cloud.
// Logging is a no-op and no Prometheus registry is used. A Forecaster set
// in opts is one object every run of the factory shares (Compare runs
// contenders at once): leave it nil, or give each contender its own.
func NewHeadroom(opts scaler.Options) ControllerFactory {
	return func(env Env) (Controller, error) {
		opts := opts // a factory may serve runs going at once
		if opts.Catalog == nil {
			opts.Catalog = env.Catalog
		}
		c, err := scaler.New(opts, env.Policy, env.Metrics, env.Cluster, env.Cloud, nil, nil)
		if err != nil {
			return nil, err
		}
		return &headroomCtrl{c: c, interval: c.Interval(), bands: map[string][2]float64{}}, nil
	}
}

type headroomCtrl struct {
	c        *scaler.Controller
	interval time.Duration
	bands    map[string][2]float64
	// Failed counts actions the world refused; NotDone what a tick could
	// not do, for the report.
	failed int
}

func (h *headroomCtrl) Name() string            { return "headroom" }
func (h *headroomCtrl) Interval() time.Duration { return h.interval }

func (h *headroomCtrl) Tick(ctx context.Context, now time.Time) error {
	d, err := h.c.Tick(ctx, now)
	for _, cd := range d.Classes {
		if cd.DataOK {
			h.bands[cd.Class] = [2]float64{cd.Forecast, cd.ForecastUp}
		}
	}
	h.failed += d.Count("", scaler.StatusFailed)
	return err
}

// Band is the forecast (point and upper quantile) of the last tick.
func (h *headroomCtrl) Band(class string) (lo, hi float64, ok bool) {
	b, ok := h.bands[class]
	return b[0], b[1], ok
}
