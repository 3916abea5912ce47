package catalog

import (
	"fmt"
	"sort"
	"strings"
)

// Special profile names for GPUs that are not partitioned by MIG.
const (
	// ProfileWhole is a whole GPU given to one replica: a GPU without MIG
	// (A10G, L4, L40S) or a MIG-capable GPU with MIG off. Kubernetes
	// resource nvidia.com/gpu.
	ProfileWhole = "whole"
	// ProfileTimeSliced is one share of a time-sliced GPU. Nothing isolates
	// the replicas' memory, so the memory of all replicas on the GPU must
	// add up to at most the GPU's usable memory.
	ProfileTimeSliced = "timesliced"
)

// MIG geometry shared by every MIG-capable GPU in the catalog.
const (
	ComputeSlices = 7
	MemorySlices  = 8
)

// Profile is one MIG GPU-instance profile of a GPU model, or one of the
// special non-MIG profiles ProfileWhole and ProfileTimeSliced.
type Profile struct {
	// Name as NVIDIA spells it, e.g. "3g.40gb".
	Name string `json:"name"`
	// Compute is the number of compute slices (of 7) the instance takes.
	Compute int `json:"compute"`
	// Memory is the number of memory slices (of 8) the instance takes.
	Memory int `json:"memorySlices"`
	// Starts are the memory-slice positions the instance may start at.
	Starts []int `json:"starts"`
	// UsableGiB is the memory a process can allocate on the instance.
	UsableGiB float64 `json:"usableGiB"`
	// Source says where UsableGiB comes from: "published" (NVIDIA's tables
	// or nvidia-smi output) or "estimate" (nominal size scaled by the
	// published usable/nominal ratio of the same family; verify with NVML).
	Source string `json:"source"`
}

// MaxPerGPU is how many instances of this profile fit on one empty GPU.
func (p Profile) MaxPerGPU() int {
	if p.Memory == 0 {
		return 1
	}
	byCompute := ComputeSlices / p.Compute
	return min(byCompute, len(p.Starts))
}

// GPU is one GPU model.
type GPU struct {
	// Name is the catalog key, e.g. "H100-80GB".
	Name string `json:"name"`
	// MemoryGiB is the usable memory of the whole GPU.
	MemoryGiB float64 `json:"memoryGiB"`
	// MIG says whether the GPU can be partitioned with MIG.
	MIG bool `json:"mig"`
	// Profiles are the MIG profiles, smallest first; empty without MIG.
	Profiles []Profile `json:"profiles,omitempty"`
}

// Profile returns the named profile of the GPU. ProfileWhole and
// ProfileTimeSliced exist on every GPU and take the whole GPU's memory.
func (g *GPU) Profile(name string) (Profile, bool) {
	switch name {
	case ProfileWhole, ProfileTimeSliced:
		return Profile{Name: name, UsableGiB: g.MemoryGiB, Source: "published"}, true
	}
	for _, p := range g.Profiles {
		if p.Name == name {
			return p, true
		}
	}
	return Profile{}, false
}

// ProfileNames lists every profile name valid on this GPU, MIG profiles
// first in catalog order.
func (g *GPU) ProfileNames() []string {
	names := make([]string, 0, len(g.Profiles)+2)
	for _, p := range g.Profiles {
		names = append(names, p.Name)
	}
	return append(names, ProfileWhole, ProfileTimeSliced)
}

// InstanceType is one AWS EC2 instance type.
type InstanceType struct {
	Name      string  `json:"name"`
	GPU       string  `json:"gpu,omitempty"` // catalog GPU name; empty for CPU-only types
	GPUs      int     `json:"gpus"`
	VCPU      int     `json:"vcpu"`
	MemoryGiB float64 `json:"memoryGiB"`
	// OnDemandPrice is the us-east-1 Linux on-demand price in $/h.
	OnDemandPrice float64 `json:"onDemandPrice"`
	// SpotPrice is the spot price headroom plans with, in $/h: an
	// assumption unless set from an observed price.
	SpotPrice float64 `json:"spotPrice"`
	// PriceSource and PriceDate say where the on-demand price came from.
	PriceSource string `json:"priceSource"`
	PriceDate   string `json:"priceDate"`
	// SpotSource says how SpotPrice was set.
	SpotSource string `json:"spotSource"`
}

// Price returns the $/h of one instance for a capacity type, "on-demand"
// or "spot".
func (t *InstanceType) Price(capacityType string) float64 {
	if capacityType == "spot" {
		return t.SpotPrice
	}
	return t.OnDemandPrice
}

// Catalog holds the GPU models and instance types headroom plans with. The
// zero value is empty; Default returns the built-in catalog. A Catalog is
// plain data: copy it with Clone before changing it.
type Catalog struct {
	GPUs      map[string]*GPU          `json:"gpus"`
	Instances map[string]*InstanceType `json:"instances"`
}

// GPU looks up a GPU model by name.
func (c *Catalog) GPU(name string) (*GPU, bool) {
	g, ok := c.GPUs[name]
	return g, ok
}

// Instance looks up an instance type by name.
func (c *Catalog) Instance(name string) (*InstanceType, bool) {
	t, ok := c.Instances[name]
	return t, ok
}

// GPUNames returns the GPU names, sorted.
func (c *Catalog) GPUNames() []string { return sortedKeys(c.GPUs) }

// InstanceNames returns the instance type names, sorted.
func (c *Catalog) InstanceNames() []string { return sortedKeys(c.Instances) }

// Clone returns a deep copy that can be changed without touching c.
func (c *Catalog) Clone() *Catalog {
	out := &Catalog{GPUs: make(map[string]*GPU, len(c.GPUs)), Instances: make(map[string]*InstanceType, len(c.Instances))}
	for k, g := range c.GPUs {
		cp := *g
		cp.Profiles = make([]Profile, len(g.Profiles))
		for i, p := range g.Profiles {
			p.Starts = append([]int(nil), p.Starts...)
			cp.Profiles[i] = p
		}
		out.GPUs[k] = &cp
	}
	for k, t := range c.Instances {
		cp := *t
		out.Instances[k] = &cp
	}
	return out
}

// AddInstance adds or replaces an instance type after checking it.
func (c *Catalog) AddInstance(t InstanceType) error {
	if err := c.checkInstance(&t); err != nil {
		return err
	}
	if c.Instances == nil {
		c.Instances = map[string]*InstanceType{}
	}
	c.Instances[t.Name] = &t
	return nil
}

func (c *Catalog) checkInstance(t *InstanceType) error {
	var errs []string
	if t.Name == "" {
		errs = append(errs, "name is empty")
	}
	if t.GPU != "" {
		if _, ok := c.GPUs[t.GPU]; !ok {
			errs = append(errs, fmt.Sprintf("gpu %q is not in the catalog (known: %s)", t.GPU, strings.Join(c.GPUNames(), ", ")))
		}
		if t.GPUs <= 0 {
			errs = append(errs, "gpus must be positive when gpu is set")
		}
	} else if t.GPUs != 0 {
		errs = append(errs, "gpus is set but gpu is empty")
	}
	if t.VCPU <= 0 {
		errs = append(errs, "vcpu must be positive")
	}
	if t.MemoryGiB <= 0 {
		errs = append(errs, "memoryGiB must be positive")
	}
	if !(t.OnDemandPrice > 0) {
		errs = append(errs, "onDemandPrice must be positive")
	}
	if t.SpotPrice < 0 || t.SpotPrice != t.SpotPrice {
		errs = append(errs, "spotPrice must not be negative")
	}
	if len(errs) > 0 {
		return fmt.Errorf("instance type %q: %s", t.Name, strings.Join(errs, "; "))
	}
	if t.SpotPrice == 0 {
		t.SpotPrice = round3(t.OnDemandPrice * DefaultSpotFraction)
		t.SpotSource = fmt.Sprintf("assumption: %.0f%% of on-demand", DefaultSpotFraction*100)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func round3(x float64) float64 {
	return float64(int64(x*1000+0.5)) / 1000
}
