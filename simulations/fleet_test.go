package simulations

import (
	"fmt"
	"strings"
	"testing"

	"github.com/headroom-dev/headroom/policies"
)

// syntheticFleet returns a policy with n reader classes on H100 MIG slices,
// for benchmarks and flow/request agreement tests: class i has mean
// service time 20+2i ms, p95 twice that, concurrency 4, SLO 300ms at p95.
func syntheticFleet(t testing.TB, n int) *policies.Policy { return syntheticFleetSLO(t, n, 300) }

// syntheticFleetSLO is syntheticFleet with the given SLO latency in ms.
func syntheticFleetSLO(t testing.TB, n, sloMs int) *policies.Policy {
	t.Helper()
	var b strings.Builder
	b.WriteString(`apiVersion: headroom.dev/v1alpha1
kind: NodeGroup
metadata: {name: h100-ondemand}
spec:
  instanceType: p5.48xlarge
  capacityType: on-demand
  size: {min: 1, max: 200}
  gpu: {mode: mig-dynamic}
  bootTime: 5m
---
apiVersion: headroom.dev/v1alpha1
kind: NodeGroup
metadata: {name: h100-spot}
spec:
  instanceType: p5.48xlarge
  capacityType: spot
  size: {min: 0, max: 100}
  gpu: {mode: mig-dynamic}
  bootTime: 5m
`)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `---
apiVersion: headroom.dev/v1alpha1
kind: ModelClass
metadata: {name: reader-%02d}
spec:
  image: reader:1
  model: {path: /models/r%02d, loadTime: 60s}
  resources: {cpu: "2", memory: 8Gi}
  gpuMemory: 8Gi
  profiles:
    - {gpu: H100-80GB, profile: 1g.10gb, serviceTime: {mean: %dms, p95: %dms}, concurrency: 4}
  slo: {latency: %dms, percentile: 95}
  scaling: {minReplicas: 1, maxReplicas: 400}
  placement: {spot: allowed}
`, i, i, 20+2*i, 40+4*i, sloMs)
	}
	p, err := policies.Parse("synthetic.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("synthetic fleet: %v", err)
	}
	return p
}

func classNames(p *policies.Policy) []string {
	var out []string
	for _, c := range p.Classes {
		out = append(out, c.Name)
	}
	return out
}
