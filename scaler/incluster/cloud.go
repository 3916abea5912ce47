package incluster

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/headroom-dev/headroom/scaler"
)

// ReportOnlyCloud is the Cloud of a controller without a cloud adapter:
// nodegroups are sized by someone else (an ASG policy, Karpenter, a
// person), so it reports each nodegroup as the nodes the cluster shows
// (desired = current = nodes labelled with it) and turns a resize into one
// log line per new target, without changing anything. It has no spot
// notices.
type ReportOnlyCloud struct {
	Cluster scaler.Cluster
	Log     *zap.Logger

	mu     sync.Mutex
	wanted map[string]int
}

// NodeGroups implements scaler.Cloud.
func (c *ReportOnlyCloud) NodeGroups(ctx context.Context) ([]scaler.NodeGroupState, error) {
	st, err := c.Cluster.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	count := map[string]int{}
	var order []string
	for _, n := range st.Nodes {
		if n.NodeGroup == "" {
			continue
		}
		if _, ok := count[n.NodeGroup]; !ok {
			order = append(order, n.NodeGroup)
		}
		count[n.NodeGroup]++
	}
	out := make([]scaler.NodeGroupState, 0, len(order))
	for _, g := range order {
		out = append(out, scaler.NodeGroupState{Name: g, Desired: count[g], Current: count[g]})
	}
	return out, nil
}

// SetDesiredSize implements scaler.Cloud: it only reports.
func (c *ReportOnlyCloud) SetDesiredSize(_ context.Context, nodegroup string, size int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wanted == nil {
		c.wanted = map[string]int{}
	}
	if old, ok := c.wanted[nodegroup]; !ok || old != size {
		c.wanted[nodegroup] = size
		if c.Log != nil {
			c.Log.Info("nodegroup size wanted (no cloud adapter: not applied)", zap.String("nodegroup", nodegroup), zap.Int("size", size))
		}
	}
	return nil
}

// Interruptions implements scaler.Cloud: none are known.
func (c *ReportOnlyCloud) Interruptions(context.Context, time.Time) ([]scaler.Interruption, error) {
	return nil, nil
}

// Metrics composes the Prometheus adapter (class stats, GPU memory) with
// the Kubernetes adapter's PodUsage into one scaler.Metrics.
type Metrics struct {
	Stats interface {
		ClassStats(ctx context.Context, now time.Time, window time.Duration) ([]scaler.ClassStats, error)
		GPUMemory(ctx context.Context, now time.Time) ([]scaler.GPUMemory, error)
	}
	Usage interface {
		PodUsage(ctx context.Context, now time.Time) ([]scaler.PodUsage, error)
	}
}

// ClassStats implements scaler.Metrics.
func (m Metrics) ClassStats(ctx context.Context, now time.Time, window time.Duration) ([]scaler.ClassStats, error) {
	return m.Stats.ClassStats(ctx, now, window)
}

// GPUMemory implements scaler.Metrics.
func (m Metrics) GPUMemory(ctx context.Context, now time.Time) ([]scaler.GPUMemory, error) {
	return m.Stats.GPUMemory(ctx, now)
}

// PodUsage implements scaler.Metrics.
func (m Metrics) PodUsage(ctx context.Context, now time.Time) ([]scaler.PodUsage, error) {
	return m.Usage.PodUsage(ctx, now)
}
