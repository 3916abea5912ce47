package render

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"github.com/headroom-dev/headroom/binpack/frompolicy"
	"github.com/headroom-dev/headroom/internal/envtest"
	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/router"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func reference(t *testing.T) (*policies.Policy, Readers) {
	t.Helper()
	pol, err := policies.Load("../../examples/reference")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Render(pol, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return pol, r
}

// The reference policy renders to testdata/reference.golden.yaml (and its
// routes to reference-routes.golden.yaml); -update rewrites them.
func TestGolden(t *testing.T) {
	_, r := reference(t)
	for file, render := range map[string]func() ([]byte, error){
		"testdata/reference.golden.yaml": r.YAML, "testdata/reference-routes.golden.yaml": r.RoutesYAML} {
		got, err := render()
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(file, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the rendering; rerun with -update if the change is intended", file)
		}
	}
}

// decode splits the rendered stream and decodes every object strictly into
// its k8s.io/api type.
func decode(t *testing.T, b []byte) []any {
	t.Helper()
	var out []any
	for _, doc := range regexp.MustCompile(`(?m)^---$`).Split(string(b), -1) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatal(err)
		}
		var obj any
		switch tm.Kind {
		case "":
			continue // the header comment
		case "Deployment":
			obj = &appsv1.Deployment{}
		case "Service":
			obj = &corev1.Service{}
		case "PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		case "PersistentVolumeClaim":
			obj = &corev1.PersistentVolumeClaim{}
		default:
			t.Fatalf("unexpected kind %q", tm.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s: %v", tm.Kind, err)
		}
		out = append(out, obj)
	}
	return out
}

// schedules says whether a pod with spec could land on a node of nodegroup
// ng: its node affinity matches the node's nodegroup label, and it
// tolerates every NoSchedule and NoExecute taint of the nodegroup.
func schedules(spec corev1.PodSpec, ng *policies.NodeGroup) bool {
	for _, term := range spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, e := range term.MatchExpressions {
			if e.Key == NodeGroupLabel && (e.Operator != corev1.NodeSelectorOpIn || !slices.Contains(e.Values, ng.Name)) {
				return false
			}
		}
	}
	for _, taint := range ng.Spec.Taints {
		if taint.Effect == string(corev1.TaintEffectPreferNoSchedule) {
			continue
		}
		k8s := corev1.Taint{Key: taint.Key, Value: taint.Value, Effect: corev1.TaintEffect(taint.Effect)}
		if !slices.ContainsFunc(spec.Tolerations, func(tol corev1.Toleration) bool { return tol.ToleratesTaint(klog.Background(), &k8s, false) }) {
			return false
		}
	}
	return true
}

// Each class's pods schedule on exactly the nodegroups that offer the
// profile they request (frompolicy.ClassOptions, what the packer plans
// on), and request that profile's GPU resource.
func TestPodsScheduleOnlyWhereThePolicyPlaces(t *testing.T) {
	pol, r := reference(t)
	out, err := r.YAML()
	if err != nil {
		t.Fatal(err)
	}
	deployments := 0
	for _, obj := range decode(t, out) {
		d, ok := obj.(*appsv1.Deployment)
		if !ok {
			continue
		}
		deployments++
		mc, ok := pol.Class(d.Name)
		if !ok {
			t.Fatalf("deployment %s has no class", d.Name)
		}
		profile := d.Spec.Template.Labels[ProfileLabel]
		want := map[string]bool{}
		if opts, _ := frompolicy.ClassOptions(pol, mc); profile != policies.ProfileCPU {
			for _, o := range opts {
				if o.Profile.Profile == profile {
					for _, g := range o.NodeGroups {
						want[g] = true
					}
				}
			}
			res := d.Spec.Template.Spec.Containers[0].Resources.Limits
			if _, ok := res[corev1.ResourceName("nvidia.com/mig-"+profile)]; !ok && profile != "whole" && profile != "timesliced" {
				t.Errorf("%s: profile %s not requested: %v", d.Name, profile, res)
			}
		} else {
			all, _ := pol.Options(mc)
			for _, o := range all {
				if o.Profile.Profile == policies.ProfileCPU {
					want[o.NodeGroup.Name] = true
				}
			}
		}
		if len(want) == 0 {
			t.Fatalf("%s: no nodegroup offers %s", d.Name, profile)
		}
		for i := range pol.NodeGroups {
			ng := &pol.NodeGroups[i]
			if got := schedules(d.Spec.Template.Spec, ng); got != want[ng.Name] {
				t.Errorf("%s (%s) on %s: schedules %v, want %v", d.Name, profile, ng.Name, got, want[ng.Name])
			}
		}
		if *d.Spec.Replicas != int32(mc.Spec.Scaling.MinReplicas) || d.Annotations[ManagedAnnotation] == "" {
			t.Errorf("%s: replicas %d, annotations %v", d.Name, *d.Spec.Replicas, d.Annotations)
		}
	}
	if deployments != len(pol.Classes) {
		t.Errorf("%d deployments for %d classes", deployments, len(pol.Classes))
	}
}

// The route entries are valid router config: the router's reference config
// with its models replaced by the rendered ones parses.
func TestRoutesAreRouterConfig(t *testing.T) {
	pol, r := reference(t)
	b, err := os.ReadFile("../router/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["router.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	routes, err := r.RoutesYAML()
	if err != nil {
		t.Fatal(err)
	}
	var models map[string]any
	if err := yaml.Unmarshal(routes, &models); err != nil {
		t.Fatal(err)
	}
	cfg["models"] = models["models"]
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := router.Parse(out)
	if err != nil {
		t.Fatalf("rendered routes do not parse: %v", err)
	}
	if len(parsed.Models) != len(pol.Classes) {
		t.Errorf("%d routes for %d classes", len(parsed.Models), len(pol.Classes))
	}
}

// Every rendered object is accepted by a real API server.
func TestCreatedOnAPIServer(t *testing.T) {
	_, r := reference(t)
	out, err := r.YAML()
	if err != nil {
		t.Fatal(err)
	}
	env := envtest.Start(t)
	c, ctx := env.Client, t.Context()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "headroom"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, obj := range decode(t, out) {
		var err error
		switch o := obj.(type) {
		case *appsv1.Deployment:
			_, err = c.AppsV1().Deployments(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Service:
			_, err = c.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *policyv1.PodDisruptionBudget:
			_, err = c.PolicyV1().PodDisruptionBudgets(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.PersistentVolumeClaim:
			_, err = c.CoreV1().PersistentVolumeClaims(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		}
		if err != nil {
			t.Errorf("%T: %v", obj, err)
		}
	}
}

// A class no nodegroup can host is an error naming it.
func TestUnplaceableClassIsAnError(t *testing.T) {
	pol, _ := reference(t)
	pol.Classes[0].Spec.Placement.NodeGroups = []string{"no-such-group"}
	_, err := Render(pol, Options{})
	if err == nil || !strings.Contains(err.Error(), pol.Classes[0].Name) {
		t.Fatalf("error %v, want one naming %s", err, pol.Classes[0].Name)
	}
}
