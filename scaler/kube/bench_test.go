package kube

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
)

// BenchmarkSnapshot measures Snapshot over caches holding nodes and reader
// pods (one class per 50 pods), from small to a 1,000-node, 5,000-pod
// cluster. Snapshot reads only the caches, so this is the whole per-tick
// cost of the cluster side.
func BenchmarkSnapshot(b *testing.B) {
	for _, size := range []struct{ nodes, pods int }{{10, 50}, {100, 500}, {1000, 5000}} {
		b.Run(fmt.Sprintf("nodes=%d/pods=%d", size.nodes, size.pods), func(b *testing.B) {
			objs := make([]runtime.Object, 0, size.nodes+size.pods+size.pods/50+1)
			for i := range size.nodes {
				objs = append(objs, &corev1.Node{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%04d", i), Labels: map[string]string{
						NodeGroupLabel: "gpu-p5", CapacityTypeLabel: "SPOT", InstanceTypeLabel: "p5.48xlarge",
						MIGConfigLabel: "all-2x3g.40gb", MIGConfigStateLabel: "success"}},
					Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
				})
			}
			for i := range size.pods {
				class := fmt.Sprintf("class-%03d", i/50)
				spec := readerSpec("3g.40gb", 60)
				spec.NodeName = fmt.Sprintf("node-%04d", i%size.nodes)
				objs = append(objs, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: fakeNS, Labels: map[string]string{DefaultClassLabel: class}},
					Spec:       spec,
					Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
				})
				if i%50 == 0 {
					objs = append(objs, deploymentObj(fakeNS, "reader-"+class, class, "3g.40gb", 50))
				}
			}
			objs = append(objs, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "default-mig-parted-config", Namespace: "gpu-operator"},
				Data: map[string]string{"config.yaml": stockMIGParted}})
			k, err := New(Clients{Kube: kubefake.NewClientset(objs...)}, Options{Namespace: fakeNS, VPAMode: VPAModePatchRequests}, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := k.Start(ctx); err != nil {
				b.Fatal(err)
			}
			if err := k.WaitForSync(ctx); err != nil {
				b.Fatal(err)
			}
			st, err := k.Snapshot(ctx)
			if err != nil || len(st.Nodes) != size.nodes || len(st.Pods) != size.pods {
				b.Fatalf("snapshot: %v, %d nodes, %d pods", err, len(st.Nodes), len(st.Pods))
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				if _, err := k.Snapshot(ctx); err != nil {
					b.Fatal(err)
				}
			}
			el := time.Since(start)
			b.ReportMetric(float64(el.Microseconds())/float64(b.N), "µs/snapshot")
			b.ReportMetric(float64(size.nodes+size.pods)*float64(b.N)/el.Seconds(), "objects/s")
		})
	}
}
