package sandbox

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler/kube"
)

func TestNodeFollowsItsNodegroup(t *testing.T) {
	cat := catalog.Default()
	in := NodeInput{InstanceID: "i-7", Zone: "eu-central-1b", PodCIDR: "127.10.7.0/24"}
	fixed := &policies.NodeGroup{Name: "od", Spec: policies.NodeGroupSpec{InstanceType: "p5.48xlarge", CapacityType: "on-demand",
		NodeLabels: map[string]string{"headroom.dev/pool": "readers"},
		Taints:     []policies.Taint{{Key: "nvidia.com/gpu", Effect: "NoSchedule"}},
		GPU:        policies.GPUConfig{Mode: policies.GPUModeMIGFixed, Layout: &policies.NamedLayout{Name: "balanced", Devices: map[string]int{"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}}}}}
	n, err := Node(fixed, cat, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{kube.NodeGroupLabel: "od", kube.CapacityTypeLabel: "ON_DEMAND", kube.InstanceTypeLabel: "p5.48xlarge",
		kube.MIGConfigLabel: "balanced", kube.MIGConfigStateLabel: "success", "headroom.dev/pool": "readers", "topology.kubernetes.io/zone": "eu-central-1b"} {
		if n.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, n.Labels[k], want)
		}
	}
	if n.Spec.ProviderID != "aws:///eu-central-1b/i-7" || n.Spec.PodCIDR != "127.10.7.0/24" || len(n.Spec.Taints) != 1 {
		t.Errorf("spec %+v", n.Spec)
	}
	// 8 GPUs: 8 x 3g.40gb, 8 x 2g.20gb, 16 x 1g.10gb, no whole GPU.
	for res, want := range map[string]int64{"nvidia.com/mig-3g.40gb": 8, "nvidia.com/mig-2g.20gb": 8, "nvidia.com/mig-1g.10gb": 16, "nvidia.com/gpu": 0, "cpu": 192} {
		q := n.Status.Allocatable[corev1.ResourceName(res)]
		if q.Value() != want {
			t.Errorf("%s = %s, want %d", res, q.String(), want)
		}
	}

	spot := &policies.NodeGroup{Name: "ts", Spec: policies.NodeGroupSpec{InstanceType: "g6.12xlarge", CapacityType: "spot",
		GPU: policies.GPUConfig{Mode: policies.GPUModeTimeSliced, Replicas: 4}}}
	n, err = Node(spot, cat, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q := n.Status.Allocatable["nvidia.com/gpu"]; q.Value() != 16 || n.Labels[kube.CapacityTypeLabel] != "SPOT" || n.Labels[kube.GPUReplicasLabel] != "4" {
		t.Errorf("time-sliced spot: gpu %s, labels %v", q.String(), n.Labels)
	}
	if _, ok := n.Labels[kube.MIGConfigLabel]; ok {
		t.Error("a time-sliced node has a MIG config")
	}

	dyn := &policies.NodeGroup{Name: "dyn", Spec: policies.NodeGroupSpec{InstanceType: "p5.4xlarge", GPU: policies.GPUConfig{Mode: policies.GPUModeMIGDynamic}}}
	if _, err := Node(dyn, cat, NodeInput{InstanceID: "i-8", MIGConfig: "nope"}, nil); err == nil {
		t.Error("a MIG config the ConfigMap lacks was accepted")
	}
	n, err = Node(dyn, cat, NodeInput{InstanceID: "i-8"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q := n.Status.Allocatable["nvidia.com/gpu"]; n.Labels[kube.MIGConfigLabel] != catalog.MIGDisabledName || q.Value() != 1 {
		t.Errorf("new mig-dynamic node: config %q, gpu %s; want MIG off, 1 GPU", n.Labels[kube.MIGConfigLabel], q.String())
	}
	if _, err := Node(&policies.NodeGroup{Name: "x", Spec: policies.NodeGroupSpec{InstanceType: "nope"}}, cat, in, nil); err == nil {
		t.Error("an unknown instance type was accepted")
	}
}
