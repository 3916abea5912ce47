package kube

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/scaler"
)

// Snapshot implements scaler.Cluster from the informer caches: no request
// to the API server. It fails before the caches have synced, and when the
// mig-parted ConfigMap does not parse (a node's layout could then be
// misread; the core holds the cluster side instead).
func (k *Cluster) Snapshot(ctx context.Context) (scaler.ClusterState, error) {
	if err := k.Ready(); err != nil {
		return scaler.ClusterState{}, err
	}
	if err := ctx.Err(); err != nil {
		return scaler.ClusterState{}, err
	}
	var st scaler.ClusterState
	var err error
	if st.MIGConfigs, err = k.migConfigs(); err != nil {
		return scaler.ClusterState{}, err
	}
	nodes, err := k.nodes.List(labels.Everything())
	if err != nil {
		return scaler.ClusterState{}, fmt.Errorf("listing cached nodes: %w", err)
	}
	st.Nodes = make([]scaler.Node, 0, len(nodes))
	shared := map[string]bool{} // nodes whose GPUs are time-sliced
	for _, n := range nodes {
		st.Nodes = append(st.Nodes, toNode(n))
		if v, ok := n.Labels[GPUReplicasLabel]; ok && v != "1" && atoi(v) > 1 {
			shared[n.Name] = true
		}
	}
	pods, err := k.pods.List(labels.Everything())
	if err != nil {
		return scaler.ClusterState{}, fmt.Errorf("listing cached pods: %w", err)
	}
	st.Pods = make([]scaler.Pod, 0, len(pods))
	for _, p := range pods {
		if p.Labels[k.opts.ClassLabel] == "" { // the label with an empty value names no class
			continue
		}
		pod := k.toPod(p)
		if pod.Profile == catalog.ProfileWhole && shared[pod.Node] {
			// nvidia.com/gpu on a node whose device plugin shares each GPU.
			pod.Profile = catalog.ProfileTimeSliced
		}
		st.Pods = append(st.Pods, pod)
	}
	deps, err := k.deployments.List(labels.Everything())
	if err != nil {
		return scaler.ClusterState{}, fmt.Errorf("listing cached deployments: %w", err)
	}
	for _, d := range deps {
		if d.Labels[k.opts.ClassLabel] == "" {
			continue
		}
		st.Deployments = append(st.Deployments, scaler.Deployment{Class: d.Labels[k.opts.ClassLabel], Replicas: replicas(d)})
	}
	// Listers return map order; the core sorts what it needs, but a stable
	// snapshot makes logs and diffs readable.
	slices.SortFunc(st.Nodes, func(a, b scaler.Node) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(st.Pods, func(a, b scaler.Pod) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(st.Deployments, func(a, b scaler.Deployment) int { return strings.Compare(a.Class, b.Class) })
	return st, nil
}

// migConfigs parses the cached mig-parted ConfigMap. No ConfigMap is no
// published config (a cluster without the MIG manager); a ConfigMap
// without the key, or one that does not parse, is an error.
func (k *Cluster) migConfigs() (map[string]catalog.MIGConfig, error) {
	ref := k.opts.MIGConfigMap
	cm, err := k.configMaps.ConfigMaps(ref.Namespace).Get(ref.Name)
	if err != nil {
		if isNotFound(err) {
			return map[string]catalog.MIGConfig{}, nil
		}
		return nil, fmt.Errorf("mig-parted ConfigMap %s: %w", ref, err)
	}
	// Parsing is most of a small snapshot's cost; parse once per version.
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.migParsed == nil || k.migVersion != string(cm.UID)+"/"+cm.ResourceVersion {
		cfgs, err := parseConfigMap(cm, ref)
		if err != nil {
			return nil, err
		}
		k.migParsed, k.migVersion = cfgs, string(cm.UID)+"/"+cm.ResourceVersion
	}
	return maps.Clone(k.migParsed), nil
}

func parseConfigMap(cm *corev1.ConfigMap, ref ConfigMapRef) (map[string]catalog.MIGConfig, error) {
	data, ok := cm.Data[ref.Key]
	if !ok {
		return nil, fmt.Errorf("mig-parted ConfigMap %s: no key %q", ref, ref.Key)
	}
	cfgs, err := catalog.ParseMIGParted([]byte(data))
	if err != nil {
		return nil, fmt.Errorf("mig-parted ConfigMap %s (resourceVersion %s): %w", ref, cm.ResourceVersion, err)
	}
	return cfgs, nil
}

func toNode(n *corev1.Node) scaler.Node {
	out := scaler.Node{
		Name:         n.Name,
		NodeGroup:    n.Labels[NodeGroupLabel],
		InstanceType: n.Labels[InstanceTypeLabel],
		CapacityType: CapacityType(n.Labels[CapacityTypeLabel]),
		Cordoned:     n.Spec.Unschedulable,
		MIGConfig:    n.Labels[MIGConfigLabel],
		MIGState:     n.Labels[MIGConfigStateLabel],
		DoNotDisrupt: isTrue(n.Annotations[DoNotDisruptAnn]),
		Created:      n.CreationTimestamp.Time,
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			out.Ready = c.Status == corev1.ConditionTrue
		}
	}
	return out
}

// isTrue reads an annotation the way Karpenter reads its do-not-disrupt:
// "true" (any case) is set; a missing or other value is not.
func isTrue(v string) bool { return strings.EqualFold(v, "true") }

// CapacityType maps the eks.amazonaws.com/capacityType label (ON_DEMAND,
// SPOT) to the core's "on-demand" and "spot". Karpenter's lowercase values
// are accepted too; anything else, or no label, is "" (unknown).
func CapacityType(label string) string {
	switch label {
	case "ON_DEMAND", "on-demand":
		return "on-demand"
	case "SPOT", "spot":
		return "spot"
	}
	return ""
}

// toPod maps a reader pod. Phases, as the core sees them:
//
//	failed   status.phase Failed or Succeeded, or being deleted (it no
//	         longer serves and will not count as a replica)
//	pending  not bound to a node
//	loading  bound, Ready condition not True (image pull, model load)
//	ready    Ready condition True
func (k *Cluster) toPod(p *corev1.Pod) scaler.Pod {
	out := scaler.Pod{
		Name:    p.Name,
		Class:   p.Labels[k.opts.ClassLabel],
		Node:    p.Spec.NodeName,
		Profile: k.podProfile(&p.Spec),
		Started: p.CreationTimestamp.Time,
	}
	if p.Status.StartTime != nil {
		out.Started = p.Status.StartTime.Time
	}
	switch {
	case p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded || p.DeletionTimestamp != nil:
		out.Phase = scaler.PodFailed
	case p.Spec.NodeName == "":
		out.Phase = scaler.PodPending
	case podReady(p):
		out.Phase = scaler.PodReady
	default:
		out.Phase = scaler.PodLoading
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podProfile reads the GPU slice of the reader container (else of any
// container that requests one).
func (k *Cluster) podProfile(spec *corev1.PodSpec) string {
	var fallback string
	for i := range spec.Containers {
		c := &spec.Containers[i]
		p := containerProfile(c)
		if c.Name == k.opts.Container && p != "" {
			return p
		}
		if fallback == "" {
			fallback = p
		}
	}
	return fallback
}

// containerProfile reads a container's GPU resource from its limits (where
// extended resources must be set), else its requests; with several, the
// first by name.
func containerProfile(c *corev1.Container) string {
	if p := ProfileOf(firstGPU(c.Resources.Limits)); p != "" {
		return p
	}
	return ProfileOf(firstGPU(c.Resources.Requests))
}

// firstGPU returns the first (by name) GPU resource with a non-zero
// quantity in l, or "". It runs for every cached pod on every Snapshot,
// so it does not allocate.
func firstGPU(l corev1.ResourceList) string {
	best := ""
	for n, q := range l {
		s := string(n)
		if !strings.HasPrefix(s, "nvidia.com/") || (best != "" && s >= best) || q.IsZero() || ProfileOf(s) == "" {
			continue
		}
		best = s
	}
	return best
}

// gpuResources returns the GPU resource names in l, sorted.
func gpuResources(l corev1.ResourceList) []string {
	var out []string
	for n := range l {
		if ProfileOf(string(n)) != "" {
			out = append(out, string(n))
		}
	}
	slices.Sort(out)
	return out
}

// ProfileOf maps a GPU resource name to the slice profile, the inverse of
// catalog.ResourceName with the device plugin's mixed strategy:
// nvidia.com/mig-<profile> is <profile>, nvidia.com/gpu is "whole", and
// nvidia.com/gpu.shared, the name the device plugin's renameByDefault
// gives time-sliced replicas, is "timesliced". Anything else is "".
// (A time-sliced GPU also advertises nvidia.com/gpu; Snapshot tells it
// from the node's nvidia.com/gpu.replicas label.)
func ProfileOf(resource string) string {
	switch resource {
	case "nvidia.com/gpu":
		return catalog.ProfileWhole
	case "nvidia.com/gpu.shared":
		return catalog.ProfileTimeSliced
	}
	p, ok := strings.CutPrefix(resource, "nvidia.com/mig-")
	if !ok || !validProfile(p) {
		return ""
	}
	return p
}

// validProfile accepts MIG profile names as the device plugin advertises
// them: "<g>g.<mem>gb" with optional "+<attr>" suffixes ("1g.10gb+me"):
// digits, then "g.", then a digit, then lowercase letters, digits, '.',
// '+' and '-' only.
func validProfile(p string) bool {
	if p == "" || p == catalog.ProfileWhole || p == catalog.ProfileTimeSliced {
		return false
	}
	g, mem, ok := strings.Cut(p, "g.")
	if !ok || !isDigits(g) || mem == "" || mem[0] < '0' || mem[0] > '9' {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '+' || r == '-') {
			return false
		}
	}
	return true
}

// atoi reads a non-negative decimal label value, -1 for anything else.
func atoi(s string) int {
	if !isDigits(s) || len(s) > 9 {
		return -1
	}
	n, _ := strconv.Atoi(s)
	return n
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func replicas(d *appsv1.Deployment) int {
	if d.Spec.Replicas == nil {
		return 1 // the API's default
	}
	return int(*d.Spec.Replicas)
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
