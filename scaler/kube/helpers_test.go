package kube

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

func ptr[T any](v T) *T { return &v }

// start builds the adapter over cfg, starts it and waits for its caches.
func start(t testing.TB, cfg *rest.Config, opts Options) *Cluster {
	t.Helper()
	k, err := NewForConfig(cfg, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return run(t, k)
}

// run starts k and waits for its caches; it stops with the test.
func run(t testing.TB, k *Cluster) *Cluster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := k.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := k.WaitForSync(wctx); err != nil {
		t.Fatal(err)
	}
	return k
}

// eventually polls cond until it holds, failing the test after 20 s with
// the last state cond described.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	last := ""
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 20*time.Second, true,
		func(context.Context) (bool, error) {
			ok, s := cond()
			last = s
			return ok, nil
		})
	if err != nil {
		t.Fatalf("%s: not after 20s; last: %s", what, last)
	}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// mkNode creates a node labelled for the test (sel) with its Ready
// condition, as a kubelet would report it.
func mkNode(t testing.TB, c kubernetes.Interface, name string, lbl map[string]string, ready bool) *corev1.Node {
	t.Helper()
	n := must[*corev1.Node](t)(c.CoreV1().Nodes().Create(t.Context(), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbl}}, metav1.CreateOptions{}))
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	return must[*corev1.Node](t)(c.CoreV1().Nodes().UpdateStatus(t.Context(), n, metav1.UpdateOptions{}))
}

// readerSpec is the reader pod spec of deploy/readers, trimmed: container
// "reader" with a GPU slice and 4 CPU / 16Gi, requests = limits.
func readerSpec(profile string, grace int64) corev1.PodSpec {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("4"),
		corev1.ResourceMemory: resource.MustParse("16Gi"),
	}
	if profile != "" {
		rl[corev1.ResourceName(catalog.ResourceName(profile))] = resource.MustParse("1")
	}
	return corev1.PodSpec{
		TerminationGracePeriodSeconds: ptr(grace),
		Containers: []corev1.Container{
			{Name: "reader", Image: "reader:1", Resources: corev1.ResourceRequirements{Requests: rl.DeepCopy(), Limits: rl.DeepCopy()}},
			{Name: "sidecar", Image: "sidecar:1"},
		},
	}
}

// mkPod creates a reader pod of class on node ("" = unscheduled); ready
// writes the Ready condition a kubelet would.
func mkPod(t testing.TB, c kubernetes.Interface, ns, name, class, node, profile string, ready bool) *corev1.Pod {
	t.Helper()
	spec := readerSpec(profile, 45)
	spec.NodeName = node
	lbl := map[string]string{}
	if class != "" {
		lbl[DefaultClassLabel] = class
	}
	p := must[*corev1.Pod](t)(c.CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbl}, Spec: spec}, metav1.CreateOptions{}))
	if node == "" {
		return p
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.StartTime = ptr(metav1.Now())
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.Now()}}
	return must[*corev1.Pod](t)(c.CoreV1().Pods(ns).UpdateStatus(t.Context(), p, metav1.UpdateOptions{}))
}

// mkDeployment creates a reader Deployment of class, as deploy/readers
// ships one (labels, container "reader", the profile label on the template).
func mkDeployment(t testing.TB, c kubernetes.Interface, ns, name, class, profile string, replicas int32) *appsv1.Deployment {
	t.Helper()
	return must[*appsv1.Deployment](t)(c.AppsV1().Deployments(ns).Create(t.Context(), deploymentObj(ns, name, class, profile, replicas), metav1.CreateOptions{}))
}

func deploymentObj(ns, name, class, profile string, replicas int32) *appsv1.Deployment {
	sel := map[string]string{DefaultClassLabel: class}
	tl := map[string]string{DefaultClassLabel: class, ProfileLabel: profile}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{DefaultClassLabel: class, "app.kubernetes.io/name": "reader"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: tl}, Spec: readerSpec(profile, 60)},
		},
	}
}

// stockMIGParted is a mig-parted file as an operator ships one: comments,
// the stock entries, one with a device filter.
const stockMIGParted = `version: v1
mig-configs:
  all-disabled:
    - devices: all
      mig-enabled: false
  # H100-80GB
  all-3g.40gb:
    - devices: all
      mig-enabled: true
      mig-devices:
        "3g.40gb": 2
  all-balanced:
    - device-filter: ["0x233010DE"]
      devices: all
      mig-enabled: true
      mig-devices:
        "1g.10gb": 2
        "2g.20gb": 1
        "3g.40gb": 1
`

func mkMIGConfigMap(t testing.TB, c kubernetes.Interface, ref ConfigMapRef, data string) *corev1.ConfigMap {
	t.Helper()
	return must[*corev1.ConfigMap](t)(c.CoreV1().ConfigMaps(ref.Namespace).Create(t.Context(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ref.Name, Namespace: ref.Namespace},
		Data:       map[string]string{ref.Key: data},
	}, metav1.CreateOptions{}))
}

func describe(v any) string { return fmt.Sprintf("%+v", v) }
