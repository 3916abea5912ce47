package scaler

import "github.com/headroom-dev/headroom/binpack/catalog"

// The packing seam: sized demand and capacity in, nodegroup targets and MIG
// layouts out. Greedy (greedy.go) is the built-in packer, Binpack
// (binpack.go) adapts the binpack solver.

// PackRequest is the sized demand and the capacity it may use.
type PackRequest struct {
	Classes    []PackClass
	NodeGroups []PackNodeGroup
	// Nodes are the usable nodes (ready or booting, not cordoned, draining
	// or interrupted) with the replicas on them.
	Nodes []PackNode
	// AllowNew lets the packer add nodes; false asks only whether the
	// demand fits the given nodes (the consolidation check).
	AllowNew bool
}

// PackClass is one class's demand: Replicas on the first option that fits,
// in the order given (the right-sized profile first).
type PackClass struct {
	Name                string
	Replicas            int
	Options             []PackOption
	NodeGroups          []string // empty: any nodegroup with a matching GPU
	Spot                string
	MinOnDemandFraction float64
	// Tenant is the class's one tenant, for nodegroups dedicated to one.
	Tenant string
}

// PackOption is one slice profile a class can use.
type PackOption struct {
	GPU, Profile string
	MemoryGiB    float64
}

// PackNodeGroup is a nodegroup as the packer sees it.
type PackNodeGroup struct {
	Name, InstanceType, CapacityType string
	GPU                              string
	GPUs                             int
	Mode                             string
	// FixedLayout is the per-GPU profile counts of mode mig-fixed, and
	// FixedName its nvidia.com/mig.config.
	FixedLayout map[string]int
	FixedName   string
	TimeSlices  int
	Min, Max    int
	Price       float64 // $/h per node
	// Tenants the nodegroup is dedicated to; empty means shared.
	Tenants []string
}

// PackNode is one node and the replicas on it.
type PackNode struct {
	Name, NodeGroup string
	// MIG is the node's MIG config, resolved (zero for a node whose GPUs
	// have no MIG, or a booting node whose config is not known yet).
	MIG     catalog.MIGConfig
	Booting bool
	Pods    []Pod
}

// PackResult is the packer's answer.
type PackResult struct {
	// Targets are the nodes each nodegroup needs (existing ones kept plus
	// new ones).
	Targets map[string]int
	// Layouts are MIG configs wanted on existing mig-dynamic nodes whose
	// current config differs.
	Layouts map[string]catalog.MIGConfig
	// Placed and Unplaced count replicas per class.
	Placed, Unplaced map[string]int
	Reasons          []string
}

// Packer turns demand and capacity into nodegroup targets and layouts.
type Packer interface {
	Pack(req PackRequest) PackResult
}
