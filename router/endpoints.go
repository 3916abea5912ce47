package router

import (
	"context"
	"fmt"
)

// EndpointSource reports the endpoints of each class version. The router
// starts from the config's static lists; a source that watches the cluster
// (Kubernetes EndpointSlices of each version's Service, ready addresses
// only) calls update whenever a version's ready set changes, until ctx ends.
//
// Error contract: Run returns nil when ctx ends, and an error only when the
// source cannot continue (the router then keeps the last endpoints it had).
// update is safe to call from any goroutine; it fails for a class or version
// the config does not name.
type EndpointSource interface {
	Run(ctx context.Context, update func(class, version string, addrs []string) error) error
}

// StaticEndpoints is the config's endpoint lists: it reports them once.
type StaticEndpoints struct{ Models []ModelConfig }

// Run reports every configured version's endpoints, then waits for ctx.
func (s StaticEndpoints) Run(ctx context.Context, update func(class, version string, addrs []string) error) error {
	for _, m := range s.Models {
		for _, v := range m.Versions {
			if err := update(m.Class, v.Name, v.Endpoints); err != nil {
				return err
			}
		}
	}
	<-ctx.Done()
	return nil
}

// SetEndpoints replaces one class version's endpoints; EndpointSource
// implementations call it (through Run's update).
func (r *Router) SetEndpoints(class, version string, addrs []string) error {
	cs := r.classes[class]
	if cs == nil {
		return fmt.Errorf("set endpoints: unknown class %q", class)
	}
	vs := cs.byName[version]
	if vs == nil {
		return fmt.Errorf("set endpoints: class %q has no version %q", class, version)
	}
	vs.pool.SetEndpoints(addrs)
	if r.cfg.HealthCheck.Interval == 0 {
		vs.ready.Set(float64(len(vs.pool.Endpoints())))
	}
	return nil
}
