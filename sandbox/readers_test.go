package sandbox

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServing(t *testing.T) {
	now := metav1.Now()
	pod := func(mut func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "r", Name: "a", UID: "u1", Labels: map[string]string{"headroom.dev/class": "en"}},
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "reader",
				Ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: 8001}},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"nvidia.com/mig-3g.40gb": resource.MustParse("1")}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.10.0.2"},
		}
		if mut != nil {
			mut(p)
		}
		return p
	}
	r, ok := Serving(pod(nil), "headroom.dev/class", "reader")
	want := ReaderPod{Namespace: "r", Name: "a", UID: "u1", Class: "en", Profile: "3g.40gb", Node: "n1", IP: "127.10.0.2", Port: 8001}
	if !ok || r != want {
		t.Fatalf("Serving = %+v, %v; want %+v", r, ok, want)
	}
	for name, mut := range map[string]func(*corev1.Pod){
		"pending":  func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending },
		"no IP":    func(p *corev1.Pod) { p.Status.PodIP = "" },
		"deleting": func(p *corev1.Pod) { p.DeletionTimestamp = &now },
		"no class": func(p *corev1.Pod) { p.Labels = nil },
	} {
		if _, ok := Serving(pod(mut), "headroom.dev/class", "reader"); ok {
			t.Errorf("%s: served", name)
		}
	}
}

func TestPlanReaders(t *testing.T) {
	a := ReaderPod{Namespace: "r", Name: "a", UID: "1"}
	b := ReaderPod{Namespace: "r", Name: "b", UID: "2"}
	b2 := ReaderPod{Namespace: "r", Name: "b", UID: "3"} // b recreated
	p := PlanReaders([]ReaderPod{b2, a}, map[string]bool{a.Key(): true, b.Key(): true, "r/gone/9": true})
	if len(p.Start) != 1 || p.Start[0] != b2 {
		t.Errorf("start %+v, want the new b", p.Start)
	}
	if !slices.Equal(p.Stop, []string{b.Key(), "r/gone/9"}) {
		t.Errorf("stop %v, want old b and gone", p.Stop)
	}
}
