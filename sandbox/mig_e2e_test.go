package sandbox

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/scaler/kube"
)

// nodeView is what a re-partition changes on a node.
type nodeView struct {
	Cordoned      bool
	Config, State string
}

func viewOf(n *corev1.Node) nodeView {
	return nodeView{Cordoned: n.Spec.Unschedulable, Config: n.Labels[kube.MIGConfigLabel], State: n.Labels[kube.MIGConfigStateLabel]}
}

// repartitioned reports whether a node's views went through a MIG
// re-partition from one config to another in order: cordoned on the old
// config, the new config pending while cordoned, success while cordoned,
// then schedulable on the new config. It returns the new config.
func repartitioned(views []nodeView) (string, bool) {
	step, from, to := 0, "", ""
	for _, v := range views {
		switch {
		case step == 0 && v.Cordoned && v.State == MIGSuccess:
			step, from = 1, v.Config
		case step == 1 && v.Cordoned && v.Config != from && v.State == MIGPending:
			step, to = 2, v.Config
		case step == 2 && v.Cordoned && v.Config == to && v.State == MIGSuccess:
			step = 3
		case step == 3 && !v.Cordoned && v.Config == to && v.State == MIGSuccess:
			return to, true
		}
	}
	return "", false
}

// nodeHistory records every distinct view of every GPU node from a watch.
type nodeHistory struct {
	mu    sync.Mutex
	views map[string][]nodeView
}

func watchNodes(t *testing.T, s *Sandbox) *nodeHistory {
	t.Helper()
	h := &nodeHistory{views: map[string][]nodeView{}}
	add := func(obj any) {
		n, ok := obj.(*corev1.Node)
		if !ok {
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		v := viewOf(n)
		if vs := h.views[n.Name]; len(vs) == 0 || vs[len(vs)-1] != v {
			h.views[n.Name] = append(vs, v)
		}
	}
	f := informers.NewSharedInformerFactoryWithOptions(s.Kube, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = InstanceLabel }))
	inf := f.Core().V1().Nodes().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, n any) { add(n) }}); err != nil {
		t.Fatal(err)
	}
	f.Start(t.Context().Done())
	t.Cleanup(f.Shutdown)
	if !cache.WaitForCacheSync(t.Context().Done(), inf.HasSynced) {
		t.Fatal("node informer did not sync")
	}
	return h
}

func (h *nodeHistory) nodes() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Sorted(maps.Keys(h.views))
}

func (h *nodeHistory) of(node string) []nodeView {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]nodeView(nil), h.views[node]...)
}

// MIG: the class runs only on 3g.40gb slices and new H100 nodes join with
// MIG off, so the spike's new node serves only after the controller
// re-partitions it (cordon, config pending, success, uncordon), while the
// router keeps the class within its SLO and loses no request.
func TestMIG(t *testing.T) {
	s := startSandbox(t, Options{Policy: "testdata/mig"})
	first := nodeNames(t, s)
	if len(first) != 1 {
		t.Fatalf("%d nodes at the start, want the nodegroup's minimum, 1", len(first))
	}
	// Steady means the class's replicas are Ready, which on a node that
	// joined with MIG off takes a re-partition already.
	for _, n := range gpuNodes(t, s) {
		v := viewOf(&n)
		slots := n.Status.Allocatable[corev1.ResourceName("nvidia.com/mig-3g.40gb")]
		if v.Cordoned || v.Config == catalog.MIGDisabledName || v.State != MIGSuccess || slots.Value() == 0 {
			t.Fatalf("node %s at steady state: %+v with %s 3g.40gb slices, want re-partitioned to 3g.40gb and schedulable", n.Name, v, slots.String())
		}
	}
	h := watchNodes(t, s)
	spike(t, s, first)
	// Every node that joined during the spike, including one removed after.
	var done []string
	for _, node := range h.nodes() {
		if first[node] {
			continue
		}
		views := h.of(node)
		if views[0].Config != catalog.MIGDisabledName {
			t.Errorf("node %s joined with MIG config %q, want %s (a new GPU)", node, views[0].Config, catalog.MIGDisabledName)
		}
		to, ok := repartitioned(views)
		if !ok {
			t.Errorf("node %s: no cordon, pending, success, uncordon in %+v", node, views)
			continue
		}
		done = append(done, fmt.Sprintf("%s -> %s", node, to))
	}
	if len(done) == 0 {
		t.Fatal("no new node was re-partitioned")
	}
	t.Logf("re-partitioned during the spike: %v", done)
}

func TestRepartitioned(t *testing.T) {
	off, on := catalog.MIGDisabledName, "all-3g.40gb"
	full := []nodeView{
		{false, off, MIGSuccess}, {true, off, MIGSuccess}, {true, on, MIGPending}, {true, on, MIGSuccess}, {false, on, MIGSuccess},
	}
	if to, ok := repartitioned(full); !ok || to != on {
		t.Fatalf("full sequence: %q %v", to, ok)
	}
	for name, views := range map[string][]nodeView{
		"never cordoned":     {{false, off, MIGSuccess}, {false, on, MIGPending}, {false, on, MIGSuccess}},
		"still cordoned":     full[:4],
		"uncordoned pending": {{true, off, MIGSuccess}, {true, on, MIGPending}, {false, on, MIGPending}},
		"failed":             {{true, off, MIGSuccess}, {true, on, MIGPending}, {true, on, MIGFailed}, {false, on, MIGFailed}},
	} {
		if _, ok := repartitioned(views); ok {
			t.Errorf("%s: counted as a re-partition", name)
		}
	}
}
