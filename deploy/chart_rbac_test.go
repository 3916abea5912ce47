package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/internal/envtest"
	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/scaler/kube"
)

// rbacDrop is one verb taken out of the chart's rules, and the call of the
// controller that needs it.
type rbacDrop struct {
	resource, verb string
	calls          []string // the calls that must then be forbidden
}

// testChartRBAC renders the chart's controller RBAC, binds it to the
// chart's ServiceAccount on the API server and runs the Kubernetes
// adapter's calls and the leader election Lease's calls as that
// ServiceAccount (impersonation): all pass. Then, each in a fresh release,
// the same rules with one verb fewer: the call that needs it is forbidden,
// the others still pass.
func testChartRBAC(t *testing.T, env *envtest.Env) {
	cases := []rbacDrop{
		{},
		{"deployments/scale", "update", []string{"ScaleClass"}},
		{"deployments", "patch", []string{"SetProfile", "SetResources"}},
		{"pods/eviction", "create", []string{"Drain"}},
		{"nodes", "patch", []string{"Cordon", "SetMIGConfig"}},
		{"configmaps", "update", []string{"SetMIGConfig"}},
		{"leases", "update", []string{"Lease"}},
		{"leases", "create", []string{"Lease"}},
	}
	for i, c := range cases {
		name := "all-verbs"
		if c.verb != "" {
			name = "without-" + strings.ReplaceAll(c.resource, "/", "-") + "-" + c.verb
		}
		t.Run(name, func(t *testing.T) { runRBACCase(t, env, fmt.Sprintf("rbac%d", i), c) })
	}
}

func runRBACCase(t *testing.T, env *envtest.Env, release string, drop rbacDrop) {
	ctx := t.Context()
	ns, mig := release, release+"-gpu"
	ms := renderChart(t, chartCase{name: release, release: release, namespace: ns, args: []string{
		"--set", "migParted.namespace=" + mig,
		"--show-only", "templates/controller-serviceaccount.yaml",
		"--show-only", "templates/controller-rbac.yaml",
		"--show-only", "templates/mig-parted-configmap.yaml",
	}})
	dropped := 0
	for _, m := range ms {
		switch o := m.obj.(type) {
		case *rbacv1.ClusterRole:
			o.Rules = dropVerb(o.Rules, drop, &dropped)
		case *rbacv1.Role:
			o.Rules = dropVerb(o.Rules, drop, &dropped)
		}
	}
	if drop.verb != "" && dropped != 1 {
		t.Fatalf("%s %s is in %d rules, want 1", drop.resource, drop.verb, dropped)
	}
	for _, n := range []string{ns, mig} {
		if _, err := env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortStableFunc(ms, func(a, b manifest) int {
		return slices.Index(installOrder, a.kind) - slices.Index(installOrder, b.kind)
	})
	var sa string
	for _, m := range ms {
		if o, ok := m.obj.(*corev1.ServiceAccount); ok {
			sa = o.Name
		}
		if err := create(ctx, env.Client, m.obj.(metav1.Object).GetNamespace(), m.obj); err != nil {
			t.Fatalf("%s: %v", m.file, err)
		}
	}

	// What a cluster has: a GPU node, a reader Deployment and its pod.
	admin := env.Client
	sel := map[string]string{"headroom.dev/test": ns, kube.MIGConfigLabel: "all-disabled", kube.MIGConfigStateLabel: "success"}
	node := must(t)(admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: ns + "-gpu-0", Labels: sel}}, metav1.CreateOptions{}))
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	node = must(t)(admin.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}))
	readerDeployment(t, admin, ns)
	readerPod(t, admin, ns, node.Name)

	as := rest.CopyConfig(env.Config)
	as.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + sa}
	k, err := kube.NewForConfig(as, kube.Options{
		Namespace:    ns,
		NodeSelector: "headroom.dev/test=" + ns,
		MIGConfigMap: kube.ConfigMapRef{Namespace: mig, Name: "headroom-mig-parted-config", Key: "config.yaml"},
		VPAMode:      kube.VPAModePatchRequests,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := k.Start(actx); err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	if err := k.WaitForSync(sctx); err != nil { // list and watch of nodes, pods, deployments, the ConfigMap
		t.Fatalf("caches as %s: %v", sa, err)
	}
	eventually(t, "a snapshot with the reader pod and the chart's mig-parted entries", func() (bool, string) {
		st, err := k.Snapshot(ctx)
		return err == nil && len(st.Pods) == 1 && len(st.Deployments) == 1 && len(st.MIGConfigs) == 5, fmt.Sprint(err, st)
	})

	kc, err := kubernetes.NewForConfig(as)
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		do   func() error
	}{
		{"ScaleClass", func() error { return k.ScaleClass(ctx, "rb", 2) }},         // deployments/scale get, update
		{"SetProfile", func() error { return k.SetProfile(ctx, "rb", "2g.20gb") }}, // deployments get, patch
		{"SetResources", func() error { // deployments patch (patch-requests)
			return k.SetResources(ctx, "rb", scaler.Resources{CPUCores: 2, MemoryBytes: 4 << 30})
		}},
		{"Cordon", func() error { return k.Cordon(ctx, node.Name, true) }}, // nodes patch
		{"SetMIGConfig", func() error { // nodes get, patch; the ConfigMap get, update
			return k.SetMIGConfig(ctx, node.Name, catalog.UniformMIG(map[string]int{"2g.20gb": 3}))
		}},
		{"Drain", func() error { return k.Drain(ctx, node.Name) }}, // pods list, pods/eviction create
		{"PodUsage", func() error { // metrics.k8s.io pods list: allowed, then not served here
			if _, err := k.PodUsage(ctx, time.Now()); !strings.Contains(fmt.Sprint(err), "not available") {
				return fmt.Errorf("PodUsage: %v, want the missing API, not forbidden", err)
			}
			return nil
		}},
		{"Lease", func() error { return leaseCalls(ctx, kc, ns, "rbac-0") }},
	}
	for _, c := range calls {
		err := c.do()
		switch {
		case slices.Contains(drop.calls, c.name):
			if !isForbidden(err) {
				t.Errorf("%s without %s %s: %v, want forbidden", c.name, drop.resource, drop.verb, err)
			}
		case err != nil:
			t.Errorf("%s as %s: %v", c.name, sa, err)
		}
	}
	if drop.verb != "" {
		return
	}
	// Events (events.k8s.io create) on the Deployment and on the Node.
	k.Report(ctx, scaler.Action{Kind: scaler.ActCordon, Target: node.Name, Reason: "chart-rbac", Status: scaler.StatusDone})
	k.Report(ctx, scaler.Action{Kind: scaler.ActScaleClass, Target: "rb", Reason: "chart-rbac", Status: scaler.StatusDone})
	eventually(t, "Events written as the ServiceAccount", func() (bool, string) {
		var got []string
		for _, n := range []string{metav1.NamespaceDefault, ns} {
			list, err := admin.EventsV1().Events(n).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, e := range list.Items {
				if e.Note == "chart-rbac" && (e.Regarding.Name == node.Name || e.Regarding.Name == "reader-rb") {
					got = append(got, e.Regarding.Kind)
				}
			}
		}
		slices.Sort(got)
		return slices.Equal(got, []string{"Deployment", "Node"}), fmt.Sprint(got)
	})
}

// dropVerb removes drop.verb from the rules on drop.resource, counting the
// rules it changed; a rule left without verbs goes.
func dropVerb(rules []rbacv1.PolicyRule, drop rbacDrop, n *int) []rbacv1.PolicyRule {
	if drop.verb == "" {
		return rules
	}
	for i := range rules {
		if slices.Contains(rules[i].Resources, drop.resource) && slices.Contains(rules[i].Verbs, drop.verb) {
			rules[i].Verbs = slices.DeleteFunc(rules[i].Verbs, func(v string) bool { return v == drop.verb })
			*n++
		}
	}
	return slices.DeleteFunc(rules, func(r rbacv1.PolicyRule) bool { return len(r.Verbs) == 0 })
}

// leaseCalls are the leader elector's calls on its Lease (client-go's
// LeaseLock, as scaler/incluster builds it): get (not found), create, get,
// renew (update).
func leaseCalls(ctx context.Context, c kubernetes.Interface, ns, id string) error {
	lock := &resourcelock.LeaseLock{Client: c.CoordinationV1(), LockConfig: resourcelock.ResourceLockConfig{Identity: id}}
	lock.LeaseMeta.Namespace, lock.LeaseMeta.Name = ns, "headroom-controller"
	if _, _, err := lock.Get(ctx); !apierrors.IsNotFound(err) {
		return fmt.Errorf("get before create: %v, want not found", err)
	}
	now := metav1.NewTime(time.Now())
	rec := resourcelock.LeaderElectionRecord{HolderIdentity: id, LeaseDurationSeconds: 15, AcquireTime: now, RenewTime: now}
	if err := lock.Create(ctx, rec); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if _, _, err := lock.Get(ctx); err != nil {
		return fmt.Errorf("get: %w", err)
	}
	rec.RenewTime = metav1.NewTime(time.Now())
	if err := lock.Update(ctx, rec); err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	return nil
}

func isForbidden(err error) bool {
	return err != nil && (apierrors.IsForbidden(err) || strings.Contains(err.Error(), "forbidden"))
}

func must(t *testing.T) func(*corev1.Node, error) *corev1.Node {
	return func(n *corev1.Node, err error) *corev1.Node {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// eventually polls cond until it holds, failing after 20s with its last
// description.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	last := ""
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		ok, s := cond()
		last = s
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not after 20s; last: %s", what, last)
	}
}

// readerSpec is a reader pod on a 3g.40gb MIG slice, container "reader".
func readerSpec() corev1.PodSpec {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:                            resource.MustParse("4"),
		corev1.ResourceMemory:                         resource.MustParse("16Gi"),
		corev1.ResourceName("nvidia.com/mig-3g.40gb"): resource.MustParse("1"),
	}
	grace := int64(45)
	return corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{
		{Name: "reader", Image: "reader:1", Resources: corev1.ResourceRequirements{Requests: rl.DeepCopy(), Limits: rl.DeepCopy()}}}}
}

func readerDeployment(t *testing.T, c kubernetes.Interface, ns string) {
	t.Helper()
	one := int32(1)
	sel := map[string]string{kube.DefaultClassLabel: "rb"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "reader-rb", Namespace: ns, Labels: sel},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{kube.DefaultClassLabel: "rb", kube.ProfileLabel: "3g.40gb"}},
				Spec:       readerSpec()}},
	}
	if _, err := c.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// readerPod creates a ready reader pod on node, as a kubelet would report it.
func readerPod(t *testing.T, c kubernetes.Interface, ns, node string) {
	t.Helper()
	spec := readerSpec()
	spec.NodeName = node
	p, err := c.CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "rb-0", Namespace: ns, Labels: map[string]string{kube.DefaultClassLabel: "rb"}}, Spec: spec,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.StartTime = &metav1.Time{Time: time.Now()}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	if _, err := c.CoreV1().Pods(ns).UpdateStatus(t.Context(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
