package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/internal/envtest"
	"github.com/headroom-dev/headroom/scaler"
)

// fixture is one subtest's corner of the shared API server: its own
// readers' namespace, its own namespace for the mig-parted ConfigMap, and
// a node label that the adapter's NodeSelector matches, so subtests do
// not see each other's (cluster-scoped) nodes.
type fixture struct {
	env     *envtest.Env
	c       kubernetes.Interface
	ns, mig string
	nodeLbl map[string]string
	opts    Options
}

func newFixture(t *testing.T, env *envtest.Env) *fixture {
	f := &fixture{env: env, c: env.Client, ns: env.Namespace(t, "readers"), mig: env.Namespace(t, "gpu")}
	f.nodeLbl = map[string]string{"headroom.dev/test": f.ns}
	f.opts = Options{
		Namespace:    f.ns,
		NodeSelector: "headroom.dev/test=" + f.ns,
		MIGConfigMap: ConfigMapRef{Namespace: f.mig, Name: "mig-parted", Key: "config.yaml"},
	}
	return f
}

// node creates a node of this fixture with extra labels.
func (f *fixture) node(t *testing.T, name string, extra map[string]string, ready bool) *corev1.Node {
	lbl := map[string]string{}
	for k, v := range f.nodeLbl {
		lbl[k] = v
	}
	for k, v := range extra {
		lbl[k] = v
	}
	return mkNode(t, f.c, f.ns+"-"+name, lbl, ready)
}

// TestAPIServer runs the adapter against one real kube-apiserver
// (envtest), each case in its own namespaces. Cases that need the VPA CRD
// run after it is installed; the ones before see a server without it.
func TestAPIServer(t *testing.T) {
	env := envtest.Start(t)

	t.Run("snapshot", func(t *testing.T) { testSnapshot(t, newFixture(t, env)) })
	t.Run("snapshot-bad-configmap", func(t *testing.T) { testSnapshotBadConfigMap(t, newFixture(t, env)) })
	t.Run("scale", func(t *testing.T) { testScale(t, newFixture(t, env)) })
	t.Run("profile", func(t *testing.T) { testProfile(t, newFixture(t, env)) })
	t.Run("resources-without-vpa", func(t *testing.T) { testResourcesWithoutVPA(t, newFixture(t, env)) })
	t.Run("cordon", func(t *testing.T) { testCordon(t, newFixture(t, env)) })
	t.Run("drain", func(t *testing.T) { testDrain(t, newFixture(t, env)) })
	t.Run("mig-config", func(t *testing.T) { testMIGConfig(t, newFixture(t, env)) })
	t.Run("mig-config-conflict", func(t *testing.T) { testMIGConfigConflict(t, newFixture(t, env)) })
	t.Run("events", func(t *testing.T) { testEvents(t, newFixture(t, env)) })
	t.Run("apply-readers", func(t *testing.T) { testApplyReaders(t, newFixture(t, env)) })
	t.Run("pod-usage-without-metrics-api", func(t *testing.T) { testPodUsageAbsent(t, newFixture(t, env)) })

	crd, err := crenvtest.InstallCRDs(env.Config, crenvtest.CRDInstallOptions{Paths: []string{"testdata/vpa-v1-crd.yaml"}, ErrorIfPathMissing: true})
	if err != nil || len(crd) != 1 {
		t.Fatalf("installing the VPA CRD: %v (%d CRDs)", err, len(crd))
	}
	t.Run("vpa", func(t *testing.T) { testVPA(t, newFixture(t, env)) })
	t.Run("rbac", func(t *testing.T) { testRBAC(t, env) })
}

func testSnapshot(t *testing.T, f *fixture) {
	ctx := t.Context()
	n1 := f.node(t, "gpu-a", map[string]string{
		NodeGroupLabel: "gpu-p5-ondemand", CapacityTypeLabel: "ON_DEMAND", InstanceTypeLabel: "p5.48xlarge",
		MIGConfigLabel: "all-2x3g.40gb", MIGConfigStateLabel: "success",
	}, true)
	n2 := f.node(t, "gpu-b", map[string]string{NodeGroupLabel: "gpu-p5-spot", CapacityTypeLabel: "SPOT"}, false)
	n2.Spec.Unschedulable = true
	n2.Annotations = map[string]string{DoNotDisruptAnn: "true"}
	must[*corev1.Node](t)(f.c.CoreV1().Nodes().Update(ctx, n2, metav1.UpdateOptions{}))
	mkNode(t, f.c, f.ns+"-other", map[string]string{"headroom.dev/test": "someone-else"}, true) // not selected
	n3 := f.node(t, "gpu-ts", map[string]string{GPUReplicasLabel: "4"}, true)                   // time-sliced GPUs

	mkDeployment(t, f.c, f.ns, "reader-en-large", "reader-en-large", "3g.40gb", 3)
	mkPod(t, f.c, f.ns, "r-ready", "reader-en-large", n1.Name, "3g.40gb", true)
	mkPod(t, f.c, f.ns, "r-loading", "reader-en-large", n1.Name, "3g.40gb", false)
	mkPod(t, f.c, f.ns, "r-pending", "reader-en-large", "", "whole", false)
	failed := mkPod(t, f.c, f.ns, "r-failed", "reader-en-large", n1.Name, "3g.40gb", false)
	failed.Status.Phase = corev1.PodFailed
	must[*corev1.Pod](t)(f.c.CoreV1().Pods(f.ns).UpdateStatus(ctx, failed, metav1.UpdateOptions{}))
	mkPod(t, f.c, f.ns, "not-a-reader", "", n1.Name, "3g.40gb", true)
	mkPod(t, f.c, f.ns, "r-shared", "reader-en-large", n3.Name, "whole", true)
	mkMIGConfigMap(t, f.c, f.opts.MIGConfigMap, stockMIGParted)

	k := start(t, f.env.Config, f.opts)
	var st scaler.ClusterState
	eventually(t, "snapshot shows the pods", func() (bool, string) {
		var err error
		st, err = k.Snapshot(ctx)
		return err == nil && len(st.Pods) == 5, describe(st.Pods)
	})
	if len(st.Nodes) != 3 {
		t.Fatalf("nodes: %+v", st.Nodes)
	}
	a, b := st.Nodes[0], st.Nodes[1]
	if a.Name != n1.Name || a.NodeGroup != "gpu-p5-ondemand" || a.CapacityType != "on-demand" || a.InstanceType != "p5.48xlarge" ||
		!a.Ready || a.Cordoned || a.MIGConfig != "all-2x3g.40gb" || a.MIGState != "success" || a.DoNotDisrupt || !a.Created.Equal(n1.CreationTimestamp.Time) {
		t.Errorf("node a: %+v", a)
	}
	if b.CapacityType != "spot" || b.Ready || !b.Cordoned || !b.DoNotDisrupt {
		t.Errorf("node b: %+v", b)
	}
	phases := map[string]string{}
	for _, p := range st.Pods {
		phases[p.Name] = p.Phase + "/" + p.Profile + "/" + p.Node
		if p.Class != "reader-en-large" {
			t.Errorf("pod %s class %q", p.Name, p.Class)
		}
	}
	want := map[string]string{
		"r-ready":   "ready/3g.40gb/" + n1.Name,
		"r-loading": "loading/3g.40gb/" + n1.Name,
		"r-pending": "pending/whole/",
		"r-failed":  "failed/3g.40gb/" + n1.Name,
		"r-shared":  "ready/timesliced/" + n3.Name,
	}
	if describe(phases) != describe(want) {
		t.Errorf("pods: got %v, want %v", phases, want)
	}
	if len(st.Deployments) != 1 || st.Deployments[0] != (scaler.Deployment{Class: "reader-en-large", Replicas: 3}) {
		t.Errorf("deployments: %+v", st.Deployments)
	}
	if len(st.MIGConfigs) != 3 || st.MIGConfigs["all-3g.40gb"].Entries[0].MIGDevices["3g.40gb"] != 2 {
		t.Errorf("MIG configs: %+v", st.MIGConfigs)
	}

	// Changes arrive through the informers.
	n1 = must[*corev1.Node](t)(f.c.CoreV1().Nodes().Get(ctx, n1.Name, metav1.GetOptions{}))
	n1.Labels[MIGConfigStateLabel] = "pending"
	must[*corev1.Node](t)(f.c.CoreV1().Nodes().Update(ctx, n1, metav1.UpdateOptions{}))
	loading := must[*corev1.Pod](t)(f.c.CoreV1().Pods(f.ns).Get(ctx, "r-loading", metav1.GetOptions{}))
	loading.Status.Conditions[0].Status = corev1.ConditionTrue
	must[*corev1.Pod](t)(f.c.CoreV1().Pods(f.ns).UpdateStatus(ctx, loading, metav1.UpdateOptions{}))
	eventually(t, "the snapshot follows the changes", func() (bool, string) {
		st, err := k.Snapshot(ctx)
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, p := range st.Pods {
			if p.Phase == scaler.PodReady {
				ready++
			}
		}
		return st.Nodes[0].MIGState == "pending" && ready == 3, describe(st)
	})
}

func testSnapshotBadConfigMap(t *testing.T, f *fixture) {
	mkMIGConfigMap(t, f.c, f.opts.MIGConfigMap, "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: true\n      bogus: 1\n")
	k := start(t, f.env.Config, f.opts)
	_, err := k.Snapshot(t.Context())
	if err == nil || !strings.Contains(err.Error(), "mig-parted ConfigMap "+f.mig+"/mig-parted") {
		t.Fatalf("Snapshot with an unparseable ConfigMap: %v", err)
	}
}

func testScale(t *testing.T, f *fixture) {
	ctx := t.Context()
	mkDeployment(t, f.c, f.ns, "reader-a", "a", "3g.40gb", 2)
	k := start(t, f.env.Config, f.opts)
	if err := k.ScaleClass(ctx, "a", 7); err != nil {
		t.Fatal(err)
	}
	d := must[*appsv1.Deployment](t)(f.c.AppsV1().Deployments(f.ns).Get(ctx, "reader-a", metav1.GetOptions{}))
	if *d.Spec.Replicas != 7 {
		t.Fatalf("replicas %d, want 7", *d.Spec.Replicas)
	}
	for _, mf := range d.ManagedFields {
		if mf.Subresource == "scale" && mf.Manager != "headroom" {
			t.Errorf("scale written by %q", mf.Manager)
		}
	}
	eventually(t, "snapshot replicas", func() (bool, string) {
		st, _ := k.Snapshot(ctx)
		return len(st.Deployments) == 1 && st.Deployments[0].Replicas == 7, describe(st.Deployments)
	})
	if err := k.ScaleClass(ctx, "nope", 1); !scaler.IsNotFound(err) {
		t.Errorf("unknown class: %v, want ErrNotFound", err)
	}
	// Two Deployments claiming one class: refused, not guessed.
	mkDeployment(t, f.c, f.ns, "reader-a2", "a", "3g.40gb", 1)
	eventually(t, "ambiguous class refused", func() (bool, string) {
		err := k.ScaleClass(ctx, "a", 3)
		return err != nil && strings.Contains(err.Error(), "2 Deployments"), fmt.Sprint(err)
	})
}

func testProfile(t *testing.T, f *fixture) {
	ctx := t.Context()
	mkDeployment(t, f.c, f.ns, "reader-p", "p", "3g.40gb", 2)
	k := start(t, f.env.Config, f.opts)
	check := func(want string, gone ...string) {
		t.Helper()
		d := must[*appsv1.Deployment](t)(f.c.AppsV1().Deployments(f.ns).Get(ctx, "reader-p", metav1.GetOptions{}))
		c := d.Spec.Template.Spec.Containers[0]
		for _, l := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
			if q := l[corev1.ResourceName(want)]; q.Value() != 1 {
				t.Errorf("%s: %v", want, l)
			}
			for _, g := range gone {
				if _, ok := l[corev1.ResourceName(g)]; ok {
					t.Errorf("%s still there: %v", g, l)
				}
			}
			if q := l[corev1.ResourceCPU]; q.String() != "4" {
				t.Errorf("cpu changed: %v", l)
			}
		}
		if len(d.Spec.Template.Spec.Containers) != 2 {
			t.Errorf("containers: %+v", d.Spec.Template.Spec.Containers)
		}
	}
	if err := k.SetProfile(ctx, "p", "2g.20gb"); err != nil {
		t.Fatal(err)
	}
	check("nvidia.com/mig-2g.20gb", "nvidia.com/mig-3g.40gb")
	d := must[*appsv1.Deployment](t)(f.c.AppsV1().Deployments(f.ns).Get(ctx, "reader-p", metav1.GetOptions{}))
	if d.Spec.Template.Labels[ProfileLabel] != "2g.20gb" {
		t.Errorf("profile label: %v", d.Spec.Template.Labels)
	}
	eventually(t, "cache sees 2g.20gb", func() (bool, string) {
		d, err := k.deployment("p")
		return err == nil && containerProfile(&d.Spec.Template.Spec.Containers[0]) == "2g.20gb", fmt.Sprint(err)
	})
	if err := k.SetProfile(ctx, "p", catalog.ProfileWhole); err != nil {
		t.Fatal(err)
	}
	check("nvidia.com/gpu", "nvidia.com/mig-2g.20gb", "nvidia.com/mig-3g.40gb")
	if err := k.SetProfile(ctx, "p", "not a profile"); err == nil {
		t.Error("bad profile accepted")
	}
}

func testResourcesWithoutVPA(t *testing.T, f *fixture) {
	ctx := t.Context()
	mkDeployment(t, f.c, f.ns, "reader-r", "r", "3g.40gb", 2)
	opts := f.opts
	opts.VPAMode = VPAModeVPA
	if err := start(t, f.env.Config, opts).SetResources(ctx, "r", scaler.Resources{CPUCores: 2, MemoryBytes: 8 << 30}); err == nil ||
		!strings.Contains(err.Error(), "does not serve") {
		t.Fatalf("vpaMode vpa without the CRD: %v", err)
	}
	k := start(t, f.env.Config, f.opts) // auto: no CRD, so patch-requests
	if err := k.SetResources(ctx, "r", scaler.Resources{CPUCores: 2.5, MemoryBytes: 10 << 30}); err != nil {
		t.Fatal(err)
	}
	d := must[*appsv1.Deployment](t)(f.c.AppsV1().Deployments(f.ns).Get(ctx, "reader-r", metav1.GetOptions{}))
	r := d.Spec.Template.Spec.Containers[0].Resources
	if cpu, mem := r.Requests[corev1.ResourceCPU], r.Requests[corev1.ResourceMemory]; cpu.MilliValue() != 2500 || mem.Value() != 10<<30 {
		t.Errorf("requests %v", r.Requests)
	}
	// requests = limits before, so after too (ratio kept; Guaranteed QoS stays).
	if cpu, mem := r.Limits[corev1.ResourceCPU], r.Limits[corev1.ResourceMemory]; cpu.MilliValue() != 2500 || mem.Value() != 10<<30 {
		t.Errorf("limits %v", r.Limits)
	}
	if q := r.Limits["nvidia.com/mig-3g.40gb"]; q.Value() != 1 {
		t.Errorf("GPU limit lost: %v", r.Limits)
	}
	if err := k.SetResources(ctx, "r", scaler.Resources{CPUCores: -1, MemoryBytes: 1}); err == nil {
		t.Error("negative CPU accepted")
	}
}

func testCordon(t *testing.T, f *fixture) {
	ctx := t.Context()
	n := f.node(t, "c", nil, true)
	k := start(t, f.env.Config, f.opts)
	if err := k.Cordon(ctx, n.Name, true); err != nil {
		t.Fatal(err)
	}
	if got := must[*corev1.Node](t)(f.c.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})); !got.Spec.Unschedulable {
		t.Fatal("not cordoned")
	}
	eventually(t, "snapshot shows it cordoned", func() (bool, string) {
		st, _ := k.Snapshot(ctx)
		return len(st.Nodes) == 1 && st.Nodes[0].Cordoned, describe(st.Nodes)
	})
	if err := k.Cordon(ctx, n.Name, false); err != nil {
		t.Fatal(err)
	}
	if got := must[*corev1.Node](t)(f.c.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})); got.Spec.Unschedulable {
		t.Fatal("still cordoned")
	}
	if err := k.Cordon(ctx, "no-such-node", true); !scaler.IsNotFound(err) {
		t.Errorf("unknown node: %v", err)
	}
}

// setPDBStatus writes what the disruption controller would (envtest has
// none): without an observed status every eviction is refused.
func setPDBStatus(t *testing.T, c kubernetes.Interface, ns, name string, healthy, desired, allowed int32) {
	t.Helper()
	pdb := must[*policyv1.PodDisruptionBudget](t)(c.PolicyV1().PodDisruptionBudgets(ns).Get(t.Context(), name, metav1.GetOptions{}))
	pdb.Status = policyv1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.Generation, CurrentHealthy: healthy, DesiredHealthy: desired,
		DisruptionsAllowed: allowed, ExpectedPods: healthy,
	}
	must[*policyv1.PodDisruptionBudget](t)(c.PolicyV1().PodDisruptionBudgets(ns).UpdateStatus(t.Context(), pdb, metav1.UpdateOptions{}))
}

func testDrain(t *testing.T, f *fixture) {
	ctx := t.Context()
	n := f.node(t, "d", nil, true)
	guarded := mkPod(t, f.c, f.ns, "guarded", "g", n.Name, "3g.40gb", true)
	free := mkPod(t, f.c, f.ns, "free", "f", n.Name, "3g.40gb", true)
	other := mkPod(t, f.c, f.ns, "not-a-reader", "", n.Name, "3g.40gb", true)
	ds := mkPod(t, f.c, f.ns, "ds-pod", "f", "", "", false)
	ds.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "x", UID: "00000000-0000-0000-0000-000000000001"}}
	ds.Spec.NodeName = "" // bound below with the owner in place
	must[*corev1.Pod](t)(f.c.CoreV1().Pods(f.ns).Update(ctx, ds, metav1.UpdateOptions{}))
	dsBound := readerSpec("", 30)
	dsBound.NodeName = n.Name
	dsPod := must[*corev1.Pod](t)(f.c.CoreV1().Pods(f.ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "ds-bound", Namespace: f.ns, Labels: map[string]string{DefaultClassLabel: "f"},
			OwnerReferences: ds.OwnerReferences},
		Spec: dsBound}, metav1.CreateOptions{}))
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: f.ns},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromInt32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{DefaultClassLabel: "g"}}},
	}
	must[*policyv1.PodDisruptionBudget](t)(f.c.PolicyV1().PodDisruptionBudgets(f.ns).Create(ctx, pdb, metav1.CreateOptions{}))
	setPDBStatus(t, f.c, f.ns, "g", 1, 1, 0) // one healthy, one needed: no disruption allowed

	k := start(t, f.env.Config, f.opts)
	err := k.Drain(ctx, n.Name)
	if !scaler.IsBlocked(err) {
		t.Fatalf("drain against a PDB with no disruption allowed: %v, want ErrBlocked", err)
	}
	get := func(name string) *corev1.Pod {
		return must[*corev1.Pod](t)(f.c.CoreV1().Pods(f.ns).Get(ctx, name, metav1.GetOptions{}))
	}
	// The free reader was evicted with its own grace period (no kubelet:
	// it stays Terminating with the grace the eviction gave it).
	if p := get(free.Name); p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 45 {
		t.Errorf("free reader: deletion %v grace %v, want terminating with 45s", p.DeletionTimestamp, p.DeletionGracePeriodSeconds)
	}
	for _, name := range []string{guarded.Name, other.Name, dsPod.Name} {
		if p := get(name); p.DeletionTimestamp != nil {
			t.Errorf("%s was evicted", name)
		}
	}
	// The budget allows one now: the guarded reader goes; the terminating
	// one is not evicted again.
	setPDBStatus(t, f.c, f.ns, "g", 1, 0, 1)
	if err := k.Drain(ctx, n.Name); err != nil {
		t.Fatalf("second drain: %v", err)
	}
	if p := get(guarded.Name); p.DeletionTimestamp == nil {
		t.Error("guarded reader not evicted once the PDB allowed it")
	}
	if p := get(dsPod.Name); p.DeletionTimestamp != nil {
		t.Error("DaemonSet pod evicted")
	}
	if err := k.Drain(ctx, "no-such-node"); !scaler.IsNotFound(err) {
		t.Errorf("unknown node: %v", err)
	}
	// A pod deleted outright between list and eviction is fine.
	gone := mkPod(t, f.c, f.ns, "gone", "f", n.Name, "3g.40gb", true)
	_ = gone
	if err := f.c.CoreV1().Pods(f.ns).Delete(ctx, "gone", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	if err := k.Drain(ctx, n.Name); err != nil {
		t.Errorf("drain after the pod went: %v", err)
	}
}

func testMIGConfig(t *testing.T, f *fixture) {
	ctx := t.Context()
	n := f.node(t, "m", map[string]string{MIGConfigLabel: "all-disabled", MIGConfigStateLabel: "success"}, true)
	mkMIGConfigMap(t, f.c, f.opts.MIGConfigMap, stockMIGParted)
	k := start(t, f.env.Config, f.opts)
	cfg := catalog.NodeMIG([]map[string]int{{"3g.40gb": 2}, {"1g.10gb": 7}})

	if err := k.SetMIGConfig(ctx, n.Name, cfg); err != nil {
		t.Fatal(err)
	}
	cm := must[*corev1.ConfigMap](t)(f.c.CoreV1().ConfigMaps(f.mig).Get(ctx, "mig-parted", metav1.GetOptions{}))
	got := must[map[string]catalog.MIGConfig](t)(catalog.ParseMIGParted([]byte(cm.Data["config.yaml"])))
	if len(got) != 4 || !sameEntries(got[cfg.Name], cfg) || len(got["all-balanced"].Entries[0].DeviceFilter) == 0 {
		t.Fatalf("ConfigMap after publishing %s:\n%s", cfg.Name, cm.Data["config.yaml"])
	}
	node := must[*corev1.Node](t)(f.c.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{}))
	if node.Labels[MIGConfigLabel] != cfg.Name || node.Labels[MIGConfigStateLabel] != "pending" {
		t.Fatalf("node labels %v", node.Labels)
	}
	eventually(t, "snapshot resolves the published config", func() (bool, string) {
		st, err := k.Snapshot(ctx)
		if err != nil {
			return false, err.Error()
		}
		c, err := catalog.ResolveMIGConfig(st.Nodes[0].MIGConfig, st.MIGConfigs, nil)
		return err == nil && sameEntries(c, cfg) && st.Nodes[0].MIGState == "pending", describe(st.Nodes)
	})

	// The MIG manager reports success; the same call again writes nothing
	// (no ConfigMap update, no state reset the MIG manager would never answer).
	node.Labels[MIGConfigStateLabel] = "success"
	must[*corev1.Node](t)(f.c.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}))
	if err := k.SetMIGConfig(ctx, n.Name, cfg); err != nil {
		t.Fatal(err)
	}
	if cm2 := must[*corev1.ConfigMap](t)(f.c.CoreV1().ConfigMaps(f.mig).Get(ctx, "mig-parted", metav1.GetOptions{})); cm2.ResourceVersion != cm.ResourceVersion {
		t.Error("ConfigMap rewritten for a config already there")
	}
	if node := must[*corev1.Node](t)(f.c.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})); node.Labels[MIGConfigStateLabel] != "success" {
		t.Errorf("state reset: %v", node.Labels)
	}

	// A node mid-reboot keeps the MIG manager's "rebooting".
	node = must[*corev1.Node](t)(f.c.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{}))
	node.Labels[MIGConfigStateLabel] = "rebooting"
	must[*corev1.Node](t)(f.c.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}))
	if err := k.SetMIGConfig(ctx, n.Name, catalog.UniformMIG(map[string]int{"3g.40gb": 2})); err != nil {
		t.Fatal(err)
	}
	if node := must[*corev1.Node](t)(f.c.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})); node.Labels[MIGConfigStateLabel] != "rebooting" ||
		node.Labels[MIGConfigLabel] != "all-2x3g.40gb" {
		t.Errorf("rebooting node: %v", node.Labels)
	}
	cm = must[*corev1.ConfigMap](t)(f.c.CoreV1().ConfigMaps(f.mig).Get(ctx, "mig-parted", metav1.GetOptions{}))

	// A stock name already published: label only.
	if err := k.SetMIGConfig(ctx, n.Name, catalog.MIGDisabled()); err != nil {
		t.Fatal(err)
	}
	if cm3 := must[*corev1.ConfigMap](t)(f.c.CoreV1().ConfigMaps(f.mig).Get(ctx, "mig-parted", metav1.GetOptions{})); cm3.ResourceVersion != cm.ResourceVersion {
		t.Error("ConfigMap rewritten for a stock config")
	}
	// An unknown node: nothing written.
	other := catalog.UniformMIG(map[string]int{"2g.20gb": 3})
	if err := k.SetMIGConfig(ctx, "no-such-node", other); !scaler.IsNotFound(err) {
		t.Errorf("unknown node: %v", err)
	}
	if cm4 := must[*corev1.ConfigMap](t)(f.c.CoreV1().ConfigMaps(f.mig).Get(ctx, "mig-parted", metav1.GetOptions{})); cm4.ResourceVersion != cm.ResourceVersion {
		t.Error("ConfigMap written for an unknown node")
	}
	// No ConfigMap: a setup error, not ErrNotFound, and no label.
	opts := f.opts
	opts.MIGConfigMap.Name = "missing"
	k2 := start(t, f.env.Config, opts)
	if err := k2.SetMIGConfig(ctx, n.Name, other); err == nil || scaler.IsNotFound(err) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing ConfigMap: %v", err)
	}
	if node := must[*corev1.Node](t)(f.c.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})); node.Labels[MIGConfigLabel] == other.Name {
		t.Error("labelled without a published config")
	}
}

// conflictTransport lets another writer update the mig-parted ConfigMap
// just before the adapter's update reaches the API server, so the
// adapter's resourceVersion is stale for real.
type conflictTransport struct {
	rt     http.RoundTripper
	path   string
	before func()
	fired  atomic.Bool
}

func (c *conflictTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.URL.Path == c.path && c.fired.CompareAndSwap(false, true) {
		c.before()
	}
	return c.rt.RoundTrip(r)
}

func testMIGConfigConflict(t *testing.T, f *fixture) {
	ctx := t.Context()
	n := f.node(t, "x", map[string]string{MIGConfigLabel: "all-disabled", MIGConfigStateLabel: "success"}, true)
	mkMIGConfigMap(t, f.c, f.opts.MIGConfigMap, stockMIGParted)
	cfg := rest.CopyConfig(f.env.Config)
	ct := &conflictTransport{path: "/api/v1/namespaces/" + f.mig + "/configmaps/mig-parted", before: func() {
		cm := must[*corev1.ConfigMap](t)(f.c.CoreV1().ConfigMaps(f.mig).Get(context.Background(), "mig-parted", metav1.GetOptions{}))
		cm.Data["config.yaml"] += "  all-1g.10gb:\n    - devices: all\n      mig-enabled: true\n      mig-devices:\n        \"1g.10gb\": 7\n"
		must[*corev1.ConfigMap](t)(f.c.CoreV1().ConfigMaps(f.mig).Update(context.Background(), cm, metav1.UpdateOptions{}))
	}}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { ct.rt = rt; return ct })
	k := start(t, cfg, f.opts)
	want := catalog.UniformMIG(map[string]int{"3g.40gb": 1, "2g.20gb": 2})
	err := k.SetMIGConfig(ctx, n.Name, want)
	if !scaler.IsConflict(err) || !ct.fired.Load() {
		t.Fatalf("SetMIGConfig against a concurrent writer: %v (fired %v), want ErrConflict", err, ct.fired.Load())
	}
	if node := must[*corev1.Node](t)(f.c.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})); node.Labels[MIGConfigLabel] != "all-disabled" {
		t.Fatalf("labelled although the ConfigMap write failed: %v", node.Labels)
	}
	// Retried, it keeps the other writer's entry.
	if err := k.SetMIGConfig(ctx, n.Name, want); err != nil {
		t.Fatal(err)
	}
	cm := must[*corev1.ConfigMap](t)(f.c.CoreV1().ConfigMaps(f.mig).Get(ctx, "mig-parted", metav1.GetOptions{}))
	got := must[map[string]catalog.MIGConfig](t)(catalog.ParseMIGParted([]byte(cm.Data["config.yaml"])))
	if _, ok := got["all-1g.10gb"]; !ok || !sameEntries(got[want.Name], want) {
		t.Fatalf("after the retry:\n%s", cm.Data["config.yaml"])
	}
}

func testEvents(t *testing.T, f *fixture) {
	ctx := t.Context()
	n := f.node(t, "e", nil, true)
	mkDeployment(t, f.c, f.ns, "reader-e", "e", "3g.40gb", 1)
	k := start(t, f.env.Config, f.opts)
	k.Report(ctx, scaler.Action{Kind: scaler.ActScaleClass, Target: "e", From: "1", To: "3", Reason: "forecast 12 rps", Status: scaler.StatusDone})
	long := strings.Repeat("é", 900) // 1800 bytes
	k.Report(ctx, scaler.Action{Kind: scaler.ActCordon, Target: n.Name, Reason: "consolidate", Status: scaler.StatusFailed, Error: long})
	k.Report(ctx, scaler.Action{Kind: scaler.ActNodeGroupSize, Target: "gpu-p5", From: "1", To: "2", Status: scaler.StatusDone})

	find := func(ns, kind, name string) (found []string) {
		list, err := f.c.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return []string{err.Error()}
		}
		for _, e := range list.Items {
			if e.Regarding.Kind == kind && e.Regarding.Name == name {
				found = append(found, fmt.Sprintf("%s|%s|%s|%s|%d", e.Type, e.Reason, e.ReportingController, e.Action, len(e.Note)))
				if kind == "Deployment" && e.Note != "1 -> 3: forecast 12 rps" {
					found = append(found, "note="+e.Note)
				}
			}
		}
		return found
	}
	eventually(t, "Event on the Deployment", func() (bool, string) {
		got := find(f.ns, "Deployment", "reader-e")
		return slices.Equal(got, []string{"Normal|scale-class|headroom|scale-class|23"}), describe(got)
	})
	eventually(t, "Warning Event on the Node, note truncated", func() (bool, string) {
		got := find(metav1.NamespaceDefault, "Node", n.Name)
		return len(got) == 1 && strings.HasPrefix(got[0], "Warning|cordon|headroom|cordon|") &&
			!strings.HasSuffix(got[0], "|0"), describe(got)
	})
	list := must[*eventsv1.EventList](t)(f.c.EventsV1().Events(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{}))
	for _, e := range list.Items {
		if e.Regarding.Name == n.Name && (len(e.Note) > NoteLimit || !strings.HasSuffix(e.Note, "...")) {
			t.Errorf("note of %d bytes, want at most %d ending in ...", len(e.Note), NoteLimit)
		}
	}
}

func testPodUsageAbsent(t *testing.T, f *fixture) {
	k := start(t, f.env.Config, f.opts)
	_, err := k.PodUsage(t.Context(), time.Now())
	if err == nil || !strings.Contains(err.Error(), "metrics.k8s.io API is not available") {
		t.Fatalf("PodUsage without metrics-server: %v", err)
	}
	if scaler.IsNotFound(err) {
		t.Errorf("a missing API is not a vanished object: %v", err)
	}
}

func testVPA(t *testing.T, f *fixture) {
	ctx := t.Context()
	mkDeployment(t, f.c, f.ns, "reader-v", "v", "3g.40gb", 2)
	k := start(t, f.env.Config, f.opts) // auto: the CRD is there now
	dyn := must[*dynamic.DynamicClient](t)(dynamic.NewForConfig(f.env.Config))
	if err := k.SetResources(ctx, "v", scaler.Resources{CPUCores: 3.2, MemoryBytes: 12 << 30}); err != nil {
		t.Fatal(err)
	}
	vpa := must[*unstructured.Unstructured](t)(dyn.Resource(vpaGVR).Namespace(f.ns).Get(ctx, "reader-v", metav1.GetOptions{}))
	str := func(path ...string) string {
		s, _, _ := unstructured.NestedString(vpa.Object, path...)
		return s
	}
	if str("spec", "targetRef", "kind") != "Deployment" || str("spec", "targetRef", "name") != "reader-v" ||
		str("spec", "targetRef", "apiVersion") != "apps/v1" || str("spec", "updatePolicy", "updateMode") != "Initial" ||
		vpa.GetLabels()[DefaultClassLabel] != "v" {
		t.Errorf("spec: %v", vpa.Object["spec"])
	}
	recs, _, _ := unstructured.NestedSlice(vpa.Object, "spec", "recommenders")
	if describe(recs) != describe([]any{map[string]any{"name": "headroom"}}) {
		t.Errorf("recommenders %v", recs)
	}
	check := func(cpu, mem string) string {
		t.Helper()
		vpa = must[*unstructured.Unstructured](t)(dyn.Resource(vpaGVR).Namespace(f.ns).Get(ctx, "reader-v", metav1.GetOptions{}))
		cr, _, _ := unstructured.NestedSlice(vpa.Object, "status", "recommendation", "containerRecommendations")
		if len(cr) != 1 {
			t.Fatalf("containerRecommendations: %v", vpa.Object["status"])
		}
		r := cr[0].(map[string]any)
		if r["containerName"] != "reader" {
			t.Errorf("container %v", r["containerName"])
		}
		for _, key := range []string{"target", "lowerBound", "upperBound", "uncappedTarget"} {
			m, _ := r[key].(map[string]any)
			gc, _ := resource.ParseQuantity(fmt.Sprint(m["cpu"]))
			gm, _ := resource.ParseQuantity(fmt.Sprint(m["memory"]))
			if gc.Cmp(resource.MustParse(cpu)) != 0 || gm.Cmp(resource.MustParse(mem)) != 0 {
				t.Errorf("%s = %v, want cpu %s memory %s", key, m, cpu, mem)
			}
		}
		conds, _, _ := unstructured.NestedSlice(vpa.Object, "status", "conditions")
		if len(conds) != 1 || conds[0].(map[string]any)["type"] != "RecommendationProvided" || conds[0].(map[string]any)["status"] != "True" {
			t.Fatalf("conditions %v", conds)
		}
		return conds[0].(map[string]any)["lastTransitionTime"].(string)
	}
	since := check("3200m", "12Gi")
	if err := k.SetResources(ctx, "v", scaler.Resources{CPUCores: 1.5, MemoryBytes: 6 << 30}); err != nil {
		t.Fatal(err)
	}
	if again := check("1500m", "6Gi"); again != since {
		t.Errorf("RecommendationProvided transition time moved: %s -> %s", since, again)
	}
	// The Deployment is untouched: the VPA admission controller applies it.
	d := must[*appsv1.Deployment](t)(f.c.AppsV1().Deployments(f.ns).Get(ctx, "reader-v", metav1.GetOptions{}))
	if q := d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; q.String() != "4" {
		t.Errorf("deployment requests changed: %v", q.String())
	}

	// patch-requests ignores the CRD.
	opts := f.opts
	opts.VPAMode, opts.VPAUpdateMode = VPAModePatchRequests, "Off"
	if err := start(t, f.env.Config, opts).SetResources(ctx, "v", scaler.Resources{CPUCores: 1, MemoryBytes: 4 << 30}); err != nil {
		t.Fatal(err)
	}
	d = must[*appsv1.Deployment](t)(f.c.AppsV1().Deployments(f.ns).Get(ctx, "reader-v", metav1.GetOptions{}))
	if q := d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; q.String() != "1" {
		t.Errorf("patch-requests: cpu %v", q.String())
	}
}

// testRBAC runs every call of the adapter as a ServiceAccount bound to
// exactly testdata/rbac.yaml (namespaces rewritten to this case's), through
// impersonation: a verb missing from the file is a Forbidden here.
func testRBAC(t *testing.T, env *envtest.Env) {
	f := newFixture(t, env)
	ctx := t.Context()
	sa := f.ns // the readers' namespace doubles as the controller's
	must[*corev1.ServiceAccount](t)(f.c.CoreV1().ServiceAccounts(sa).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "headroom-controller"}}, metav1.CreateOptions{}))
	suffix := "-" + f.ns
	applyRBAC(t, f.c, "testdata/rbac.yaml", map[string]string{"headroom": f.ns, "gpu-operator": f.mig}, suffix, "")
	opts := f.opts
	opts.MIGConfigMap.Name = "default-mig-parted-config" // the name the Role grants

	n := f.node(t, "rbac", map[string]string{MIGConfigLabel: "all-disabled", MIGConfigStateLabel: "success"}, true)
	mkDeployment(t, f.c, f.ns, "reader-rb", "rb", "3g.40gb", 1)
	mkPod(t, f.c, f.ns, "rb-1", "rb", n.Name, "3g.40gb", true)
	mkMIGConfigMap(t, f.c, opts.MIGConfigMap, stockMIGParted)

	as := rest.CopyConfig(env.Config)
	as.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + sa + ":headroom-controller"}
	k := start(t, as, opts) // list/watch of nodes, pods, deployments, the ConfigMap
	forbidden := func(what string, err error) {
		t.Helper()
		if apierrors.IsForbidden(err) || (err != nil && strings.Contains(err.Error(), "forbidden")) {
			t.Errorf("%s: %v", what, err)
		} else if err != nil {
			t.Errorf("%s: unexpected error %v", what, err)
		}
	}
	eventually(t, "snapshot as the ServiceAccount", func() (bool, string) {
		st, err := k.Snapshot(ctx)
		return err == nil && len(st.Pods) == 1 && len(st.MIGConfigs) == 3, fmt.Sprint(err, st)
	})
	forbidden("ScaleClass", k.ScaleClass(ctx, "rb", 2))
	forbidden("SetProfile", k.SetProfile(ctx, "rb", "2g.20gb"))
	forbidden("SetResources (VPA)", k.SetResources(ctx, "rb", scaler.Resources{CPUCores: 2, MemoryBytes: 4 << 30}))
	forbidden("SetResources (VPA, again)", k.SetResources(ctx, "rb", scaler.Resources{CPUCores: 3, MemoryBytes: 4 << 30}))
	po := opts
	po.VPAMode = VPAModePatchRequests
	kp := start(t, as, po)
	forbidden("SetResources (patch-requests)", kp.SetResources(ctx, "rb", scaler.Resources{CPUCores: 2, MemoryBytes: 4 << 30}))
	forbidden("Cordon", k.Cordon(ctx, n.Name, true))
	forbidden("SetMIGConfig", k.SetMIGConfig(ctx, n.Name, catalog.UniformMIG(map[string]int{"2g.20gb": 3})))
	forbidden("Drain", k.Drain(ctx, n.Name))
	if _, err := k.PodUsage(ctx, time.Now()); !strings.Contains(fmt.Sprint(err), "not available") {
		t.Errorf("PodUsage: %v, want the missing API (allowed, then not found), not forbidden", err)
	}
	k.Report(ctx, scaler.Action{Kind: scaler.ActCordon, Target: n.Name, Reason: "rbac", Status: scaler.StatusDone})
	k.Report(ctx, scaler.Action{Kind: scaler.ActScaleClass, Target: "rb", Reason: "rbac", Status: scaler.StatusDone})
	eventually(t, "events written as the ServiceAccount", func() (bool, string) {
		var got []string
		for _, ns := range []string{metav1.NamespaceDefault, f.ns} {
			list, err := f.c.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, e := range list.Items {
				if e.Note == "rbac" && (e.Regarding.Name == n.Name || e.Regarding.Name == "reader-rb") {
					got = append(got, e.Regarding.Kind)
				}
			}
		}
		slices.Sort(got)
		return slices.Equal(got, []string{"Deployment", "Node"}), describe(got)
	})

	// The check has teeth: the same roles without pods/eviction refuse the drain.
	f2 := newFixture(t, env)
	must[*corev1.ServiceAccount](t)(f.c.CoreV1().ServiceAccounts(f2.ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "headroom-controller"}}, metav1.CreateOptions{}))
	applyRBAC(t, f.c, "testdata/rbac.yaml", map[string]string{"headroom": f2.ns, "gpu-operator": f2.mig}, "-"+f2.ns, "pods/eviction")
	n2 := f2.node(t, "rbac", nil, true)
	mkPod(t, f.c, f2.ns, "rb-2", "rb", n2.Name, "3g.40gb", true)
	as2 := rest.CopyConfig(env.Config)
	as2.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + f2.ns + ":headroom-controller"}
	o2 := f2.opts
	o2.MIGConfigMap.Name = "default-mig-parted-config"
	if err := start(t, as2, o2).Drain(ctx, n2.Name); !apierrors.IsForbidden(errors.Unwrap(errors.Unwrap(err))) && !strings.Contains(fmt.Sprint(err), "forbidden") {
		t.Errorf("drain without pods/eviction: %v, want forbidden", err)
	}
}
