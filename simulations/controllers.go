package simulations

import (
	"context"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
)

// Controller is what a run drives on the virtual clock: headroom's scaler
// core or a baseline. It acts on the world only through the Env's
// Metrics, Cluster and Cloud, as it would on a real cluster.
type Controller interface {
	// Name labels the run in reports ("headroom", "hpa-ca", ...).
	Name() string
	// Interval is how often Tick is called.
	Interval() time.Duration
	// Tick observes and acts once at now. An error is counted and the run
	// goes on (the next tick retries), as in the cluster.
	Tick(ctx context.Context, now time.Time) error
}

// Bander is implemented by controllers that forecast; the report charts
// the band per class (requests/s).
type Bander interface {
	Band(class string) (lo, hi float64, ok bool)
}

// Initializer is implemented by controllers that choose the replicas the
// run starts with; others start from the sizing of the first minutes of
// the trace (see Run).
type Initializer interface {
	InitialReplicas(class string) int
}

// Env is what a controller factory gets: the world's boundary, the policy
// and catalog, and (for the clairvoyant bound only) the workload.
type Env struct {
	Metrics  scaler.Metrics
	Cluster  scaler.Cluster
	Cloud    scaler.Cloud
	Policy   *policies.Policy
	Catalog  *catalog.Catalog
	Start    time.Time
	Workload *Workload
	// Scrape is the metrics scrape interval of the world.
	Scrape time.Duration
	// NodeTemplates are the GPU instances of a new node per nodegroup (its
	// default MIG layout), as the Cluster Autoscaler reads node templates.
	NodeTemplates map[string][]SlotTemplate
}

func (e Env) templates() map[string][]SlotTemplate { return e.NodeTemplates }

// ControllerFactory builds a controller for one run.
type ControllerFactory func(env Env) (Controller, error)
