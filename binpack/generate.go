package binpack

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// GenerateSpec describes a generated benchmark instance.
type GenerateSpec struct {
	Classes int
	// GPUs is roughly how many GPUs the demand needs.
	GPUs int
	Seed uint64
}

// Generate builds a deterministic packing problem: a mix of model classes
// (small to large memory, rate or replica demand, spot never/allowed/
// preferred, some with a minimum on-demand share) over A100-80GB (p4de),
// H100 (p5.48xlarge, p5.4xlarge) and H200 (p5en) nodegroups in
// mig-dynamic mode, on-demand and spot, with the cheapest spot group
// capped by a max size. The same spec always gives the same problem.
func Generate(spec GenerateSpec) *Problem {
	rng := rand.New(rand.NewPCG(spec.Seed, 0x6865616472))
	cat := catalog.Default()
	gpuTarget := max(spec.GPUs, 8)
	p := &Problem{Catalog: cat, ChangeCost: 0.5}
	p.NodeGroups = []NodeGroup{
		{Name: "a100-od", InstanceType: "p4de.24xlarge", CapacityType: OnDemand, Mode: ModeMIGDynamic},
		{Name: "a100-spot", InstanceType: "p4de.24xlarge", CapacityType: Spot, Mode: ModeMIGDynamic, Max: max(1, gpuTarget/8/8)},
		{Name: "h100-od", InstanceType: "p5.48xlarge", CapacityType: OnDemand, Mode: ModeMIGDynamic},
		{Name: "h100-1gpu-od", InstanceType: "p5.4xlarge", CapacityType: OnDemand, Mode: ModeMIGDynamic},
		{Name: "h100-spot", InstanceType: "p5.48xlarge", CapacityType: Spot, Mode: ModeMIGDynamic, Max: max(1, gpuTarget/8/4)},
		{Name: "h200-od", InstanceType: "p5en.48xlarge", CapacityType: OnDemand, Mode: ModeMIGDynamic},
		{Name: "h200-spot", InstanceType: "p5en.48xlarge", CapacityType: Spot, Mode: ModeMIGDynamic, Max: max(1, gpuTarget/8/4)},
	}
	speed := map[string]float64{"A100-80GB": 1.0, "H100-80GB": 1.8, "H200-141GB": 2.0}
	gpus := []string{"A100-80GB", "H100-80GB", "H200-141GB"}
	mems := []float64{4, 8, 8, 15, 15, 18, 30, 36, 60}
	weights := make([]float64, spec.Classes)
	total := 0.0
	for i := range weights {
		weights[i] = math.Exp(rng.NormFloat64())
		total += weights[i]
	}
	for i := 0; i < spec.Classes; i++ {
		mem := mems[rng.IntN(len(mems))]
		base := 20 * (0.5 + rng.Float64()) * 15 / (mem + 5) // requests/s of a 1g-sized compute share on A100
		c := Class{Name: fmt.Sprintf("class-%04d", i), Tenant: fmt.Sprintf("tenant-%d", i%5), MinReplicas: 1}
		refPerGPU := 0.0
		for _, gname := range gpus {
			g, _ := cat.GPU(gname)
			for _, prof := range g.Profiles {
				if prof.UsableGiB < mem {
					continue
				}
				// Throughput grows a little slower than compute slices.
				capacity := base * speed[gname] * math.Pow(float64(prof.Compute), 0.9)
				c.Options = append(c.Options, Option{GPU: gname, Profile: prof.Name, Capacity: round6(capacity), MemoryGiB: mem})
				if gname == "H100-80GB" {
					refPerGPU = math.Max(refPerGPU, capacity*float64(catalog.ComputeSlices/prof.Compute))
				}
			}
		}
		switch r := rng.Float64(); {
		case r < 0.2:
			c.Spot = SpotNever
		case r < 0.4:
			c.Spot = SpotPreferred
		default:
			c.Spot = SpotAllowed
		}
		if c.Spot != SpotNever && rng.Float64() < 0.3 {
			c.MinOnDemandFraction = 0.3
		}
		demandGPUs := weights[i] / total * float64(gpuTarget)
		if rng.Float64() < 0.1 {
			// Replica demand for a fixed profile: the smallest that fits.
			c.Replicas = max(1, int(math.Round(demandGPUs*4)))
			c.Options = c.Options[:min(len(c.Options), 3)]
		} else {
			c.Rate = round6(demandGPUs * refPerGPU)
		}
		p.Classes = append(p.Classes, c)
	}
	return p
}
