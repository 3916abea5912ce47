package simulations

import (
	"context"
	"fmt"
	"maps"
	"math"
	"sort"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/scaler"
)

// The world seen through the controller's boundary: simMetrics, simCluster
// and simCloud implement scaler.Metrics, scaler.Cluster and scaler.Cloud,
// so the real scaler core (and the baselines) drive the simulation through
// exactly the calls they make in a cluster.

type simMetrics struct{ w *World }
type simCluster struct{ w *World }
type simCloud struct{ w *World }

var (
	_ scaler.Metrics = simMetrics{}
	_ scaler.Cluster = simCluster{}
	_ scaler.Cloud   = simCloud{}
)

// ClassStats answers from scraped data only: the scrape intervals that
// ended in (now-window, now]. A window shorter than the scrape interval
// gets the newest interval (Prometheus would have nothing finer).
func (m simMetrics) ClassStats(_ context.Context, now time.Time, window time.Duration) ([]scaler.ClassStats, error) {
	w := m.w
	t := w.off(now)
	var out []scaler.ClassStats
	for c := range w.classes {
		var arr, done, errs, inflight float64
		var at int64
		h := &w.stats.scratch
		h.reset()
		n := w.stats.recs(c, t, int64(window), func(r *scrapeRec) {
			arr += r.arrivals
			done += r.completed
			errs += r.errors
			inflight += r.inflight
			h.merge(&r.lat)
			at = max(at, r.at)
		})
		if n == 0 {
			continue
		}
		secs := float64(n) * w.opt.ScrapeInterval.Seconds()
		st := scaler.ClassStats{Class: w.classes[c].name, At: w.at(at), Rate: arr / secs, InFlight: inflight / float64(n)}
		if done > 0 {
			st.P50, st.P95, st.P99 = h.quantile(0.5), h.quantile(0.95), h.quantile(0.99)
		}
		if done+errs > 0 {
			st.ErrorRate = errs / (done + errs)
		}
		out = append(out, st)
	}
	return out, nil
}

func (m simMetrics) GPUMemory(_ context.Context, _ time.Time) ([]scaler.GPUMemory, error) {
	w := m.w
	var out []scaler.GPUMemory
	for i := range w.pods {
		p := &w.pods[i]
		if p.phase != podReady && p.phase != podLoading {
			continue
		}
		n := &w.nodes[p.node]
		s := n.slots[p.slot]
		used := w.classes[p.class].memMiB
		out = append(out, scaler.GPUMemory{Node: n.name, Pod: p.name, Class: w.classes[p.class].name,
			Profile: s.profile, UsedMiB: used, FreeMiB: math.Max(s.usable-used, 0)})
	}
	return out, nil
}

func (m simMetrics) PodUsage(_ context.Context, _ time.Time) ([]scaler.PodUsage, error) {
	w := m.w
	var out []scaler.PodUsage
	for i := range w.pods {
		p := &w.pods[i]
		if p.phase != podReady {
			continue
		}
		spec := &w.classes[p.class].spec.Spec
		cpu := spec.Resources.CPU.AsApproximateFloat64()
		mem := spec.Resources.Memory.AsApproximateFloat64()
		util := 0.2 + 0.8*float64(p.busy)/float64(max(p.conc, 1))
		out = append(out, scaler.PodUsage{Pod: p.name, Class: w.classes[p.class].name, CPUCores: cpu * util, MemoryBytes: mem * 0.8})
	}
	return out, nil
}

// Snapshot lists live nodes and pods.
func (c simCluster) Snapshot(_ context.Context) (scaler.ClusterState, error) {
	w := c.w
	st := scaler.ClusterState{MIGConfigs: maps.Clone(w.published)}
	for i := range w.nodes {
		n := &w.nodes[i]
		if n.state == nodeGone {
			continue
		}
		ng := &w.ngs[n.ng]
		st.Nodes = append(st.Nodes, scaler.Node{Name: n.name, NodeGroup: ng.name, InstanceType: ng.inst.Name,
			CapacityType: ng.capacity, Ready: n.state == nodeReady, Cordoned: n.cordoned,
			MIGConfig: n.migConfig, MIGState: n.migState, Created: w.at(n.launched)})
	}
	for i := range w.pods {
		p := &w.pods[i]
		if p.phase == podGone || p.phase == podTerminating {
			continue
		}
		sp := scaler.Pod{Name: p.name, Class: w.classes[p.class].name, Started: w.at(p.created)}
		switch p.phase {
		case podPending:
			sp.Phase = scaler.PodPending
		case podLoading:
			sp.Phase = scaler.PodLoading
		default:
			sp.Phase = scaler.PodReady
		}
		if p.node >= 0 && p.slot >= 0 {
			sp.Node = w.nodes[p.node].name
			sp.Profile = w.nodes[p.node].slots[p.slot].profile
		}
		st.Pods = append(st.Pods, sp)
	}
	return st, nil
}

func (c simCluster) class(name string) (int, error) {
	for i := range c.w.classes {
		if c.w.classes[i].name == name {
			return i, nil
		}
	}
	return -1, fmt.Errorf("class %q: %w", name, scaler.ErrNotFound)
}

func (c simCluster) node(name string) (int32, error) {
	for i := range c.w.nodes {
		if c.w.nodes[i].name == name && c.w.nodes[i].state != nodeGone {
			return int32(i), nil
		}
	}
	return -1, fmt.Errorf("node %q: %w", name, scaler.ErrNotFound)
}

func (c simCluster) ScaleClass(_ context.Context, class string, replicas int) error {
	i, err := c.class(class)
	if err != nil {
		return err
	}
	if replicas < 0 {
		return fmt.Errorf("scaling %s to %d replicas: negative", class, replicas)
	}
	c.w.classes[i].replicas = replicas
	c.w.reconcileClass(i)
	return nil
}

func (c simCluster) SetResources(_ context.Context, class string, rec scaler.Resources) error {
	if _, err := c.class(class); err != nil {
		return err
	}
	c.w.resources[class] = Resources{CPUCores: rec.CPUCores, MemoryBytes: rec.MemoryBytes}
	return nil
}

func (c simCluster) Cordon(_ context.Context, node string, cordon bool) error {
	i, err := c.node(node)
	if err != nil {
		return err
	}
	c.w.nodes[i].cordoned = cordon
	if !cordon {
		c.w.dirty = true
	}
	return nil
}

// Drain cordons the node and evicts its reader pods gracefully, one class
// budget at a time: an eviction that would leave a class with more
// unavailable replicas than its disruption budget (maxUnavailable, like a
// PodDisruptionBudget) is refused with ErrBlocked; the others proceed.
func (c simCluster) Drain(_ context.Context, node string) error {
	w := c.w
	i, err := c.node(node)
	if err != nil {
		return err
	}
	n := &w.nodes[i]
	n.cordoned = true
	blocked := 0
	evicted := 0
	for si := range n.slots {
		pi := n.slots[si].pod
		if pi < 0 {
			continue
		}
		p := &w.pods[pi]
		if p.phase == podTerminating {
			continue
		}
		cl := &w.classes[p.class]
		allowed := w.disruptionAllowed(p.class)
		unavailable := cl.replicas - len(w.ready[p.class])
		if p.phase == podReady && unavailable+1 > allowed {
			blocked++
			continue
		}
		w.stopPod(pi)
		w.evictions++
		evicted++
		w.reconcileClass(p.class)
	}
	if evicted > 0 {
		w.drains++
	}
	if blocked > 0 {
		return fmt.Errorf("draining %s: %d pods: %w", node, blocked, scaler.ErrBlocked)
	}
	return nil
}

// disruptionAllowed is how many of class c's replicas may be unavailable:
// the class's maxUnavailable (policies.ModelClass.MaxUnavailable), as the
// PodDisruptionBudget headroom renders for it would allow.
func (w *World) disruptionAllowed(c int) int {
	return w.classes[c].spec.MaxUnavailable(w.classes[c].replicas)
}

func (c simCluster) SetMIGConfig(_ context.Context, node string, cfg catalog.MIGConfig) error {
	i, err := c.node(node)
	if err != nil {
		return err
	}
	return c.w.setMIG(i, cfg)
}

// SetProfile is not modelled: a simulated class keeps the profiles its
// policy lists, and pods take the first that fits.
func (c simCluster) SetProfile(_ context.Context, class, profile string) error {
	return fmt.Errorf("simulated cluster: moving class %s to profile %s is not modelled", class, profile)
}

func (c simCloud) NodeGroups(_ context.Context) ([]scaler.NodeGroupState, error) {
	w := c.w
	out := make([]scaler.NodeGroupState, 0, len(w.ngs))
	for g := range w.ngs {
		ng := &w.ngs[g]
		out = append(out, scaler.NodeGroupState{Name: ng.name, Desired: ng.desired, Current: len(w.liveNodes(g)), Min: ng.min, Max: ng.max})
	}
	return out, nil
}

func (c simCloud) SetDesiredSize(_ context.Context, nodegroup string, size int) error {
	w := c.w
	for g := range w.ngs {
		ng := &w.ngs[g]
		if ng.name != nodegroup {
			continue
		}
		if size < ng.min || (ng.max > 0 && size > ng.max) {
			return fmt.Errorf("nodegroup %s: desired size %d outside [%d, %d]", nodegroup, size, ng.min, ng.max)
		}
		ng.desired = size
		w.reconcileNodeGroup(g, false)
		return nil
	}
	return fmt.Errorf("nodegroup %q: %w", nodegroup, scaler.ErrNotFound)
}

func (c simCloud) Interruptions(_ context.Context, now time.Time) ([]scaler.Interruption, error) {
	w := c.w
	var out []scaler.Interruption
	for i := range w.nodes {
		n := &w.nodes[i]
		if n.state != nodeGone && n.noticed {
			out = append(out, scaler.Interruption{Node: n.name, Terminates: w.at(n.interrupt)})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Node < out[b].Node })
	return out, nil
}
