package sandbox

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/headroom-dev/headroom/simulations/trace"
)

// ReplayOptions choose the load of Replay.
type ReplayOptions struct {
	Trace    string
	Schedule ScheduleOptions
	// Class whose SLO the report measures (default: the first class).
	Class string
}

// ReplayReport is what a replay measured.
type ReplayReport struct {
	Class  string
	SLO    time.Duration
	Router SLOCount   // the router's own measurement over the replay
	Client LoadResult // the load generator's view
	Nodes  NodeReport
	Took   time.Duration
}

// Replay plays a trace against the sandbox's router, sampling the nodes
// every second, and reports the router-measured SLO attainment and the
// node-hours used.
func (s *Sandbox) Replay(ctx context.Context, o ReplayOptions) (ReplayReport, error) {
	if o.Class == "" && len(s.Policy.Classes) > 0 {
		o.Class = s.Policy.Classes[0].Name
	}
	c, ok := s.Policy.Class(o.Class)
	if !ok {
		return ReplayReport{}, fmt.Errorf("replay: no class %q in the policy", o.Class)
	}
	if o.Schedule.Class == "" {
		o.Schedule.Class = o.Class
	}
	tr, err := trace.ReadFile(o.Trace, trace.ReadOptions{})
	if err != nil {
		return ReplayReport{}, err
	}
	sends, err := Schedule(tr, o.Schedule)
	if err != nil {
		return ReplayReport{}, err
	}
	rep := ReplayReport{Class: o.Class, SLO: c.Spec.SLO.Latency.Duration}
	before, err := RouterSLO(ctx, s.RouterURL, o.Class, rep.SLO)
	if err != nil {
		return rep, err
	}
	meter := s.NewNodeMeter()
	mctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			_ = meter.Sample(mctx, time.Now())
			select {
			case <-mctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	last := 0.0
	if n := len(sends); n > 0 {
		last = sends[n-1].At.Seconds()
	}
	s.logf("sandbox: replaying %s: %d requests over %.0fs (speed-up %g, scale %g) to class %s",
		o.Trace, len(sends), last, o.Schedule.Speedup, o.Schedule.Scale, o.Class)
	rep.Client = Run(ctx, sends, LoadOptions{URL: s.RouterURL, SLO: rep.SLO}, start)
	rep.Took = time.Since(start)
	_ = meter.Sample(ctx, time.Now())
	stop()
	<-done
	after, err := RouterSLO(ctx, s.RouterURL, o.Class, rep.SLO)
	if err != nil {
		return rep, err
	}
	rep.Router = after.Sub(before)
	rep.Nodes = meter.Report()
	return rep, nil
}

// NewNodeMeter meters the sandbox's nodegroups at their catalog prices.
func (s *Sandbox) NewNodeMeter() *NodeMeter {
	price := map[string]float64{}
	for _, ng := range s.Policy.NodeGroups {
		if it, ok := s.Catalog.Instance(ng.Spec.InstanceType); ok {
			price[ng.Name] = it.OnDemandPrice
			if ng.Spec.CapacityType == "spot" {
				price[ng.Name] = it.SpotPrice
			}
		}
	}
	return &NodeMeter{Kube: s.Kube, Price: price}
}

// Print writes the report for a person.
func (r ReplayReport) Print(w io.Writer, promURL string) {
	fmt.Fprintf(w, "\nsandbox: replay done in %s\n", r.Took.Round(time.Second))
	fmt.Fprintf(w, "  router-measured SLO attainment (%s, p%s): %s of %.0f requests within %s\n",
		r.Class, "95", fmtPct(r.Router.Share()), r.Router.Total, r.SLO)
	fmt.Fprintf(w, "  load generator: %d sent, %d ok, %d refused (429/5xx), %d lost (no answer)\n",
		r.Client.Sent, r.Client.OK, r.Client.Refused, r.Client.Lost)
	fmt.Fprintf(w, "  node-hours: %.4f (at list prices $%.2f; wall-clock hours of the compressed replay)\n", r.Nodes.Hours, r.Nodes.Cost)
	for ng, p := range r.Nodes.Peak {
		fmt.Fprintf(w, "    %s: peak %d nodes, %.4f node-hours\n", ng, p, r.Nodes.ByGroup[ng])
	}
	fmt.Fprintf(w, "  Prometheus: %s/graph?g0.expr=sum+by+(class)+(rate(headroom_router_requests_total[30s]))\n", promURL)
	fmt.Fprintf(w, "  Grafana dashboards (import into a Grafana with this Prometheus as its data source): deploy/grafana/*.json\n")
}
