package sandbox

import (
	"fmt"
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler/kube"
)

// Labels and annotations the sandbox sets on its kwok nodes.
const (
	// KwokNodeAnnotation marks a node as kwok's, as kwok's own examples
	// do (kwokctl runs kwok with --manage-all-nodes, so it is informative).
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
	// AppliedMIGAnnotation is the MIG config the node's GPUs hold now, as
	// the MIG manager stand-in last applied it.
	AppliedMIGAnnotation = "sandbox.headroom.dev/mig-applied"
	// PendingSinceAnnotation is when the MIG manager stand-in started
	// applying the node's nvidia.com/mig.config (RFC 3339).
	PendingSinceAnnotation = "sandbox.headroom.dev/mig-pending-since"
	// InstanceLabel names the cloud instance a node stands for.
	InstanceLabel = "sandbox.headroom.dev/instance"

	migResourcePrefix = "nvidia.com/mig-"
	gpuResource       = "nvidia.com/gpu"
)

// NodeInput is one instance of a nodegroup.
type NodeInput struct {
	InstanceID string
	Zone       string
	// PodCIDR is the node's spec.podCIDR: kwok gives the node's pods IPs
	// from it. The sandbox keeps it inside 127.0.0.0/8.
	PodCIDR string
	// MIGConfig is the node's initial nvidia.com/mig.config in the MIG
	// modes: the layout's name for mig-fixed; for mig-dynamic, "" is
	// catalog.MIGDisabledName (a new GPU has MIG off).
	MIGConfig string
}

// Node builds the kwok Node for one instance of nodegroup ng: the labels
// scaler/kube reads (nodegroup, capacity type, instance type, MIG config
// and state), the nodegroup's own labels and taints, and the instance
// type's CPU, memory and GPU resources (nvidia.com/mig-<profile> counts
// from the MIG config, or nvidia.com/gpu whole or time-sliced). migs are
// the mig-parted configs by name, for mig-dynamic.
func Node(ng *policies.NodeGroup, cat *catalog.Catalog, in NodeInput, migs map[string]catalog.MIGConfig) (*corev1.Node, error) {
	it, ok := cat.Instance(ng.Spec.InstanceType)
	if !ok {
		return nil, fmt.Errorf("nodegroup %s: instance type %q not in the catalog", ng.Name, ng.Spec.InstanceType)
	}
	name := "ip-" + in.InstanceID
	capType := "ON_DEMAND"
	if ng.Spec.CapacityType == policies.CapacitySpot {
		capType = "SPOT"
	}
	labels := map[string]string{
		"kubernetes.io/hostname":      name,
		"kubernetes.io/os":            "linux",
		"kubernetes.io/arch":          "amd64",
		"type":                        "kwok",
		"topology.kubernetes.io/zone": in.Zone,
		kube.NodeGroupLabel:           ng.Name,
		kube.CapacityTypeLabel:        capType,
		kube.InstanceTypeLabel:        ng.Spec.InstanceType,
		InstanceLabel:                 in.InstanceID,
	}
	maps.Copy(labels, ng.Spec.NodeLabels)
	ann := map[string]string{KwokNodeAnnotation: "fake"}
	alloc := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(it.VCPU), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(int64(it.MemoryGiB*(1<<30)), resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
	}
	switch ng.Spec.GPU.Mode {
	case policies.GPUModeMIGFixed, policies.GPUModeMIGDynamic:
		cfgName := in.MIGConfig
		var cfg catalog.MIGConfig
		switch {
		case ng.Spec.GPU.Mode == policies.GPUModeMIGFixed && ng.Spec.GPU.Layout != nil:
			if cfgName == "" {
				cfgName = ng.Spec.GPU.Layout.Name
			}
			cfg = catalog.MIGConfig{Name: cfgName, Entries: []catalog.MIGEntry{{MIGEnabled: true, MIGDevices: ng.Spec.GPU.Layout.Devices}}}
		case cfgName == "" || cfgName == catalog.MIGDisabledName:
			cfgName, cfg = catalog.MIGDisabledName, catalog.MIGDisabled()
		default:
			if cfg, ok = migs[cfgName]; !ok {
				return nil, fmt.Errorf("nodegroup %s: MIG config %q not in the mig-parted ConfigMap", ng.Name, cfgName)
			}
		}
		labels[kube.MIGConfigLabel] = cfgName
		labels[kube.MIGConfigStateLabel] = "success"
		ann[AppliedMIGAnnotation] = cfgName
		maps.Copy(alloc, MIGResources(cfg, it.GPUs))
	case policies.GPUModeWhole:
		alloc[gpuResource] = *resource.NewQuantity(int64(it.GPUs), resource.DecimalSI)
	case policies.GPUModeTimeSliced:
		r := max(ng.Spec.GPU.Replicas, 1)
		labels[kube.GPUReplicasLabel] = strconv.Itoa(r)
		alloc[gpuResource] = *resource.NewQuantity(int64(it.GPUs*r), resource.DecimalSI)
	}
	var taints []corev1.Taint
	for _, t := range ng.Spec.Taints {
		taints = append(taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: ann},
		Spec: corev1.NodeSpec{
			ProviderID: "aws:///" + in.Zone + "/" + in.InstanceID,
			PodCIDR:    in.PodCIDR,
			PodCIDRs:   nonEmpty(in.PodCIDR),
			Taints:     taints,
		},
		Status: corev1.NodeStatus{Capacity: alloc.DeepCopy(), Allocatable: alloc},
	}, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// MIGResources is the device plugin's mixed-strategy view of a node whose
// gpus GPUs hold cfg: one nvidia.com/mig-<profile> count per profile, and
// nvidia.com/gpu for the GPUs with MIG off. Every resource of either kind
// is listed, at 0 when absent, so that a patch with it removes what a
// previous config had.
func MIGResources(cfg catalog.MIGConfig, gpus int) corev1.ResourceList {
	out := corev1.ResourceList{}
	whole := 0
	for _, g := range cfg.PerGPU(gpus) {
		if len(g) == 0 {
			whole++
		}
		for p, n := range g {
			q := out[corev1.ResourceName(migResourcePrefix+p)]
			q.Add(*resource.NewQuantity(int64(n), resource.DecimalSI))
			out[corev1.ResourceName(migResourcePrefix+p)] = q
		}
	}
	out[gpuResource] = *resource.NewQuantity(int64(whole), resource.DecimalSI)
	return out
}
