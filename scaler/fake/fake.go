// Package fake holds recording fakes of the scaler's Metrics, Cluster and
// Cloud interfaces, with error injection, for tests. One World implements
// all three over plain, exported state that tests set and inspect; every
// call is recorded in order; FailNext makes the next call(s) of a method
// return an error (Karpenter's fake cloudprovider pattern).
//
// Writes change the state the way the real systems would, simply:
// ScaleClass sets the class's Deployment replicas, Cordon flips the node,
// Drain removes the node's pods (or fails with ErrBlocked when the node is
// listed in BlockDrain), SetMIGConfig sets the config and marks it applied
// (state "success") unless MIGPending is set, SetProfile moves the class's
// pods to the profile, SetDesiredSize and RemoveNode
// change the nodegroup. Pods are not created on scale-up: tests that want a
// moving world set Pods, or use Materialize.
package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/scaler"
)

// Call is one recorded call.
type Call struct {
	Method string
	Args   string
	Err    error
}

// World is a fake Metrics, Cluster, Cloud and NodeRemover.
type World struct {
	mu sync.Mutex

	// Stats by window; a window without an entry returns Default.
	Stats        map[time.Duration][]scaler.ClassStats
	DefaultStats []scaler.ClassStats
	GPU          []scaler.GPUMemory
	Usage        []scaler.PodUsage
	State        scaler.ClusterState
	Groups       []scaler.NodeGroupState
	Notices      []scaler.Interruption

	// BlockDrain lists nodes whose drain a PDB refuses.
	BlockDrain map[string]bool
	// MIGPending leaves a new MIG config in state "pending".
	MIGPending bool
	// Materialize, if set, is called after ScaleClass with the lock held,
	// to create or delete pods.
	Materialize func(w *World, class string, replicas int)

	Calls []Call
	fail  map[string][]error
}

// New returns an empty world.
func New() *World { return &World{fail: map[string][]error{}, BlockDrain: map[string]bool{}} }

// FailNext makes the next len(errs) calls of method return errs in order.
func (w *World) FailNext(method string, errs ...error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail == nil {
		w.fail = map[string][]error{}
	}
	w.fail[method] = append(w.fail[method], errs...)
}

// CallsTo returns the recorded calls of one method.
func (w *World) CallsTo(method string) []Call {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Call
	for _, c := range w.Calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Reset forgets the recorded calls.
func (w *World) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.Calls = nil
}

func (w *World) call(method, args string) error {
	var err error
	if q := w.fail[method]; len(q) > 0 {
		err, w.fail[method] = q[0], q[1:]
	}
	w.Calls = append(w.Calls, Call{Method: method, Args: args, Err: err})
	return err
}

// ClassStats implements scaler.Metrics.
func (w *World) ClassStats(_ context.Context, now time.Time, window time.Duration) ([]scaler.ClassStats, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.call("ClassStats", window.String()); err != nil {
		return nil, err
	}
	if s, ok := w.Stats[window]; ok {
		return slices.Clone(s), nil
	}
	return slices.Clone(w.DefaultStats), nil
}

// GPUMemory implements scaler.Metrics.
func (w *World) GPUMemory(context.Context, time.Time) ([]scaler.GPUMemory, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.call("GPUMemory", ""); err != nil {
		return nil, err
	}
	return slices.Clone(w.GPU), nil
}

// PodUsage implements scaler.Metrics.
func (w *World) PodUsage(context.Context, time.Time) ([]scaler.PodUsage, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.call("PodUsage", ""); err != nil {
		return nil, err
	}
	return slices.Clone(w.Usage), nil
}

// Snapshot implements scaler.Cluster.
func (w *World) Snapshot(context.Context) (scaler.ClusterState, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.call("Snapshot", ""); err != nil {
		return scaler.ClusterState{}, err
	}
	return scaler.ClusterState{Nodes: slices.Clone(w.State.Nodes), Pods: slices.Clone(w.State.Pods), Deployments: slices.Clone(w.State.Deployments),
		MIGConfigs: maps.Clone(w.State.MIGConfigs)}, nil
}

// ScaleClass implements scaler.Cluster.
func (w *World) ScaleClass(_ context.Context, class string, replicas int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.call("ScaleClass", fmt.Sprintf("%s=%d", class, replicas)); err != nil {
		return err
	}
	found := false
	for i := range w.State.Deployments {
		if w.State.Deployments[i].Class == class {
			w.State.Deployments[i].Replicas, found = replicas, true
		}
	}
	if !found {
		w.State.Deployments = append(w.State.Deployments, scaler.Deployment{Class: class, Replicas: replicas})
	}
	if w.Materialize != nil {
		w.Materialize(w, class, replicas)
	}
	return nil
}

// SetResources implements scaler.Cluster.
func (w *World) SetResources(_ context.Context, class string, rec scaler.Resources) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.call("SetResources", fmt.Sprintf("%s cpu=%.3f mem=%.0f", class, rec.CPUCores, rec.MemoryBytes))
}

func (w *World) node(name string) *scaler.Node {
	for i := range w.State.Nodes {
		if w.State.Nodes[i].Name == name {
			return &w.State.Nodes[i]
		}
	}
	return nil
}

// Cordon implements scaler.Cluster.
func (w *World) Cordon(_ context.Context, node string, cordon bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.call("Cordon", fmt.Sprintf("%s=%v", node, cordon)); err != nil {
		return err
	}
	n := w.node(node)
	if n == nil {
		return fmt.Errorf("node %s: %w", node, scaler.ErrNotFound)
	}
	n.Cordoned = cordon
	return nil
}

// Drain implements scaler.Cluster.
func (w *World) Drain(_ context.Context, node string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.call("Drain", node); err != nil {
		return err
	}
	if w.node(node) == nil {
		return fmt.Errorf("node %s: %w", node, scaler.ErrNotFound)
	}
	if w.BlockDrain[node] {
		return fmt.Errorf("evicting from %s: %w", node, scaler.ErrBlocked)
	}
	w.State.Pods = slices.DeleteFunc(w.State.Pods, func(p scaler.Pod) bool { return p.Node == node })
	return nil
}

// SetMIGConfig implements scaler.Cluster: it publishes cfg (State.MIGConfigs)
// and sets the node's config.
func (w *World) SetMIGConfig(_ context.Context, node string, cfg catalog.MIGConfig) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.call("SetMIGConfig", node+"="+cfg.Name); err != nil {
		return err
	}
	n := w.node(node)
	if n == nil {
		return fmt.Errorf("node %s: %w", node, scaler.ErrNotFound)
	}
	if w.State.MIGConfigs == nil {
		w.State.MIGConfigs = map[string]catalog.MIGConfig{}
	}
	w.State.MIGConfigs[cfg.Name] = cfg
	n.MIGConfig, n.MIGState = cfg.Name, "success"
	if w.MIGPending {
		n.MIGState = "pending"
	}
	return nil
}

// SetProfile implements scaler.Cluster: it records the call and moves the
// class's pods to the profile.
func (w *World) SetProfile(_ context.Context, class, profile string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.call("SetProfile", class+"="+profile); err != nil {
		return err
	}
	for i := range w.State.Pods {
		if w.State.Pods[i].Class == class {
			w.State.Pods[i].Profile = profile
		}
	}
	return nil
}

// NodeGroups implements scaler.Cloud.
func (w *World) NodeGroups(context.Context) ([]scaler.NodeGroupState, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.call("NodeGroups", ""); err != nil {
		return nil, err
	}
	return slices.Clone(w.Groups), nil
}

// SetDesiredSize implements scaler.Cloud.
func (w *World) SetDesiredSize(_ context.Context, nodegroup string, size int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.call("SetDesiredSize", fmt.Sprintf("%s=%d", nodegroup, size)); err != nil {
		return err
	}
	for i := range w.Groups {
		if w.Groups[i].Name == nodegroup {
			w.Groups[i].Desired = size
			return nil
		}
	}
	return fmt.Errorf("nodegroup %s: %w", nodegroup, scaler.ErrNotFound)
}

// Interruptions implements scaler.Cloud.
func (w *World) Interruptions(_ context.Context, now time.Time) ([]scaler.Interruption, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.call("Interruptions", ""); err != nil {
		return nil, err
	}
	var out []scaler.Interruption
	for _, n := range w.Notices {
		if !n.Terminates.Before(now) {
			out = append(out, n)
		}
	}
	return out, nil
}

// RemoveNode implements scaler.NodeRemover.
func (w *World) RemoveNode(_ context.Context, nodegroup, node string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.call("RemoveNode", nodegroup+"/"+node); err != nil {
		return err
	}
	if w.node(node) == nil {
		return fmt.Errorf("node %s: %w", node, scaler.ErrNotFound)
	}
	w.State.Nodes = slices.DeleteFunc(w.State.Nodes, func(n scaler.Node) bool { return n.Name == node })
	for i := range w.Groups {
		if w.Groups[i].Name == nodegroup {
			w.Groups[i].Desired--
			w.Groups[i].Current--
		}
	}
	return nil
}

var (
	_ scaler.Metrics     = (*World)(nil)
	_ scaler.Cluster     = (*World)(nil)
	_ scaler.Cloud       = (*World)(nil)
	_ scaler.NodeRemover = (*World)(nil)
)
