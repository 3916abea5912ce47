package kube

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/scaler"
)

// The fake clientset is used only for what a real API server does not do
// on demand: throttle (429), refuse an eviction on a given call, or serve
// metrics.k8s.io (envtest has no metrics-server).

const fakeNS = "headroom"

func fakeObjects() []runtime.Object {
	lbl := map[string]string{DefaultClassLabel: "a"}
	return []runtime.Object{
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a-1", Namespace: fakeNS, Labels: lbl},
			Spec: corev1.PodSpec{NodeName: "n1", TerminationGracePeriodSeconds: ptr(int64(30)), Containers: []corev1.Container{{Name: "reader"}}}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "default-mig-parted-config", Namespace: "gpu-operator"},
			Data: map[string]string{"config.yaml": stockMIGParted}},
		deploymentObj(fakeNS, "reader-a", "a", "3g.40gb", 1),
	}
}

// fakeCluster is the adapter over a fake clientset holding objs (plus a
// Deployment of class a), started and synced.
func fakeCluster(t testing.TB, kube *kubefake.Clientset, m *metricsfake.Clientset) *Cluster {
	t.Helper()
	c := Clients{Kube: kube}
	if m != nil {
		c.Metrics = m
	}
	k, err := New(c, Options{Namespace: fakeNS, VPAMode: VPAModePatchRequests}, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, k)
	eventually(t, "fake deployment cached", func() (bool, string) {
		_, err := k.deployment("a")
		return err == nil, describe(err)
	})
	return k
}

// react makes every verb on resource/subresource fail with err.
func react(kube *kubefake.Clientset, verb, res, sub string, err error) {
	kube.PrependReactor(verb, res, func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != sub {
			return false, nil, nil
		}
		return true, nil, err
	})
}

func gr(res string) schema.GroupResource { return schema.GroupResource{Resource: res} }

func pdbRefusal(code int) error {
	var err *apierrors.StatusError
	if code == 429 {
		err = apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
	} else {
		err = apierrors.NewForbidden(gr("poddisruptionbudget"), "a", errors.New("pdb disruptions allowed is negative"))
	}
	if err.ErrStatus.Details == nil {
		err.ErrStatus.Details = &metav1.StatusDetails{}
	}
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: "budget"})
	return err
}

func TestInjectedErrors(t *testing.T) {
	throttle := apierrors.NewTooManyRequests("Too many requests, please try again later.", 1)
	conflict := apierrors.NewConflict(gr("deployments"), "reader-a", errors.New("the object has been modified"))
	scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "reader-a", Namespace: fakeNS}, Spec: autoscalingv1.ScaleSpec{Replicas: 1}}
	getScale := func(kube *kubefake.Clientset) {
		kube.PrependReactor("get", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
			return a.GetSubresource() == "scale", scale.DeepCopy(), nil
		})
	}
	tests := []struct {
		name  string
		setup func(*kubefake.Clientset)
		call  func(*Cluster) error
		want  error
		not   error
	}{
		{"scale read throttled", func(c *kubefake.Clientset) { react(c, "get", "deployments", "scale", throttle) },
			func(k *Cluster) error { return k.ScaleClass(context.Background(), "a", 3) }, scaler.ErrThrottled, nil},
		{"scale update conflict", func(c *kubefake.Clientset) { getScale(c); react(c, "update", "deployments", "scale", conflict) },
			func(k *Cluster) error { return k.ScaleClass(context.Background(), "a", 3) }, scaler.ErrConflict, nil},
		{"deployment gone at write", func(c *kubefake.Clientset) {
			getScale(c)
			react(c, "update", "deployments", "scale", apierrors.NewNotFound(gr("deployments"), "reader-a"))
		}, func(k *Cluster) error { return k.ScaleClass(context.Background(), "a", 3) }, scaler.ErrNotFound, nil},
		{"profile patch throttled", func(c *kubefake.Clientset) { react(c, "patch", "deployments", "", throttle) },
			func(k *Cluster) error { return k.SetProfile(context.Background(), "a", "2g.20gb") }, scaler.ErrThrottled, nil},
		{"requests patch conflict", func(c *kubefake.Clientset) { react(c, "patch", "deployments", "", conflict) },
			func(k *Cluster) error {
				return k.SetResources(context.Background(), "a", scaler.Resources{CPUCores: 1, MemoryBytes: 1 << 30})
			}, scaler.ErrConflict, nil},
		{"cordon throttled", func(c *kubefake.Clientset) { react(c, "patch", "nodes", "", throttle) },
			func(k *Cluster) error { return k.Cordon(context.Background(), "n1", true) }, scaler.ErrThrottled, nil},
		{"eviction throttled by the API, not a PDB", func(c *kubefake.Clientset) { react(c, "create", "pods", "eviction", throttle) },
			func(k *Cluster) error { return k.Drain(context.Background(), "n1") }, scaler.ErrThrottled, scaler.ErrBlocked},
		{"eviction refused by a PDB (429)", func(c *kubefake.Clientset) { react(c, "create", "pods", "eviction", pdbRefusal(429)) },
			func(k *Cluster) error { return k.Drain(context.Background(), "n1") }, scaler.ErrBlocked, scaler.ErrThrottled},
		{"eviction refused by a PDB (403, negative budget)", func(c *kubefake.Clientset) { react(c, "create", "pods", "eviction", pdbRefusal(403)) },
			func(k *Cluster) error { return k.Drain(context.Background(), "n1") }, scaler.ErrBlocked, nil},
		{"pod list throttled", func(c *kubefake.Clientset) { react(c, "list", "pods", "", throttle) },
			func(k *Cluster) error { return k.Drain(context.Background(), "n1") }, scaler.ErrThrottled, nil},
		{"ConfigMap update conflict", func(c *kubefake.Clientset) { react(c, "update", "configmaps", "", conflict) },
			func(k *Cluster) error {
				return k.SetMIGConfig(context.Background(), "n1", catalog.UniformMIG(map[string]int{"2g.20gb": 3}))
			}, scaler.ErrConflict, nil},
		{"node label throttled", func(c *kubefake.Clientset) { react(c, "patch", "nodes", "", throttle) },
			func(k *Cluster) error { return k.SetMIGConfig(context.Background(), "n1", catalog.MIGDisabled()) }, scaler.ErrThrottled, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kube := kubefake.NewClientset(fakeObjects()...)
			k := fakeCluster(t, kube, nil)
			tc.setup(kube)
			err := tc.call(k)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.not != nil && errors.Is(err, tc.not) {
				t.Fatalf("%v also reads as %v", err, tc.not)
			}
			var se *apierrors.StatusError
			if !errors.As(err, &se) {
				t.Errorf("the API error is not in the chain: %v", err)
			}
			if err.Error() != strings.ToLower(err.Error()[:1])+err.Error()[1:] {
				t.Errorf("error not lowercase: %v", err)
			}
		})
	}
	t.Run("no label after a failed ConfigMap write", func(t *testing.T) {
		kube := kubefake.NewClientset(fakeObjects()...)
		k := fakeCluster(t, kube, nil)
		react(kube, "update", "configmaps", "", conflict)
		_ = k.SetMIGConfig(context.Background(), "n1", catalog.UniformMIG(map[string]int{"2g.20gb": 3}))
		for _, a := range kube.Actions() {
			if a.GetVerb() == "patch" && a.GetResource().Resource == "nodes" {
				t.Fatalf("node patched after the ConfigMap write failed: %+v", a)
			}
		}
	})
	t.Run("eviction of a pod already gone is fine", func(t *testing.T) {
		kube := kubefake.NewClientset(fakeObjects()...)
		k := fakeCluster(t, kube, nil)
		react(kube, "create", "pods", "eviction", apierrors.NewNotFound(gr("pods"), "a-1"))
		if err := k.Drain(context.Background(), "n1"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("eviction carries the pod's grace period and UID", func(t *testing.T) {
		kube := kubefake.NewClientset(fakeObjects()...)
		k := fakeCluster(t, kube, nil)
		var got *policyv1.Eviction
		kube.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.GetSubresource() != "eviction" {
				return false, nil, nil
			}
			got = a.(k8stesting.CreateAction).GetObject().(*policyv1.Eviction)
			return true, nil, nil
		})
		if err := k.Drain(context.Background(), "n1"); err != nil {
			t.Fatal(err)
		}
		if got == nil || got.Name != "a-1" || *got.DeleteOptions.GracePeriodSeconds != 30 || got.DeleteOptions.Preconditions == nil {
			t.Fatalf("eviction %+v", got)
		}
	})
}

func podMetrics(name string, cpu, mem string) metricsv1beta1.PodMetrics {
	return metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fakeNS, Labels: map[string]string{DefaultClassLabel: "a"}},
		Containers: []metricsv1beta1.ContainerMetrics{
			{Name: "reader", Usage: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}},
			{Name: "sidecar", Usage: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("10Mi")}},
		},
	}
}

// TestPodUsage uses client-go's metrics fake (envtest has no
// metrics-server): the reader container's usage, OOM kills reported once.
func TestPodUsage(t *testing.T) {
	kube := kubefake.NewClientset(fakeObjects()...)
	m := metricsfake.NewSimpleClientset()
	list := &metricsv1beta1.PodMetricsList{Items: []metricsv1beta1.PodMetrics{
		podMetrics("a-1", "1500m", "3Gi"),
		podMetrics("stranger", "1", "1Gi"), // not in the pod cache
	}}
	m.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) { return true, list.DeepCopy(), nil })
	k := fakeCluster(t, kube, m)

	oomAt := time.Now().Add(time.Minute) // after Start
	p, _ := kube.CoreV1().Pods(fakeNS).Get(context.Background(), "a-1", metav1.GetOptions{})
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "reader", LastTerminationState: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137, FinishedAt: metav1.NewTime(oomAt)}}}}
	if _, err := kube.CoreV1().Pods(fakeNS).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "status cached", func() (bool, string) {
		p, _ := k.pods.Pods(fakeNS).Get("a-1")
		return p != nil && len(p.Status.ContainerStatuses) == 1, ""
	})
	now := oomAt.Add(time.Second)
	got, err := k.PodUsage(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	want := []scaler.PodUsage{{Pod: "a-1", Class: "a", CPUCores: 1.5, MemoryBytes: 3 << 30, OOMKilled: true}}
	if describe(got) != describe(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	got, _ = k.PodUsage(context.Background(), now.Add(time.Minute))
	if len(got) != 1 || got[0].OOMKilled {
		t.Fatalf("the same OOM kill reported twice: %+v", got)
	}

	// No metrics-server: an error that says so.
	m.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "metrics.k8s.io", Resource: "pods"}, "")
	})
	if _, err := k.PodUsage(context.Background(), now); err == nil || !strings.Contains(err.Error(), "metrics-server") || scaler.IsNotFound(err) {
		t.Fatalf("without the metrics API: %v", err)
	}
	k.clients.Metrics = nil
	if _, err := k.PodUsage(context.Background(), now); err == nil {
		t.Fatal("no metrics client: no error")
	}
}

func TestSnapshotNotSynced(t *testing.T) {
	k, err := New(Clients{Kube: kubefake.NewClientset()}, Options{VPAMode: VPAModePatchRequests}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Snapshot(context.Background()); err == nil || k.Ready() == nil {
		t.Fatal("a snapshot before the caches synced")
	}
}
