package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// ApplyReaders server-side applies rendered reader objects (deploy/render:
// Deployments, Services, PodDisruptionBudgets, the models claim) with the
// field manager Options.FieldManager, forcing ownership of the fields it
// sets. A Deployment that exists keeps what the controller manages at its
// live values: spec.replicas and the reader container's resources are
// copied from the live object into the applied one, so applying the policy
// never undoes a scale or a vertical recommendation. Every object is tried;
// the errors are joined.
func (k *Cluster) ApplyReaders(ctx context.Context, objs []runtime.Object) error {
	var errs []error
	for _, obj := range objs {
		if err := k.apply(ctx, obj); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (k *Cluster) apply(ctx context.Context, obj runtime.Object) error {
	opts := metav1.PatchOptions{FieldManager: k.opts.FieldManager, Force: ptrTo(true)}
	patch := func(o metav1.Object) ([]byte, error) { return json.Marshal(o) }
	kc := k.clients.Kube
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o = o.DeepCopy()
		live, err := kc.AppsV1().Deployments(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
		switch {
		case err == nil:
			keepManaged(o, live, k.opts.Container)
		case !apierrors.IsNotFound(err):
			return apiErr(err, "reading deployment %s/%s", o.Namespace, o.Name)
		}
		data, err := patch(o)
		if err != nil {
			return err
		}
		_, err = kc.AppsV1().Deployments(o.Namespace).Patch(ctx, o.Name, types.ApplyPatchType, data, opts)
		return apiErr(err, "applying deployment %s/%s", o.Namespace, o.Name)
	case *corev1.Service:
		data, err := patch(o)
		if err != nil {
			return err
		}
		_, err = kc.CoreV1().Services(o.Namespace).Patch(ctx, o.Name, types.ApplyPatchType, data, opts)
		return apiErr(err, "applying service %s/%s", o.Namespace, o.Name)
	case *policyv1.PodDisruptionBudget:
		data, err := patch(o)
		if err != nil {
			return err
		}
		_, err = kc.PolicyV1().PodDisruptionBudgets(o.Namespace).Patch(ctx, o.Name, types.ApplyPatchType, data, opts)
		return apiErr(err, "applying poddisruptionbudget %s/%s", o.Namespace, o.Name)
	case *corev1.PersistentVolumeClaim:
		data, err := patch(o)
		if err != nil {
			return err
		}
		_, err = kc.CoreV1().PersistentVolumeClaims(o.Namespace).Patch(ctx, o.Name, types.ApplyPatchType, data, opts)
		return apiErr(err, "applying persistentvolumeclaim %s/%s", o.Namespace, o.Name)
	}
	return fmt.Errorf("applying readers: unsupported object %T", obj)
}

// keepManaged copies the fields the controller owns from the live
// Deployment into the one to apply.
func keepManaged(o, live *appsv1.Deployment, container string) {
	o.Spec.Replicas = live.Spec.Replicas
	for _, lc := range live.Spec.Template.Spec.Containers {
		if lc.Name != container {
			continue
		}
		for i := range o.Spec.Template.Spec.Containers {
			if c := &o.Spec.Template.Spec.Containers[i]; c.Name == container {
				c.Resources = *lc.Resources.DeepCopy()
			}
		}
	}
	// The profile label follows the GPU resource the live pods request.
	if p := live.Spec.Template.Labels[ProfileLabel]; p != "" {
		if o.Spec.Template.Labels == nil {
			o.Spec.Template.Labels = map[string]string{}
		}
		o.Spec.Template.Labels[ProfileLabel] = p
	}
}

func ptrTo[T any](v T) *T { return &v }
