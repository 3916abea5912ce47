package kube

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/headroom-dev/headroom/scaler"
)

// VerticalPodAutoscaler objects are written through the dynamic client as
// unstructured objects, so that no VPA Go module (and the k8s.io release it
// pins) enters the build.
var vpaGVR = schema.GroupVersionResource{Group: "autoscaling.k8s.io", Version: "v1", Resource: "verticalpodautoscalers"}

// useVPA reports whether SetResources writes a VPA: always in mode vpa
// (an error when the API is not served), never in patch-requests, and in
// auto when discovery finds autoscaling.k8s.io/v1 verticalpodautoscalers.
// The discovery answer is kept for ResyncPeriod.
func (k *Cluster) useVPA(ctx context.Context) (bool, error) {
	if k.opts.VPAMode == VPAModePatchRequests {
		return false, nil
	}
	served, err := k.vpaServed(ctx)
	if err != nil {
		return false, err
	}
	if !served && k.opts.VPAMode == VPAModeVPA {
		return false, fmt.Errorf("vpaMode vpa, but the API server does not serve %s (install the VPA CRDs, or set vpaMode auto or patch-requests)", vpaGVR)
	}
	return served, nil
}

func (k *Cluster) vpaServed(ctx context.Context) (bool, error) {
	now := time.Now()
	k.mu.Lock()
	seen, missed := k.vpaSeen, k.vpaMissed
	k.mu.Unlock()
	switch {
	case !seen.IsZero() && now.Sub(seen) < k.opts.ResyncPeriod:
		return true, nil
	case !missed.IsZero() && now.Sub(missed) < k.opts.ResyncPeriod:
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	list, err := k.clients.Kube.Discovery().ServerResourcesForGroupVersion(vpaGVR.GroupVersion().String())
	served := false
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return false, fmt.Errorf("discovering %s: %w", vpaGVR.GroupVersion(), err)
	default:
		for _, r := range list.APIResources {
			served = served || r.Name == vpaGVR.Resource
		}
	}
	k.mu.Lock()
	first, was := k.vpaSeen.IsZero() && k.vpaMissed.IsZero(), !k.vpaSeen.IsZero()
	changed := first || was != served
	if served {
		k.vpaSeen, k.vpaMissed = now, time.Time{}
	} else {
		k.vpaSeen, k.vpaMissed = time.Time{}, now
	}
	k.mu.Unlock()
	if changed {
		k.log.Info("VerticalPodAutoscaler API discovery", zap.Bool("served", served), zap.String("vpaMode", k.opts.VPAMode))
	}
	return served, nil
}

// writeVPA keeps one VerticalPodAutoscaler per class, named after its
// Deployment, with headroom as its recommender, and writes rec as the
// reader container's recommendation. Both writes are server-side applies
// by the field manager (forced: headroom owns these fields), spec first,
// then status through the status subresource.
//
// headroom's recommendation is one point: target, lowerBound, upperBound
// and uncappedTarget all carry it. (The VPA updater evicts a pod whose
// requests fall outside [lowerBound, upperBound]; with the default
// updateMode Initial it evicts nothing.)
func (k *Cluster) writeVPA(ctx context.Context, class string, d *appsv1.Deployment, rec scaler.Resources) error {
	res := k.clients.Dynamic.Resource(vpaGVR).Namespace(d.Namespace)
	apply := metav1.ApplyOptions{FieldManager: k.opts.FieldManager, Force: true}
	spec := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "autoscaling.k8s.io/v1",
		"kind":       "VerticalPodAutoscaler",
		"metadata": map[string]any{
			"name": d.Name, "namespace": d.Namespace,
			"labels": map[string]any{k.opts.ClassLabel: class},
		},
		"spec": map[string]any{
			"targetRef":    map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": d.Name},
			"recommenders": []any{map[string]any{"name": RecommenderName}},
			"updatePolicy": map[string]any{"updateMode": k.opts.VPAUpdateMode},
		},
	}}
	got, err := res.Apply(ctx, d.Name, spec, apply)
	if err != nil {
		return apiErr(err, "applying VerticalPodAutoscaler %s/%s (class %s)", d.Namespace, d.Name, class)
	}
	cpu, mem := cpuQuantity(rec.CPUCores), memQuantity(rec.MemoryBytes)
	point := map[string]any{"cpu": cpu.String(), "memory": mem.String()}
	status := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "autoscaling.k8s.io/v1",
		"kind":       "VerticalPodAutoscaler",
		"metadata":   map[string]any{"name": d.Name, "namespace": d.Namespace},
		"status": map[string]any{
			"recommendation": map[string]any{"containerRecommendations": []any{map[string]any{
				"containerName":  k.opts.Container,
				"target":         point,
				"lowerBound":     point,
				"upperBound":     point,
				"uncappedTarget": point,
			}}},
			"conditions": []any{map[string]any{
				"type": "RecommendationProvided", "status": "True",
				"lastTransitionTime": providedSince(got, time.Now()),
			}},
		},
	}}
	if _, err := res.ApplyStatus(ctx, d.Name, status, apply); err != nil {
		return apiErr(err, "writing the recommendation of VerticalPodAutoscaler %s/%s (class %s)", d.Namespace, d.Name, class)
	}
	return nil
}

// providedSince keeps the RecommendationProvided condition's transition
// time when it is already True.
func providedSince(vpa *unstructured.Unstructured, now time.Time) string {
	conds, _, _ := unstructured.NestedSlice(vpa.Object, "status", "conditions")
	i := slices.IndexFunc(conds, func(c any) bool {
		m, _ := c.(map[string]any)
		return m["type"] == "RecommendationProvided" && m["status"] == "True"
	})
	if i >= 0 {
		if t, ok := conds[i].(map[string]any)["lastTransitionTime"].(string); ok && t != "" {
			return t
		}
	}
	return now.UTC().Format(time.RFC3339)
}
