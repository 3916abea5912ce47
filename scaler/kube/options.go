package kube

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// VPA modes: how SetResources writes a class's vertical recommendation.
const (
	// VPAModeAuto writes a VerticalPodAutoscaler when the
	// autoscaling.k8s.io/v1 API is served, else patches the Deployment.
	VPAModeAuto = "auto"
	// VPAModeVPA always writes a VerticalPodAutoscaler; SetResources fails
	// when the CRD is not installed.
	VPAModeVPA = "vpa"
	// VPAModePatchRequests patches the Deployment's container requests (and
	// limits, keeping their ratio); the rolling update applies them.
	VPAModePatchRequests = "patch-requests"
)

// Labels and annotations headroom reads and writes (docs/controller.md ("Kubernetes")).
const (
	DefaultClassLabel   = "headroom.dev/class" // on reader Deployments and pods (deploy/readers)
	ProfileLabel        = "headroom.dev/profile"
	DoNotDisruptAnn     = "headroom.dev/do-not-disrupt"
	NodeGroupLabel      = "eks.amazonaws.com/nodegroup"
	CapacityTypeLabel   = "eks.amazonaws.com/capacityType"
	InstanceTypeLabel   = "node.kubernetes.io/instance-type"
	MIGConfigLabel      = "nvidia.com/mig.config"
	MIGConfigStateLabel = "nvidia.com/mig.config.state"
	// GPUReplicasLabel is GPU feature discovery's count of replicas the
	// device plugin advertises per GPU; above 1 the GPUs are shared.
	GPUReplicasLabel    = "nvidia.com/gpu.replicas"
	RecommenderName     = "headroom"
	mirrorPodAnn        = "kubernetes.io/config.mirror"
	defaultFieldManager = "headroom"
)

// Options configure the adapter. Zero values take the defaults in
// (*Options).setDefaults; Validate reports every bad field at once.
type Options struct {
	// Namespace holds the reader Deployments and pods; "" watches all
	// namespaces (class names must then be unique cluster-wide).
	Namespace string
	// ClassLabel names the class of a reader Deployment and its pods; the
	// Deployment of class C is the one labelled ClassLabel=C.
	// Default headroom.dev/class, as deploy/readers ships.
	ClassLabel string
	// Container is the reader container in the pod template: the one
	// whose resources SetProfile and SetResources change and whose usage
	// PodUsage reports. Default "reader".
	Container string
	// NodeSelector, a label selector, limits the nodes watched (for
	// example "nvidia.com/gpu.present=true"); "" watches all.
	NodeSelector string
	// MIGConfigMap is the mig-parted ConfigMap the GPU operator's MIG
	// manager reads. The defaults are the operator's own (its
	// migManager.config.name unset): gpu-operator/default-mig-parted-config,
	// key config.yaml. The operator rewrites that ConfigMap when it
	// reconciles, so production clusters point migManager.config.name at
	// a ConfigMap of their own and set it here (docs/controller.md ("Kubernetes")).
	MIGConfigMap ConfigMapRef
	// VPAMode is auto (default), vpa or patch-requests.
	VPAMode string
	// VPAUpdateMode is the VerticalPodAutoscaler's spec.updatePolicy.updateMode.
	// Default "Initial": the VPA admission controller applies headroom's
	// recommendation when a replica is created (scale-up, rolling update,
	// drain), and the VPA updater never evicts a GPU reader by itself, so
	// every disruption stays inside headroom's disruption budget.
	VPAUpdateMode string
	// FieldManager is the server-side apply and patch field manager.
	// Default "headroom".
	FieldManager string
	// ResyncPeriod of the informers. Default 10m.
	ResyncPeriod time.Duration
	// Component is the events' reportingController. Default "headroom".
	Component string
}

// ConfigMapRef names one key of a ConfigMap.
type ConfigMapRef struct {
	Namespace, Name, Key string
}

func (r ConfigMapRef) String() string { return r.Namespace + "/" + r.Name + "[" + r.Key + "]" }

var vpaUpdateModes = []string{"Off", "Initial", "Recreate", "InPlaceOrRecreate", "InPlace", "Auto"}

// setDefaults fills zero fields.
func (o *Options) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.ClassLabel, DefaultClassLabel)
	def(&o.Container, "reader")
	def(&o.MIGConfigMap.Namespace, "gpu-operator")
	def(&o.MIGConfigMap.Name, "default-mig-parted-config")
	def(&o.MIGConfigMap.Key, "config.yaml")
	def(&o.VPAMode, VPAModeAuto)
	def(&o.VPAUpdateMode, "Initial")
	def(&o.FieldManager, defaultFieldManager)
	def(&o.Component, "headroom")
	if o.ResyncPeriod == 0 {
		o.ResyncPeriod = 10 * time.Minute
	}
}

// Validate checks the options after defaults.
func (o Options) Validate() error {
	var errs []error
	bad := func(field string, msgs []string) {
		for _, m := range msgs {
			errs = append(errs, fmt.Errorf("%s: %s", field, m))
		}
	}
	if o.Namespace != "" {
		bad("namespace", validation.IsDNS1123Label(o.Namespace))
	}
	bad("classLabel", validation.IsQualifiedName(o.ClassLabel))
	bad("container", validation.IsDNS1123Label(o.Container))
	if _, err := labels.Parse(o.NodeSelector); err != nil {
		errs = append(errs, fmt.Errorf("nodeSelector: %w", err))
	}
	bad("migConfigMap.namespace", validation.IsDNS1123Label(o.MIGConfigMap.Namespace))
	bad("migConfigMap.name", validation.IsDNS1123Subdomain(o.MIGConfigMap.Name))
	bad("migConfigMap.key", validation.IsConfigMapKey(o.MIGConfigMap.Key))
	switch o.VPAMode {
	case VPAModeAuto, VPAModeVPA, VPAModePatchRequests:
	default:
		errs = append(errs, fmt.Errorf("vpaMode: %q, want auto, vpa or patch-requests", o.VPAMode))
	}
	ok := false
	for _, m := range vpaUpdateModes {
		ok = ok || m == o.VPAUpdateMode
	}
	if !ok {
		errs = append(errs, fmt.Errorf("vpaUpdateMode: %q, want one of %v", o.VPAUpdateMode, vpaUpdateModes))
	}
	if o.FieldManager == "" || len(o.FieldManager) > 128 {
		errs = append(errs, errors.New("fieldManager: 1 to 128 characters"))
	}
	if o.ResyncPeriod < 0 {
		errs = append(errs, errors.New("resyncPeriod: negative"))
	}
	// events.k8s.io/v1 requires a qualified name as reportingController.
	bad("component", validation.IsQualifiedName(o.Component))
	return errors.Join(errs...)
}
