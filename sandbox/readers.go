package sandbox

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/headroom-dev/headroom/scaler/kube"
)

// ReaderPod is a reader pod as the process supervisor sees it: one
// emulate-reader process serves it on IP:Port while it runs.
type ReaderPod struct {
	Namespace, Name, UID string
	Class, Profile       string
	Node, IP             string
	Port                 int32
}

// Key names the process of a pod: a pod recreated under the same name is
// another process.
func (p ReaderPod) Key() string { return p.Namespace + "/" + p.Name + "/" + p.UID }

// ReaderPlan is which processes to start and which to stop (by key).
type ReaderPlan struct {
	Start []ReaderPod
	Stop  []string
}

// PlanReaders compares the pods that should be served (Serving) with the
// processes running (by key): a serving pod without a process starts one,
// a process whose pod no longer serves stops. Sorted by key.
func PlanReaders(serving []ReaderPod, running map[string]bool) ReaderPlan {
	var p ReaderPlan
	want := map[string]bool{}
	for _, pod := range serving {
		want[pod.Key()] = true
		if !running[pod.Key()] {
			p.Start = append(p.Start, pod)
		}
	}
	for k := range running {
		if !want[k] {
			p.Stop = append(p.Stop, k)
		}
	}
	slices.SortFunc(p.Start, func(a, b ReaderPod) int { return strings.Compare(a.Key(), b.Key()) })
	slices.Sort(p.Stop)
	return p
}

// Serving reads a pod: ok when a process should serve it now, that is,
// it has the class label, runs (phase Running, an IP, bound to a node) and
// is not being deleted. A deleted pod's process stops at once: its
// EndpointSlice entry goes terminating, so the router sends it nothing
// new. The profile is the pod's headroom.dev/profile label, or the GPU
// resource its reader container asks for.
func Serving(p *corev1.Pod, classLabel, container string) (ReaderPod, bool) {
	class := p.Labels[classLabel]
	if class == "" || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.Spec.NodeName == "" {
		return ReaderPod{}, false
	}
	r := ReaderPod{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Class: class,
		Profile: p.Labels[kube.ProfileLabel], Node: p.Spec.NodeName, IP: p.Status.PodIP, Port: 8000}
	for _, c := range p.Spec.Containers {
		if c.Name != container {
			continue
		}
		for _, port := range c.Ports {
			if port.Name == "http" || len(c.Ports) == 1 {
				r.Port = port.ContainerPort
			}
		}
		if r.Profile == "" {
			for name := range c.Resources.Requests {
				if prof, ok := strings.CutPrefix(string(name), migResourcePrefix); ok {
					r.Profile = prof
				} else if name == gpuResource {
					r.Profile = "whole"
				}
			}
		}
	}
	return r, true
}

// podReady reads a pod's Ready condition.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
