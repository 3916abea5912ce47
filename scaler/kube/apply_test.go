package kube

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/headroom-dev/headroom/deploy/render"
	"github.com/headroom-dev/headroom/policies"
)

// Applying the rendered readers creates them; applying again after the
// controller scaled a class and changed its reader's resources keeps both,
// and puts back a field someone else changed by hand.
func testApplyReaders(t *testing.T, f *fixture) {
	pol, err := policies.Load("../../examples/reference")
	if err != nil {
		t.Fatal(err)
	}
	r, err := render.Render(pol, render.Options{Namespace: f.ns})
	if err != nil {
		t.Fatal(err)
	}
	k := start(t, f.env.Config, f.opts)
	ctx := t.Context()
	if err := k.ApplyReaders(ctx, r.Objects); err != nil {
		t.Fatal(err)
	}
	deps := must[*corev1.ServiceList](t)(f.c.CoreV1().Services(f.ns).List(ctx, metav1.ListOptions{}))
	if len(deps.Items) != len(pol.Classes) {
		t.Fatalf("%d services for %d classes", len(deps.Items), len(pol.Classes))
	}

	const class = "reader-en-large"
	sc := must[*autoscalingv1.Scale](t)(f.c.AppsV1().Deployments(f.ns).GetScale(ctx, class, metav1.GetOptions{}))
	sc.Spec.Replicas = 7
	must[*autoscalingv1.Scale](t)(f.c.AppsV1().Deployments(f.ns).UpdateScale(ctx, class, sc, metav1.UpdateOptions{FieldManager: "headroom"}))
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"reader","resources":{"requests":{"cpu":"3"},"limits":{"cpu":"3"}}}]}}}}`)
	must[*appsv1.Deployment](t)(f.c.AppsV1().Deployments(f.ns).Patch(ctx, class, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: "headroom"}))
	pdb := must[*policyv1.PodDisruptionBudget](t)(f.c.PolicyV1().PodDisruptionBudgets(f.ns).Get(ctx, class, metav1.GetOptions{}))
	want := pdb.Spec.MaxUnavailable.String()
	pdb.Spec.MaxUnavailable = ptr(intstr.FromString("90%"))
	must[*policyv1.PodDisruptionBudget](t)(f.c.PolicyV1().PodDisruptionBudgets(f.ns).Update(ctx, pdb, metav1.UpdateOptions{FieldManager: "kubectl-edit"}))

	if err := k.ApplyReaders(ctx, r.Objects); err != nil {
		t.Fatal(err)
	}
	d := must[*appsv1.Deployment](t)(f.c.AppsV1().Deployments(f.ns).Get(ctx, class, metav1.GetOptions{}))
	if *d.Spec.Replicas != 7 {
		t.Errorf("replicas %d after a re-apply, want the controller's 7", *d.Spec.Replicas)
	}
	if cpu := d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("3")) != 0 {
		t.Errorf("reader cpu %s after a re-apply, want the controller's 3", cpu.String())
	}
	pdb = must[*policyv1.PodDisruptionBudget](t)(f.c.PolicyV1().PodDisruptionBudgets(f.ns).Get(ctx, class, metav1.GetOptions{}))
	if got := pdb.Spec.MaxUnavailable.String(); got != want {
		t.Errorf("pdb maxUnavailable %s after a re-apply, want the policy's %s", got, want)
	}
}
