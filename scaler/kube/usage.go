package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/headroom-dev/headroom/scaler"
)

// PodUsage has the signature of scaler.Metrics.PodUsage: the reader
// container's CPU and memory use per reader pod, from metrics.k8s.io
// (metrics-server), one LIST per call. The controller composes it with
// the Prometheus adapter's ClassStats and GPUMemory.
//
// A pod is reported only when it is in the pod cache (so its class is
// known) and has a sample for the reader container. OOMKilled is set when
// the container's last termination was an OOM kill that finished after
// the previous call (for the first call: after Start), so one kill is
// reported once.
//
// Without the metrics API (no metrics-server, or its APIService
// unavailable) PodUsage fails with an error saying so; the core treats
// usage as missing.
func (k *Cluster) PodUsage(ctx context.Context, now time.Time) ([]scaler.PodUsage, error) {
	if k.clients.Metrics == nil {
		return nil, errors.New("pod usage: no metrics.k8s.io client")
	}
	if err := k.Ready(); err != nil {
		return nil, fmt.Errorf("pod usage: %w", err)
	}
	hasClass, _ := labels.NewRequirement(k.opts.ClassLabel, selection.Exists, nil)
	list, err := k.clients.Metrics.MetricsV1beta1().PodMetricses(k.opts.Namespace).List(ctx,
		metav1.ListOptions{LabelSelector: labels.NewSelector().Add(*hasClass).String()})
	if err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsServiceUnavailable(err) {
			return nil, fmt.Errorf("pod usage: the metrics.k8s.io API is not available (is metrics-server installed and its APIService Available?): %w", err)
		}
		return nil, apiErr(err, "pod usage: listing metrics.k8s.io podmetrics")
	}
	k.mu.Lock()
	since := k.lastUsage
	if since.IsZero() {
		since = k.startedAt
	}
	k.lastUsage = now
	k.mu.Unlock()

	out := make([]scaler.PodUsage, 0, len(list.Items))
	for i := range list.Items {
		m := &list.Items[i]
		pod, err := k.pods.Pods(m.Namespace).Get(m.Name)
		if err != nil {
			continue // not a reader pod we track (or not yet in the cache)
		}
		for _, c := range m.Containers {
			if c.Name != k.opts.Container {
				continue
			}
			cpu, mem := c.Usage[corev1.ResourceCPU], c.Usage[corev1.ResourceMemory]
			out = append(out, scaler.PodUsage{
				Pod:         pod.Name,
				Class:       pod.Labels[k.opts.ClassLabel],
				CPUCores:    float64(cpu.MilliValue()) / 1000,
				MemoryBytes: float64(mem.Value()),
				OOMKilled:   oomKilledSince(pod, k.opts.Container, since),
			})
		}
	}
	slices.SortFunc(out, func(a, b scaler.PodUsage) int { return strings.Compare(a.Pod, b.Pod) })
	return out, nil
}

// oomKilledSince reports whether the container's last termination was an
// OOM kill that finished after since.
func oomKilledSince(p *corev1.Pod, container string, since time.Time) bool {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name != container {
			continue
		}
		t := s.LastTerminationState.Terminated
		return t != nil && t.Reason == "OOMKilled" && t.FinishedAt.After(since)
	}
	return false
}
