package scaler

import (
	"context"
	"errors"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// The boundary of the scaler core. Three small interfaces, shaped after the
// systems they wrap (the Prometheus HTTP API, client-go, the EKS and Auto
// Scaling APIs), with no SDK types in them. The in-cluster controller wraps
// the real systems; the simulator implements them over its simulated world;
// tests use the recording fakes.
//
// Error contract, for all three: a returned error means the call did nothing
// (reads returned nothing usable; writes did not happen or their outcome is
// unknown). Errors callers branch on are wrapped sentinels, tested with
// errors.Is or the IsX helpers below. Every other error is treated as
// transient: the loop holds capacity, retries with backoff, and reports.

// Sentinel errors an implementation wraps.
var (
	// ErrNotFound: the object (node, pod, class, nodegroup) no longer exists,
	// e.g. a node that vanished between observe and act.
	ErrNotFound = errors.New("not found")
	// ErrThrottled: the API asked us to slow down (HTTP 429, AWS
	// ThrottlingException); retry later with backoff.
	ErrThrottled = errors.New("throttled")
	// ErrBlocked: a disruption was refused by a PodDisruptionBudget (the
	// Eviction API's 429) or a do-not-disrupt annotation; do not force it.
	ErrBlocked = errors.New("blocked by disruption budget")
	// ErrConflict: the object changed since it was read (optimistic
	// concurrency); re-read and retry.
	ErrConflict = errors.New("conflict")
)

// IsNotFound, IsThrottled, IsBlocked and IsConflict report whether err wraps
// the corresponding sentinel.
func IsNotFound(err error) bool  { return errors.Is(err, ErrNotFound) }
func IsThrottled(err error) bool { return errors.Is(err, ErrThrottled) }
func IsBlocked(err error) bool   { return errors.Is(err, ErrBlocked) }
func IsConflict(err error) bool  { return errors.Is(err, ErrConflict) }

// Metrics reads what the router, dcgm-exporter and the metrics API report.
// Real: Prometheus HTTP API queries over the router's metric contract
// (docs/router.md) and DCGM_FI_DEV_FB_USED; k8s.io/metrics for pod usage.
type Metrics interface {
	// ClassStats returns the stats of every class with data in the window
	// (now-window, now]. A class with no sample in the window is absent,
	// which the core reads as missing data (never as zero load).
	ClassStats(ctx context.Context, now time.Time, window time.Duration) ([]ClassStats, error)
	// GPUMemory returns the GPU memory in use per replica's GPU instance.
	GPUMemory(ctx context.Context, now time.Time) ([]GPUMemory, error)
	// PodUsage returns CPU and memory use per reader pod.
	PodUsage(ctx context.Context, now time.Time) ([]PodUsage, error)
}

// ClassStats is one class's load and latency over a window.
type ClassStats struct {
	Class string
	// At is the time of the newest sample behind these numbers; the core
	// treats stats older than its staleness limit as missing.
	At time.Time
	// Rate is requests per second arriving at the router, all tenants.
	Rate float64
	// Latency quantiles of end-to-end router latency.
	P50, P95, P99 time.Duration
	// InFlight is the mean number of requests being served or queued.
	InFlight float64
	// ErrorRate is the share of requests that failed (5xx, timeouts).
	ErrorRate float64
}

// GPUMemory is the memory used on one GPU instance (a MIG slice, a whole
// GPU, or a time-sliced GPU) by one replica.
type GPUMemory struct {
	Node, Pod, Class string
	// Profile is the MIG profile (GPU_I_PROFILE), "whole" or "timesliced".
	Profile          string
	UsedMiB, FreeMiB float64
}

// PodUsage is one reader container's resource use.
type PodUsage struct {
	Pod, Class  string
	CPUCores    float64
	MemoryBytes float64
	// OOMKilled is true when the container was OOM-killed since the last
	// observation (VPA bumps memory after one).
	OOMKilled bool
}

// Cluster reads and changes the Kubernetes side. Real: client-go.
type Cluster interface {
	// Snapshot returns the nodes and reader pods as they are now.
	Snapshot(ctx context.Context) (ClusterState, error)
	// ScaleClass sets the replica count of a class's Deployment.
	ScaleClass(ctx context.Context, class string, replicas int) error
	// SetResources writes a class's vertical recommendation (a VPA object in
	// recommendation-only mode, or the Deployment's requests).
	SetResources(ctx context.Context, class string, rec Resources) error
	// Cordon marks a node unschedulable (true) or schedulable (false).
	Cordon(ctx context.Context, node string, cordon bool) error
	// Drain evicts every reader pod on a node through the Eviction API,
	// honouring PodDisruptionBudgets: ErrBlocked when one refuses.
	Drain(ctx context.Context, node string) error
	// SetMIGConfig publishes cfg in the mig-parted ConfigMap the MIG
	// manager reads (unless a config of that name with the same layout is
	// there already), then sets the node's nvidia.com/mig.config label to
	// cfg.Name; the MIG manager applies it and reports progress in
	// nvidia.com/mig.config.state.
	SetMIGConfig(ctx context.Context, node string, cfg catalog.MIGConfig) error
	// SetProfile changes the GPU slice a class's replicas request (its
	// Deployment's nvidia.com/mig-<profile> or nvidia.com/gpu resource); the
	// Deployment's rolling update replaces the replicas.
	SetProfile(ctx context.Context, class, profile string) error
}

// Reporter is an optional extension of Cluster: the controller hands it
// every action it tried (done or failed, with the decision's reason), so the
// adapter can record it on the object acted on (a Kubernetes Event on the
// Deployment or Node). Reporting is best effort and never fails a tick.
type Reporter interface {
	Report(ctx context.Context, a Action)
}

// ClusterState is the Kubernetes side at one moment.
type ClusterState struct {
	Nodes []Node
	Pods  []Pod
	// Deployments are the replica counts last set per class (the
	// Deployment's spec.replicas). Optional: a class without one is
	// taken to have as many replicas as it has pods not failed.
	Deployments []Deployment
	// MIGConfigs are the configs published in the mig-parted ConfigMap,
	// by name: how a node's nvidia.com/mig.config that is not readable
	// from its name alone (catalog.ParseMIGConfigName) is resolved.
	MIGConfigs map[string]catalog.MIGConfig
}

// Deployment is a class's Deployment as the core sees it.
type Deployment struct {
	Class    string
	Replicas int
}

// Node is one worker node.
type Node struct {
	Name         string
	NodeGroup    string // eks.amazonaws.com/nodegroup
	InstanceType string // node.kubernetes.io/instance-type
	CapacityType string // "on-demand" or "spot"
	Ready        bool
	Cordoned     bool
	// MIGConfig and MIGState mirror nvidia.com/mig.config and
	// nvidia.com/mig.config.state (pending, rebooting, success, failed).
	MIGConfig, MIGState string
	// DoNotDisrupt is set by the headroom.dev/do-not-disrupt annotation.
	DoNotDisrupt bool
	Created      time.Time
}

// Pod phases as the core sees them.
const (
	PodPending = "pending" // not scheduled yet
	PodLoading = "loading" // scheduled, pulling its image or loading its model
	PodReady   = "ready"   // serving
	PodFailed  = "failed"
)

// Pod is one reader replica.
type Pod struct {
	Name  string
	Class string
	Node  string // empty while pending
	// Profile is the GPU slice the pod requests ("3g.40gb", "whole", "timesliced").
	Profile string
	Phase   string
	Started time.Time
}

// Resources is a vertical recommendation for a class's reader container.
type Resources struct {
	CPUCores    float64
	MemoryBytes float64
}

// Cloud reads and sets nodegroup sizes. Real: EKS managed nodegroups
// (UpdateNodegroupConfig) and self-managed ASGs (SetDesiredCapacity), and
// spot interruption notices (EventBridge/SQS or instance metadata).
type Cloud interface {
	// NodeGroups returns each nodegroup's desired and current size.
	NodeGroups(ctx context.Context) ([]NodeGroupState, error)
	// SetDesiredSize asks for size nodes; the cloud may be slower or give
	// fewer (spot shortfall), which the next NodeGroups shows.
	SetDesiredSize(ctx context.Context, nodegroup string, size int) error
	// Interruptions returns the spot interruption notices pending at now.
	Interruptions(ctx context.Context, now time.Time) ([]Interruption, error)
}

// NodeRemover is an optional extension of Cloud: remove one named node and
// shrink its nodegroup by one in the same call, so that scale-down removes
// the node headroom drained and not one the cloud picks. Real: Auto Scaling
// TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity
// (EKS managed nodegroups are ASGs underneath). A Cloud without it gets
// SetDesiredSize(desired-1), which lets the cloud choose the instance.
type NodeRemover interface {
	RemoveNode(ctx context.Context, nodegroup, node string) error
}

// NodeGroupState is a nodegroup's size as the cloud reports it.
type NodeGroupState struct {
	Name     string
	Desired  int
	Current  int // instances running (booted or booting)
	Min, Max int
}

// Interruption is a spot interruption notice: the node goes away at
// Terminates (two minutes after the notice on AWS).
type Interruption struct {
	Node       string
	Terminates time.Time
}
