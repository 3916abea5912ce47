package frompolicy

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/headroom-dev/headroom/binpack"
	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/policies"
)

// TargetUtilization is the share of a replica's raw throughput
// (concurrency / mean service time) Problem plans to use, when the
// demand file gives no measured capacity: a stand-in for the scaler's
// queueing model, which sizes replicas against the latency SLO.
const TargetUtilization = 0.7

// Problem builds the packing problem for a loaded policy and a demand
// at time now (scheduled minimum replicas depend on it). Classes come from
// the demand; each must exist in the policy. Their options are the
// policy's (policies.Policy.Options: placement, spot, tenants, memory fit);
// per-replica capacity is the demand's capacity record for the profile,
// else TargetUtilization x concurrency / mean service time, and a profile
// whose p95 service time alone exceeds the SLO latency is left out.
// CPU-only nodegroups are not packed.
func Problem(pol *policies.Policy, d *binpack.Demand, now time.Time) (*binpack.Problem, error) {
	cat, err := pol.Catalog()
	if err != nil {
		return nil, fmt.Errorf("building the catalog from policy: %w", err)
	}
	p := &binpack.Problem{Catalog: cat, ChangeCost: binpack.DefaultChangeCost, CostCeiling: pol.Cluster.Spec.CostCeiling}
	if d.ChangeCost != nil {
		p.ChangeCost = *d.ChangeCost
	}
	for i := range pol.NodeGroups {
		ng := &pol.NodeGroups[i]
		g, ok, err := NodeGroup(ng, cat)
		if err != nil {
			return nil, err
		}
		if ok {
			p.NodeGroups = append(p.NodeGroups, g)
		}
	}
	var errs []error
	for _, cd := range d.Classes {
		mc, ok := pol.Class(cd.Name)
		if !ok {
			errs = append(errs, &binpack.ClassError{Class: cd.Name, Reason: fmt.Sprintf("demand line %d: no such class in the policy (known: %s)", cd.Line, classNames(pol))})
			continue
		}
		c, err := classFromPolicy(pol, mc, cd, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.Classes = append(p.Classes, c)
	}
	if len(errs) > 0 {
		return nil, &binpack.ProblemError{Errs: errs}
	}
	return p, nil
}

func classNames(pol *policies.Policy) string {
	names := make([]string, len(pol.Classes))
	for i, c := range pol.Classes {
		names[i] = c.Name
	}
	if len(names) > 8 {
		names = append(names[:8], "...")
	}
	return strings.Join(names, ", ")
}

// NodeGroup is a policy nodegroup as the packer sees it; ok is false for a
// CPU-only nodegroup, which the packer does not plan.
func NodeGroup(ng *policies.NodeGroup, cat *catalog.Catalog) (binpack.NodeGroup, bool, error) {
	s := ng.Spec
	g := binpack.NodeGroup{Name: ng.Name, InstanceType: s.InstanceType, CapacityType: s.CapacityType, Min: s.Size.Min, Max: s.Size.Max}
	if s.Tenant != "" {
		g.Tenants = []string{s.Tenant}
	}
	switch s.GPU.Mode {
	case policies.GPUModeNone, "":
		return g, false, nil
	case policies.GPUModeMIGDynamic:
		g.Mode = binpack.ModeMIGDynamic
	case policies.GPUModeMIGFixed:
		g.Mode = binpack.ModeMIGFixed
		if s.GPU.Layout == nil {
			return g, false, fmt.Errorf("nodegroup %q: mig-fixed without a layout", ng.Name)
		}
		it, ok := cat.Instance(s.InstanceType)
		if !ok || it.GPU == "" {
			return g, false, fmt.Errorf("nodegroup %q: instance type %q has no GPU", ng.Name, s.InstanceType)
		}
		gpu, _ := cat.GPU(it.GPU)
		l, ok := gpu.LayoutFor(s.GPU.Layout.Devices)
		if !ok {
			return g, false, fmt.Errorf("nodegroup %q: layout %s does not fit a %s", ng.Name, s.GPU.Layout.Name, gpu.Name)
		}
		g.Layout, g.LayoutName = l, s.GPU.Layout.Name
	case policies.GPUModeWhole:
		g.Mode = binpack.ModeWhole
	case policies.GPUModeTimeSliced:
		g.Mode, g.TimeSlices = binpack.ModeTimeSliced, s.GPU.Replicas
	default:
		return g, false, fmt.Errorf("nodegroup %q: unknown GPU mode %q", ng.Name, s.GPU.Mode)
	}
	return g, true, nil
}

// ClassOption is one GPU slice a class may take, with the nodegroups
// that offer it, sorted.
type ClassOption struct {
	Profile    *policies.ServiceProfile
	NodeGroups []string
}

// ClassOptions lists the GPU slices a class may run on, each once in the
// policy's order, with the nodegroups that offer it (policies.Policy.Options:
// placement, spot, tenants, time sharing, memory fit), and why the other
// nodegroups were rejected. CPU profiles are left out: the packer plans GPU
// nodegroups only. Both `headroom pack` and the controller build their
// packing problems from this.
func ClassOptions(pol *policies.Policy, mc *policies.ModelClass) ([]ClassOption, []string) {
	opts, rejections := pol.Options(mc)
	var notes []string
	for _, r := range rejections {
		notes = append(notes, fmt.Sprintf("nodegroup %s: %s", r.NodeGroup, r.Reason))
	}
	var out []ClassOption
	index := map[string]int{}
	for _, o := range opts {
		if o.Profile.Profile == policies.ProfileCPU || o.Instance.GPU == "" {
			continue
		}
		key := o.Profile.GPU + "/" + o.Profile.Profile
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, ClassOption{Profile: o.Profile})
		}
		if !slices.Contains(out[i].NodeGroups, o.NodeGroup.Name) {
			out[i].NodeGroups = append(out[i].NodeGroups, o.NodeGroup.Name)
		}
	}
	for i := range out {
		sort.Strings(out[i].NodeGroups)
	}
	return out, notes
}

func classFromPolicy(pol *policies.Policy, mc *policies.ModelClass, cd binpack.ClassDemand, now time.Time) (binpack.Class, error) {
	s := mc.Spec
	c := binpack.Class{Name: mc.Name, MinReplicas: mc.MinReplicasAt(now), Spot: s.Placement.Spot,
		MinOnDemandFraction: s.Placement.MinOnDemandFraction}
	if len(s.Tenants) == 1 {
		c.Tenant = s.Tenants[0]
	}
	if cd.Rate != nil {
		c.Rate = *cd.Rate
	} else if cd.Replicas != nil {
		c.Replicas = *cd.Replicas
	}
	mem := s.GPUMemory.AsApproximateFloat64() / (1 << 30)
	opts, notes := ClassOptions(pol, mc)
	groups := map[string]bool{}
	for _, o := range opts {
		capacity, ok, why := replicaCapacity(mc, o.Profile, cd)
		if !ok {
			notes = append(notes, why)
			if noFit(o.Profile, cd) {
				// Profiling says so: the plan's reasons say it too.
				c.Notes = append(c.Notes, why)
			}
			continue
		}
		for _, g := range o.NodeGroups {
			groups[g] = true
		}
		c.Options = append(c.Options, binpack.Option{GPU: o.Profile.GPU, Profile: o.Profile.Profile, Capacity: capacity,
			MemoryGiB: replicaMemory(mem, o.Profile, cd)})
	}
	c.NodeGroups = slices.Sorted(maps.Keys(groups))
	if len(c.Options) == 0 {
		// Keep the class so the plan reports it unplaced with the reasons.
		c.NodeGroups = []string{}
		c.Notes = notes
		if len(c.Notes) == 0 {
			c.Notes = []string{"the class has no GPU profile"}
		}
	}
	return c, nil
}

// noFit reports whether the demand marks the service profile fits: false.
func noFit(pr *policies.ServiceProfile, cd binpack.ClassDemand) bool {
	return slices.ContainsFunc(cd.Capacity, func(r binpack.CapacityRecord) bool {
		return r.GPU == pr.GPU && r.Profile == pr.Profile && r.NoFit()
	})
}

// replicaMemory is the GPU memory one replica needs on a service profile:
// the demand's record's memoryGiB if it has one, else the class's
// gpuMemory (mem).
func replicaMemory(mem float64, pr *policies.ServiceProfile, cd binpack.ClassDemand) float64 {
	for _, r := range cd.Capacity {
		if r.GPU == pr.GPU && r.Profile == pr.Profile && r.MemoryGiB != nil {
			return *r.MemoryGiB
		}
	}
	return mem
}

// replicaCapacity is the requests/s one replica serves within the SLO on a
// service profile: the demand's record if it has one, else the
// TargetUtilization rule.
func replicaCapacity(mc *policies.ModelClass, pr *policies.ServiceProfile, cd binpack.ClassDemand) (float64, bool, string) {
	for _, r := range cd.Capacity {
		if r.GPU == pr.GPU && r.Profile == pr.Profile {
			if r.NoFit() {
				return 0, false, fmt.Sprintf("%s %s: the model does not fit (demand line %d: fits: false)", pr.GPU, pr.Profile, cd.Line)
			}
			if r.Rate > 0 {
				return r.Rate, true, ""
			}
		}
	}
	slo := mc.Spec.SLO.Latency.Duration
	p95 := pr.ServiceTime.P95.Duration
	if p95 == 0 {
		p95 = 2 * pr.ServiceTime.Mean.Duration
	}
	if slo > 0 && p95 > slo {
		return 0, false, fmt.Sprintf("%s %s: p95 service time %v exceeds the SLO latency %v", pr.GPU, pr.Profile, p95, slo)
	}
	if pr.ServiceTime.Mean.Duration <= 0 {
		return 0, false, fmt.Sprintf("%s %s: no mean service time", pr.GPU, pr.Profile)
	}
	conc := max(pr.Concurrency, 1)
	return TargetUtilization * float64(conc) / pr.ServiceTime.Mean.Seconds(), true, ""
}
