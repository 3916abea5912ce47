package render

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/binpack/frompolicy"
	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/router"
)

// Labels and annotations on what is rendered, and the node label the
// readers are placed by (EKS sets it on every node of a nodegroup).
const (
	ClassLabel     = "headroom.dev/class"
	ProfileLabel   = "headroom.dev/profile"
	NodeGroupLabel = "eks.amazonaws.com/nodegroup"
	// ManagedAnnotation lists, on a Deployment, the fields the controller
	// changes, for GitOps tools to ignore (docs/deploy.md).
	ManagedAnnotation = "headroom.dev/managed-fields"
	managedFields     = "spec.replicas,spec.template.spec.containers[name=reader].resources"
	readerPort        = 8000
)

// Options say how the readers are rendered; zero fields take defaults.
type Options struct {
	// Namespace of the readers (default "headroom").
	Namespace string
	// ModelsClaim is the PersistentVolumeClaim of the EFS volume holding
	// the models (default "headroom-models"), and EFSStorageClass its
	// storage class on the EFS CSI driver (default "efs-sc"); rendered once
	// when any class loads from EFS.
	ModelsClaim, EFSStorageClass string
	// S3Image is the image of the init step that copies an S3 model into
	// the pod (default the AWS CLI's public image).
	S3Image string
	// RouterTimeout is each class's request deadline in the router's route
	// entry (default 30s).
	RouterTimeout time.Duration
}

func (o Options) withDefaults() Options {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&o.Namespace, "headroom")
	def(&o.ModelsClaim, "headroom-models")
	def(&o.EFSStorageClass, "efs-sc")
	def(&o.S3Image, "public.ecr.aws/aws-cli/aws-cli:2.17.0")
	if o.RouterTimeout <= 0 {
		o.RouterTimeout = 30 * time.Second
	}
	return o
}

// Readers is everything that serves a policy's classes.
type Readers struct {
	// Objects in apply order: the models claim (if any), then per class
	// its Deployment, Service and PodDisruptionBudget.
	Objects []runtime.Object
	// Routes are the router's `models:` entries, one per class.
	Routes []router.ModelConfig
}

// Render renders the readers of every class of a loaded policy. A class
// that can run nowhere is an error naming it; all such errors are returned.
func Render(pol *policies.Policy, o Options) (Readers, error) {
	o = o.withDefaults()
	var out Readers
	var errs []error
	efs := false
	for i := range pol.Classes {
		mc := &pol.Classes[i]
		objs, err := renderClass(pol, mc, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("class %s: %w", mc.Name, err))
			continue
		}
		efs = efs || mc.Spec.Model.Source == policies.ModelSourceEFS
		out.Objects = append(out.Objects, objs...)
		out.Routes = append(out.Routes, router.ModelConfig{Class: mc.Name, Timeout: router.Duration(o.RouterTimeout),
			Versions: []router.VersionConfig{{Name: "v1", Weight: 100, Service: &router.ServiceRef{Namespace: o.Namespace, Name: mc.Name, Port: "http"}}}})
	}
	if len(errs) > 0 {
		return Readers{}, errors.Join(errs...)
	}
	if efs {
		out.Objects = append([]runtime.Object{modelsClaim(o)}, out.Objects...)
	}
	return out, nil
}

// placement is where a class's replicas run: the slice profile its
// Deployment requests and the nodegroups that offer it.
type placement struct {
	profile    string
	gpu        bool
	nodeGroups []*policies.NodeGroup
}

// placementOf picks the first declared profile the policy lets the class
// run on (frompolicy.ClassOptions, as the packer sees it; CPU profiles
// from the policy's options), with every nodegroup that offers a slice of
// that name: the device plugin's resource (nvidia.com/mig-3g.40gb) is the
// same on an H100 and an A100, so the scheduler may use either, as the
// packer may.
func placementOf(pol *policies.Policy, mc *policies.ModelClass) (placement, error) {
	gpuOpts, notes := frompolicy.ClassOptions(pol, mc)
	add := func(p *placement, ng *policies.NodeGroup) {
		if !slices.Contains(p.nodeGroups, ng) {
			p.nodeGroups = append(p.nodeGroups, ng)
		}
	}
	for _, pr := range mc.Spec.Profiles {
		if pr.Profile == policies.ProfileCPU {
			opts, _ := pol.Options(mc)
			p := placement{profile: policies.ProfileCPU}
			for _, op := range opts {
				if op.Profile.Profile == policies.ProfileCPU {
					add(&p, op.NodeGroup)
				}
			}
			if len(p.nodeGroups) > 0 {
				return p, nil
			}
			continue
		}
		p := placement{profile: pr.Profile, gpu: true}
		for _, o := range gpuOpts {
			if o.Profile.Profile == pr.Profile {
				for _, name := range o.NodeGroups {
					ng, _ := pol.NodeGroup(name)
					add(&p, ng)
				}
			}
		}
		if len(p.nodeGroups) > 0 {
			return p, nil
		}
	}
	return placement{}, fmt.Errorf("no nodegroup offers any of its profiles (%s)", strings.Join(notes, "; "))
}

func renderClass(pol *policies.Policy, mc *policies.ModelClass, o Options) ([]runtime.Object, error) {
	pl, err := placementOf(pol, mc)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{"app.kubernetes.io/name": "reader", "app.kubernetes.io/part-of": "headroom",
		"app.kubernetes.io/managed-by": "headroom", ClassLabel: mc.Name}
	selector := map[string]string{ClassLabel: mc.Name}
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: mc.Name, Namespace: o.Namespace, Labels: maps.Clone(labels)}
	}
	podLabels := maps.Clone(labels)
	podLabels[ProfileLabel] = pl.profile

	replicas := int32(mc.Spec.Scaling.MinReplicas)
	dep := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: meta(),
		Spec: appsv1.DeploymentSpec{
			Replicas:             &replicas,
			RevisionHistoryLimit: ptr(int32(5)),
			Selector:             &metav1.LabelSelector{MatchLabels: selector},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr(intstr.FromInt32(0)), MaxSurge: ptr(intstr.FromInt32(1))}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels}, Spec: podSpec(mc, pl, o)},
		}}
	dep.Annotations = map[string]string{ManagedAnnotation: managedFields}

	svc := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: meta(),
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: selector,
			Ports: []corev1.ServicePort{{Name: "http", Port: readerPort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}}}}

	mu := intstr.Parse(mc.Spec.Disruption.MaxUnavailable)
	pdb := &policyv1.PodDisruptionBudget{TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"}, ObjectMeta: meta(),
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &mu, Selector: &metav1.LabelSelector{MatchLabels: selector}}}
	return []runtime.Object{dep, svc, pdb}, nil
}

func podSpec(mc *policies.ModelClass, pl placement, o Options) corev1.PodSpec {
	res := corev1.ResourceList{}
	if r := mc.Spec.Resources; !r.CPU.IsZero() {
		res[corev1.ResourceCPU] = r.CPU
	}
	if r := mc.Spec.Resources; !r.Memory.IsZero() {
		res[corev1.ResourceMemory] = r.Memory
	}
	if pl.gpu {
		res[corev1.ResourceName(catalog.ResourceName(pl.profile))] = resource.MustParse("1")
	}
	var groups []string
	for _, ng := range pl.nodeGroups {
		groups = append(groups, ng.Name)
	}
	slices.Sort(groups)
	modelDir := "/models/" + mc.Name
	c := corev1.Container{
		Name: "reader", Image: mc.Spec.Image, ImagePullPolicy: corev1.PullIfNotPresent,
		Args:  []string{"--model", modelDir, "--listen", fmt.Sprintf(":%d", readerPort), "--concurrency", fmt.Sprint(concurrency(mc, pl.profile))},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: readerPort, Protocol: corev1.ProtocolTCP}},
		Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		},
		// The model load (loadTime) happens before the first ready: the
		// startup probe allows twice it, at least a minute.
		StartupProbe:   probe("/readyz", 5, startupFailures(mc.Spec.Model.LoadTime.Duration)),
		ReadinessProbe: probe("/readyz", 2, 2),
		LivenessProbe:  probe("/healthz", 10, 3),
		Resources:      corev1.ResourceRequirements{Requests: res, Limits: res.DeepCopy()},
		SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
		VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
	}
	spec := corev1.PodSpec{
		TerminationGracePeriodSeconds: ptr(int64(60)),
		Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: NodeGroupLabel, Operator: corev1.NodeSelectorOpIn, Values: groups}}}}}}},
		Tolerations: tolerations(pl.nodeGroups),
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(65532)), RunAsGroup: ptr(int64(65532)),
			FSGroup: ptr(int64(65532)), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr(resource.MustParse("1Gi"))}}}},
	}
	m := mc.Spec.Model
	switch m.Source {
	case policies.ModelSourceEFS:
		// The claim holds every class's model under its EFS path; the
		// reader sees its own at /models/<class>.
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "models", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: o.ModelsClaim, ReadOnly: true}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "models", MountPath: modelDir, SubPath: strings.TrimPrefix(m.Path, "/"), ReadOnly: true})
	case policies.ModelSourceS3:
		// An init step copies the model into a pod-local volume; the pod's
		// ServiceAccount needs read access to the bucket (IRSA).
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "models", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "models", MountPath: "/models", ReadOnly: true})
		spec.InitContainers = []corev1.Container{{Name: "model", Image: o.S3Image,
			Args:            []string{"s3", "cp", "--recursive", "--only-show-errors", m.Path, modelDir},
			VolumeMounts:    []corev1.VolumeMount{{Name: "models", MountPath: "/models"}, {Name: "tmp", MountPath: "/tmp"}},
			Env:             []corev1.EnvVar{{Name: "HOME", Value: "/tmp"}},
			SecurityContext: c.SecurityContext.DeepCopy()}}
	default: // local: in the image or on the node
		c.Args[1] = m.Path
	}
	spec.Containers = []corev1.Container{c}
	return spec
}

func concurrency(mc *policies.ModelClass, profile string) int {
	for _, pr := range mc.Spec.Profiles {
		if pr.Profile == profile {
			return max(pr.Concurrency, 1)
		}
	}
	return 1
}

func probe(path string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
		PeriodSeconds: period, FailureThreshold: failures}
}

// startupFailures allows twice the load time, at least a minute, in 5 s
// probes: a 90 s load gets 36 probes (3 minutes).
func startupFailures(load time.Duration) int32 {
	allow := max(2*load, time.Minute)
	return int32(math.Ceil(allow.Seconds() / 5))
}

// tolerations tolerate every taint of the nodegroups a class runs on, so
// its pods schedule there and only there (with the node affinity).
func tolerations(groups []*policies.NodeGroup) []corev1.Toleration {
	var out []corev1.Toleration
	seen := map[string]bool{}
	for _, ng := range groups {
		for _, t := range ng.Spec.Taints {
			tol := corev1.Toleration{Key: t.Key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffect(t.Effect)}
			if t.Value != "" {
				tol.Operator, tol.Value = corev1.TolerationOpEqual, t.Value
			}
			k := tol.Key + "=" + tol.Value + ":" + string(tol.Effect)
			if !seen[k] {
				seen[k] = true
				out = append(out, tol)
			}
		}
	}
	slices.SortFunc(out, func(a, b corev1.Toleration) int {
		return strings.Compare(a.Key+a.Value+string(a.Effect), b.Key+b.Value+string(b.Effect))
	})
	return out
}

func modelsClaim(o Options) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: o.ModelsClaim, Namespace: o.Namespace, Labels: map[string]string{"app.kubernetes.io/part-of": "headroom"}},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany},
			StorageClassName: ptr(o.EFSStorageClass),
			// EFS is elastic; the CSI driver requires a size and ignores it.
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Ti")}}}}
}

// YAML writes the objects as one multi-document stream, with a header that
// names the fields headroom manages for GitOps tools, then the router's
// route entries as a comment-free `models:` document to paste into the
// router config.
func (r Readers) YAML() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Rendered by `headroom render` from the policy. headroom manages\n" +
		"# spec.replicas and the reader container's resources of each Deployment\n" +
		"# (annotation " + ManagedAnnotation + "): have Argo CD or Flux ignore\n" +
		"# them (docs/deploy.md).\n")
	for _, o := range r.Objects {
		out, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(stripStatus(out))
	}
	return b.Bytes(), nil
}

// RoutesYAML is the router config's `models:` list for the classes.
func (r Readers) RoutesYAML() ([]byte, error) {
	return yaml.Marshal(map[string]any{"models": r.Routes})
}

// stripStatus drops the empty status and creationTimestamp the API types
// marshal, which a manifest does not carry.
func stripStatus(b []byte) []byte {
	var lines []string
	skip := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case l == "status: {}" || strings.TrimSpace(l) == "creationTimestamp: null":
			continue
		case l == "status:":
			skip = true
			continue
		case skip && strings.HasPrefix(l, " "):
			continue
		}
		skip = false
		lines = append(lines, l)
	}
	return []byte(strings.Join(lines, "\n"))
}

func ptr[T any](v T) *T { return &v }
