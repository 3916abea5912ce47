package binpack

import (
	"runtime"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// Spot policies of a class.
const (
	SpotNever     = "never"
	SpotAllowed   = "allowed"
	SpotPreferred = "preferred"
)

// Capacity types of a nodegroup.
const (
	OnDemand = "on-demand"
	Spot     = "spot"
)

// GPU modes of a nodegroup.
const (
	// ModeMIGDynamic lets the solver choose each GPU's MIG layout.
	ModeMIGDynamic = "mig-dynamic"
	// ModeMIGFixed partitions every GPU with the nodegroup's one layout.
	ModeMIGFixed = "mig-fixed"
	// ModeWhole gives one whole GPU to each replica (MIG off, or a GPU
	// without MIG).
	ModeWhole = "whole"
	// ModeTimeSliced shares each GPU among TimeSlices replicas; nothing
	// isolates their memory, so it must add up to at most the GPU's.
	ModeTimeSliced = "time-sliced"
)

// Problem is everything the solver needs: what each class must serve and
// where it may run, the nodegroups, the current state and the knobs. It is
// plain data, independent of the policy files (binpack/frompolicy builds one from a policy).
type Problem struct {
	// Catalog supplies GPU geometry and instance prices; nil means
	// catalog.Default().
	Catalog    *catalog.Catalog `json:"-"`
	Classes    []Class          `json:"classes"`
	NodeGroups []NodeGroup      `json:"nodeGroups"`
	// Current is what runs now; nil or empty plans from scratch.
	Current *State `json:"current,omitempty"`
	// ChangeCost is the price, in $/h of plan cost, of moving one running
	// replica (because its slot disappears in a re-partition or its node
	// goes). A plan that moves replicas must save more than this per
	// replica moved, or the solver keeps the current layouts.
	ChangeCost float64 `json:"changeCost"`
	// CostCeiling is the most the plan may cost in $/h; 0 means none.
	CostCeiling float64 `json:"costCeiling,omitempty"`
	Options     Options `json:"options"`
}

// Options bound the search. Zero values take the defaults in
// Options.withDefaults.
type Options struct {
	// Deadline stops the lower-bound search early; zero means none. The
	// solver still returns a plan and the best bound found so far.
	Deadline time.Time `json:"-"`
	// BoundIterations caps the column-generation rounds of the lower bound
	// (default DefaultBoundIterations).
	BoundIterations int `json:"boundIterations,omitempty"`
	// BoundNodes caps the boxes the branch and bound on node counts
	// bounds, which makes the lower bound integer-aware on problems of at
	// most 100 classes (default DefaultBoundNodes; negative: off, the LP
	// bound alone).
	BoundNodes int `json:"boundNodes,omitempty"`
	// RepairRounds caps the rounds that move replicas off nodegroups over
	// their max size (default 8).
	RepairRounds int `json:"repairRounds,omitempty"`
	// ImprovePasses caps the passes of the node-removal local search
	// (default 3).
	ImprovePasses int `json:"improvePasses,omitempty"`
	// Workers is how many roundings run at once (default GOMAXPROCS; 1
	// runs everything on the caller's goroutine). The plan is the same
	// for any value.
	Workers int `json:"workers,omitempty"`
	// MaxReplicas caps the replicas a plan may need (default
	// DefaultMaxReplicas); MaxGPUs caps the GPUs the nodegroups' min sizes
	// add up to (default DefaultMaxGPUs). The solver's memory and time
	// grow with both, so a problem over either is an input error, not an
	// out-of-memory crash.
	MaxReplicas int `json:"maxReplicas,omitempty"`
	MaxGPUs     int `json:"maxGPUs,omitempty"`
}

// DefaultBoundIterations is the default cap on lower-bound iterations.
const DefaultBoundIterations = 1000

// Defaults of Options.MaxReplicas and Options.MaxGPUs: about 130 MB and
// a second of solving at the limit (testdata/near-limit.yaml, measured in
// docs/binpack.md), above the largest benchmark (2,000 classes on 10,000
// GPUs, at most 116,000 replicas).
const (
	DefaultMaxReplicas = 200_000
	DefaultMaxGPUs     = 100_000
)

func (o Options) withDefaults() Options {
	if o.BoundIterations <= 0 {
		o.BoundIterations = DefaultBoundIterations
	}
	if o.BoundNodes == 0 {
		o.BoundNodes = DefaultBoundNodes
	}
	if o.RepairRounds <= 0 {
		o.RepairRounds = 8
	}
	if o.ImprovePasses <= 0 {
		o.ImprovePasses = 3
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.MaxReplicas <= 0 {
		o.MaxReplicas = DefaultMaxReplicas
	}
	if o.MaxGPUs <= 0 {
		o.MaxGPUs = DefaultMaxGPUs
	}
	return o
}

// Class is one model class: its demand and where it may run.
type Class struct {
	Name   string `json:"name"`
	Tenant string `json:"tenant,omitempty"`
	// Rate is the demand in requests/s at the class's latency SLO. Each
	// option's Capacity is what one replica serves at that SLO.
	Rate float64 `json:"rate,omitempty"`
	// Replicas is the demand as a replica count, when Rate is 0; each
	// replica on any option counts as one.
	Replicas int `json:"replicas,omitempty"`
	// MinReplicas is the fewest replicas the class runs, whatever the
	// demand (for availability).
	MinReplicas int `json:"minReplicas,omitempty"`
	// Options are the (GPU, profile) pairs the class can run on.
	Options []Option `json:"options"`
	// NodeGroups the class may use; empty means every nodegroup whose GPU
	// has one of the options (and that is not dedicated to other tenants).
	NodeGroups []string `json:"nodeGroups,omitempty"`
	// Spot is never, allowed (default) or preferred.
	Spot string `json:"spot,omitempty"`
	// MinOnDemandFraction of the demand served from on-demand nodes, in [0,1].
	MinOnDemandFraction float64 `json:"minOnDemandFraction,omitempty"`
	// Notes say why options were left out before solving (frompolicy.Problem);
	// they end up in the reasons and in Unplaced when nothing is left.
	Notes []string `json:"notes,omitempty"`
}

// Option is one slice a class's replica can run on.
type Option struct {
	// GPU is a catalog GPU name, e.g. "H100-80GB".
	GPU string `json:"gpu"`
	// Profile is a MIG profile of GPU, catalog.ProfileWhole or
	// catalog.ProfileTimeSliced.
	Profile string `json:"profile"`
	// Capacity is the requests/s one replica serves within the SLO.
	// Ignored for classes whose demand is Replicas.
	Capacity float64 `json:"capacity,omitempty"`
	// MemoryGiB is the GPU memory one replica needs.
	MemoryGiB float64 `json:"memoryGiB"`
}

// NodeGroup is a set of identical nodes with min and max sizes.
type NodeGroup struct {
	Name         string `json:"name"`
	InstanceType string `json:"instanceType"`
	// CapacityType is on-demand (default) or spot.
	CapacityType string `json:"capacityType,omitempty"`
	// Mode is mig-dynamic, mig-fixed, whole (default) or time-sliced.
	Mode string `json:"mode,omitempty"`
	// Layout is the per-GPU layout of mode mig-fixed, and LayoutName its
	// nvidia.com/mig.config name.
	Layout     catalog.Layout `json:"layout,omitempty"`
	LayoutName string         `json:"layoutName,omitempty"`
	// TimeSlices is the number of replicas per GPU in mode time-sliced.
	TimeSlices int `json:"timeSlices,omitempty"`
	Min        int `json:"min"`
	// Max is the most nodes; 0 means no limit.
	Max int `json:"max"`
	// Tenants the nodegroup is dedicated to; empty means shared.
	Tenants []string `json:"tenants,omitempty"`
	// Price per node in $/h; 0 takes the catalog's price for CapacityType.
	Price float64 `json:"price,omitempty"`
}

// State is what runs now: nodes, their GPU layouts and where replicas sit.
// A Plan's Nodes have the same shape, so a plan can be fed back as the next
// call's current state.
type State struct {
	Nodes []Node `json:"nodes"`
}

// Node is one node of a nodegroup.
type Node struct {
	Name      string `json:"name"`
	NodeGroup string `json:"nodeGroup"`
	// MIGConfig is the nvidia.com/mig.config label value (plan output).
	MIGConfig string `json:"migConfig,omitempty"`
	GPUs      []GPU  `json:"gpus"`
}

// GPU is one GPU of a node: its layout (empty for whole and time-sliced
// GPUs) and the replicas on it.
type GPU struct {
	Index  int            `json:"index"`
	Layout catalog.Layout `json:"layout,omitempty"`
	Slots  []Slot         `json:"slots,omitempty"`
}

// Slot is one replica on a GPU: its class, the profile of its slice, and the
// memory-slice start (MIG) or share index (time-sliced).
type Slot struct {
	Class   string `json:"class"`
	Profile string `json:"profile"`
	Start   int    `json:"start"`
}

// Plan is the solver's answer.
type Plan struct {
	// CostPerHour is the $/h of all nodes in the plan.
	CostPerHour float64 `json:"costPerHour"`
	// LowerBound is a proven lower bound on the $/h of any feasible plan,
	// and Gap is (CostPerHour-LowerBound)/LowerBound.
	LowerBound float64 `json:"lowerBound"`
	Gap        float64 `json:"gap"`
	GPUs       int     `json:"gpus"`
	// NodeGroups are the target sizes.
	NodeGroups []GroupPlan `json:"nodeGroups"`
	// ByCapacityType sums nodes, GPUs and cost per capacity type
	// (on-demand, spot).
	ByCapacityType []CapacitySummary `json:"byCapacityType"`
	Allocations    []Allocation      `json:"allocations"`
	Nodes          []Node            `json:"nodes"`
	// MIGConfigs are the mig-parted configs of the per-node layouts used,
	// keyed by the nvidia.com/mig.config value.
	MIGConfigs map[string][]catalog.MIGEntry `json:"migConfigs,omitempty"`
	Changes    Changes                       `json:"changes"`
	Reasons    []Reason                      `json:"reasons,omitempty"`
	Unplaced   []Unplaced                    `json:"unplaced,omitempty"`
	// Strategy names the packing that won: "lp-guided", "lp-guided+keep" or
	// "ffd".
	Strategy string `json:"strategy"`
}

// GroupPlan is a nodegroup's target size.
type GroupPlan struct {
	Name         string  `json:"name"`
	CapacityType string  `json:"capacityType"`
	InstanceType string  `json:"instanceType"`
	Nodes        int     `json:"nodes"`
	Min          int     `json:"min"`
	Max          int     `json:"max"`
	GPUs         int     `json:"gpus"`
	CostPerHour  float64 `json:"costPerHour"`
}

// CapacitySummary is the plan's share on one capacity type.
type CapacitySummary struct {
	CapacityType string  `json:"capacityType"`
	Nodes        int     `json:"nodes"`
	GPUs         int     `json:"gpus"`
	CostPerHour  float64 `json:"costPerHour"`
}

// Allocation is how many replicas of a class run on one profile of one
// nodegroup, and the Kubernetes resource each requests.
type Allocation struct {
	Class     string  `json:"class"`
	NodeGroup string  `json:"nodeGroup"`
	GPU       string  `json:"gpu"`
	Profile   string  `json:"profile"`
	Replicas  int     `json:"replicas"`
	Capacity  float64 `json:"capacity"`
	Resource  string  `json:"resource"`
	MemoryGiB float64 `json:"memoryGiB"`
}

// Changes compares the plan with the current state.
type Changes struct {
	NodesAdded     []string       `json:"nodesAdded,omitempty"`
	NodesRemoved   []string       `json:"nodesRemoved,omitempty"`
	LayoutsChanged []LayoutChange `json:"layoutsChanged,omitempty"`
	ReplicasMoved  int            `json:"replicasMoved"`
	ReplicasAdded  int            `json:"replicasAdded"`
	ReplicasGone   int            `json:"replicasRemoved"`
	Penalty        float64        `json:"penalty"`
}

// LayoutChange is one GPU re-partitioned.
type LayoutChange struct {
	Node string `json:"node"`
	GPU  int    `json:"gpu"`
	From string `json:"from"`
	To   string `json:"to"`
}

// Reason explains one decision: what was chosen, what cheaper or other
// option was rejected, and why.
type Reason struct {
	Subject  string `json:"subject"`
	Decision string `json:"decision"`
	Rejected string `json:"rejected,omitempty"`
	Why      string `json:"why"`
}

// Unplaced is demand the plan could not serve.
type Unplaced struct {
	Class    string  `json:"class"`
	Rate     float64 `json:"rate,omitempty"`
	Replicas int     `json:"replicas,omitempty"`
	Reason   string  `json:"reason"`
}
