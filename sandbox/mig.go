package sandbox

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/scaler/kube"
)

// MIG config states, as the GPU operator's MIG manager writes them in
// nvidia.com/mig.config.state.
const (
	MIGPending = "pending"
	MIGSuccess = "success"
	MIGFailed  = "failed"
)

// MIGNode is what the MIG manager stand-in reads of a node.
type MIGNode struct {
	Name string
	// Want is nvidia.com/mig.config, State nvidia.com/mig.config.state.
	Want, State string
	// Applied is the config the GPUs hold (AppliedMIGAnnotation).
	Applied string
	// PendingSince is when the stand-in started applying Want; zero when
	// it has not.
	PendingSince time.Time
	GPUs         int
}

// MIGStep is one change to a node: new labels and annotations (an empty
// value removes the key) and, on success, the node's MIG resources.
type MIGStep struct {
	Labels, Annotations map[string]string
	Resources           corev1.ResourceList
}

// PlanMIG is the MIG manager stand-in's decision for one node at now: a
// new nvidia.com/mig.config starts the re-partition (state pending, its
// start recorded); repartition later the node's MIG resources become the
// config's (from the mig-parted configs migs) and the state success, or
// failed when the ConfigMap lacks the config. The real MIG manager also
// stops the GPU clients first; headroom drains the node before it sets
// the label, and this stand-in does not check. nil: nothing to do.
func PlanMIG(now time.Time, n MIGNode, migs map[string]catalog.MIGConfig, repartition time.Duration) *MIGStep {
	if n.Want == "" {
		return nil
	}
	if n.Want == n.Applied {
		if n.State == MIGSuccess {
			return nil
		}
		return &MIGStep{Labels: map[string]string{kube.MIGConfigStateLabel: MIGSuccess}, Annotations: map[string]string{PendingSinceAnnotation: ""}}
	}
	if n.PendingSince.IsZero() || n.State != MIGPending {
		if n.State == MIGFailed && !n.PendingSince.IsZero() {
			return nil // failed on this config already; headroom's next relabel sets pending, which starts again
		}
		return &MIGStep{Labels: map[string]string{kube.MIGConfigStateLabel: MIGPending},
			Annotations: map[string]string{PendingSinceAnnotation: now.UTC().Format(time.RFC3339Nano)}}
	}
	if now.Before(n.PendingSince.Add(repartition)) {
		return nil
	}
	cfg, ok := migs[n.Want]
	if n.Want == catalog.MIGDisabledName {
		cfg, ok = catalog.MIGDisabled(), true
	}
	if !ok {
		return &MIGStep{Labels: map[string]string{kube.MIGConfigStateLabel: MIGFailed}}
	}
	return &MIGStep{
		Labels:      map[string]string{kube.MIGConfigStateLabel: MIGSuccess},
		Annotations: map[string]string{AppliedMIGAnnotation: n.Want, PendingSinceAnnotation: ""},
		Resources:   MIGResources(cfg, n.GPUs),
	}
}

// ReadMIGNode reads a node's MIG view; gpus comes from its instance type.
func ReadMIGNode(n *corev1.Node, gpus int) MIGNode {
	m := MIGNode{Name: n.Name, Want: n.Labels[kube.MIGConfigLabel], State: n.Labels[kube.MIGConfigStateLabel],
		Applied: n.Annotations[AppliedMIGAnnotation], GPUs: gpus}
	if t, err := time.Parse(time.RFC3339Nano, n.Annotations[PendingSinceAnnotation]); err == nil {
		m.PendingSince = t
	}
	return m
}
