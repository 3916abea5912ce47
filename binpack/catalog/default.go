package catalog

// DefaultSpotFraction is the spot price assumed for an instance type without
// an observed one, as a fraction of its on-demand price. AWS GPU types are
// typically 50-70% below on-demand on spot; 0.4 sits in that range. Set
// spotPrice in policy, or feed DescribeSpotPriceHistory, to do better.
const DefaultSpotFraction = 0.4

// Sources of the built-in data. Prices change (a June 2025 cut lowered p5 by
// about 44%), so every price carries its source and date, and policy can
// override it.
const (
	gpuPriceSource = "aws/karpenter-provider-aws pkg/providers/pricing/zz_generated.pricing_aws.go, us-east-1 Linux on-demand"
	gpuPriceDate   = "2026-07-20"
	cpuPriceSource = "AWS EC2 on-demand pricing, us-east-1 Linux (list price)"
	cpuPriceDate   = "2026-07-20"
)

// mig builds the MIG profiles of one GPU from the geometry shared by A100,
// H100 and H200 (NVIDIA MIG User Guide, "Supported MIG profiles"):
//
//	family            memory slices  starts
//	1g                1              0..6
//	1g double memory  2              0,2,4,6
//	2g                2              0,2,4
//	3g                4              0,4
//	4g                4              0
//	7g                8              0
//
// names and usable memory differ per GPU and are passed in that order.
func mig(names [6]string, usable [6]float64, sources [6]string) []Profile {
	shape := [6]struct {
		compute, memory int
		starts          []int
	}{
		{1, 1, []int{0, 1, 2, 3, 4, 5, 6}},
		{1, 2, []int{0, 2, 4, 6}},
		{2, 2, []int{0, 2, 4}},
		{3, 4, []int{0, 4}},
		{4, 4, []int{0}},
		{7, 8, []int{0}},
	}
	out := make([]Profile, 6)
	for i, s := range shape {
		out[i] = Profile{Name: names[i], Compute: s.compute, Memory: s.memory, Starts: s.starts, UsableGiB: usable[i], Source: sources[i]}
	}
	return out
}

const (
	pub = "published"
	est = "estimate"
)

// Default returns a fresh copy of the built-in catalog.
//
// GPU geometry and usable memory: NVIDIA MIG User Guide "Supported MIG
// profiles" and `nvidia-smi mig -lgipp` output for H100, via
// shared/reference/mig.md. Values marked "estimate" scale the nominal size by
// the usable/nominal ratio published for the same family on H100; check them
// against NVML's MemorySizeMB on a real node and override where they differ.
// Whole-GPU memory for A10G, L4 and L40S is the total nvidia-smi reports on
// AWS g5/g6/g6e instances.
//
// Instance types and on-demand prices: aws/karpenter-provider-aws generated
// pricing table (us-east-1, generated 2026-07-20) via
// shared/reference/aws-gpu-instances.md; p5en.48xlarge spot was observed at
// $27.20 in us-east-1 in August 2026; other spot prices are the
// DefaultSpotFraction assumption.
func Default() *Catalog {
	c := &Catalog{GPUs: map[string]*GPU{}, Instances: map[string]*InstanceType{}}
	for _, g := range []GPU{
		{Name: "A100-40GB", MemoryGiB: 39.25, MIG: true, Profiles: mig(
			[6]string{"1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"},
			[6]float64{4.75, 9.75, 9.75, 19.62, 19.62, 39.25},
			[6]string{pub, est, pub, pub, pub, pub})},
		{Name: "A100-80GB", MemoryGiB: 79.25, MIG: true, Profiles: mig(
			[6]string{"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"},
			[6]float64{9.75, 19.62, 19.62, 39.5, 39.5, 79.25},
			[6]string{est, est, est, est, est, est})},
		{Name: "H100-80GB", MemoryGiB: 79.25, MIG: true, Profiles: mig(
			[6]string{"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"},
			[6]float64{9.75, 19.62, 19.62, 39.5, 39.5, 79.25},
			[6]string{pub, pub, pub, pub, pub, pub})},
		{Name: "H200-141GB", MemoryGiB: 139.75, MIG: true, Profiles: mig(
			[6]string{"1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"},
			[6]float64{17.5, 34.25, 34.25, 69.5, 69.5, 139.75},
			[6]string{est, est, est, est, est, est})},
		{Name: "A10G-24GB", MemoryGiB: 22.49},
		{Name: "L4-24GB", MemoryGiB: 22.49},
		{Name: "L40S-48GB", MemoryGiB: 44.99},
	} {
		g := g
		c.GPUs[g.Name] = &g
	}
	type row struct {
		name     string
		gpu      string
		gpus     int
		vcpu     int
		mem      float64
		onDemand float64
		spot     float64
	}
	for _, r := range []row{
		{"p4d.24xlarge", "A100-40GB", 8, 96, 1152, 21.958, 0},
		{"p4de.24xlarge", "A100-80GB", 8, 96, 1152, 27.447, 0},
		{"p5.4xlarge", "H100-80GB", 1, 16, 256, 6.88, 0},
		{"p5.48xlarge", "H100-80GB", 8, 192, 2048, 55.04, 0},
		{"p5en.48xlarge", "H200-141GB", 8, 192, 2048, 63.296, 27.20},
		{"g5.xlarge", "A10G-24GB", 1, 4, 16, 1.006, 0},
		{"g5.12xlarge", "A10G-24GB", 4, 48, 192, 5.672, 0},
		{"g5.48xlarge", "A10G-24GB", 8, 192, 768, 16.288, 0},
		{"g6.xlarge", "L4-24GB", 1, 4, 16, 0.805, 0},
		{"g6.12xlarge", "L4-24GB", 4, 48, 192, 4.602, 0},
		{"g6.48xlarge", "L4-24GB", 8, 192, 768, 13.350, 0},
		{"g6e.xlarge", "L40S-48GB", 1, 4, 32, 1.861, 0},
		{"g6e.12xlarge", "L40S-48GB", 4, 48, 384, 10.493, 0},
		{"g6e.48xlarge", "L40S-48GB", 8, 192, 1536, 30.131, 0},
		// CPU-only types for the router, retrievers and document stores.
		{"m6i.2xlarge", "", 0, 8, 32, 0.384, 0},
		{"m6i.4xlarge", "", 0, 16, 64, 0.768, 0},
		{"c6i.2xlarge", "", 0, 8, 16, 0.34, 0},
		{"c6i.4xlarge", "", 0, 16, 32, 0.68, 0},
		{"r6i.2xlarge", "", 0, 8, 64, 0.504, 0},
	} {
		t := InstanceType{Name: r.name, GPU: r.gpu, GPUs: r.gpus, VCPU: r.vcpu, MemoryGiB: r.mem,
			OnDemandPrice: r.onDemand, SpotPrice: r.spot, PriceSource: gpuPriceSource, PriceDate: gpuPriceDate}
		if r.gpu == "" {
			t.PriceSource, t.PriceDate = cpuPriceSource, cpuPriceDate
		}
		if r.spot > 0 {
			t.SpotSource = "observed us-east-1, 2026-08"
		}
		if err := c.AddInstance(t); err != nil {
			panic("catalog: built-in data is invalid: " + err.Error()) // caught by TestDefaultIsValid
		}
	}
	return c
}
