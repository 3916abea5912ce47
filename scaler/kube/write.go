package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/scaler"
)

// ScaleClass implements scaler.Cluster through the Deployment's scale
// subresource: read it, then write spec.replicas with the read
// resourceVersion (a concurrent change is ErrConflict).
func (k *Cluster) ScaleClass(ctx context.Context, class string, replicas int) error {
	if replicas < 0 || replicas > math.MaxInt32 {
		return fmt.Errorf("scaling class %s: replicas %d out of range", class, replicas)
	}
	d, err := k.deployment(class)
	if err != nil {
		return err
	}
	api := k.clients.Kube.AppsV1().Deployments(d.Namespace)
	sc, err := api.GetScale(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		return apiErr(err, "reading the scale of deployment %s/%s (class %s)", d.Namespace, d.Name, class)
	}
	if sc.Spec.Replicas == int32(replicas) {
		return nil
	}
	sc.Spec.Replicas = int32(replicas)
	if _, err := api.UpdateScale(ctx, d.Name, sc, metav1.UpdateOptions{FieldManager: k.opts.FieldManager}); err != nil {
		return apiErr(err, "scaling deployment %s/%s (class %s) to %d", d.Namespace, d.Name, class, replicas)
	}
	return nil
}

// SetProfile implements scaler.Cluster: a strategic-merge patch of the
// reader container's GPU resource (requests and limits; any other GPU
// resource it had is removed) and of the template's headroom.dev/profile
// label when the template carries one. The Deployment's rolling update
// replaces the replicas.
func (k *Cluster) SetProfile(ctx context.Context, class, profile string) error {
	if profile != catalog.ProfileWhole && profile != catalog.ProfileTimeSliced && !validProfile(profile) {
		return fmt.Errorf("setting the profile of class %s: %q is not a GPU slice profile", class, profile)
	}
	d, err := k.liveDeployment(ctx, class)
	if err != nil {
		return err
	}
	c, err := k.container(d)
	if err != nil {
		return err
	}
	want := corev1.ResourceName(catalog.ResourceName(profile))
	requests, limits := map[string]any{}, map[string]any{}
	for _, n := range gpuResources(c.Resources.Requests) {
		if corev1.ResourceName(n) != want {
			requests[n] = nil // strategic merge: delete the key
		}
	}
	for _, n := range gpuResources(c.Resources.Limits) {
		if corev1.ResourceName(n) != want {
			limits[n] = nil
		}
	}
	if q, ok := c.Resources.Limits[want]; !ok || q.Value() != 1 {
		limits[string(want)] = "1"
	}
	if q, ok := c.Resources.Requests[want]; !ok || q.Value() != 1 {
		requests[string(want)] = "1"
	}
	tmpl := map[string]any{"spec": map[string]any{"containers": []any{map[string]any{
		"name": c.Name, "resources": map[string]any{"requests": requests, "limits": limits}}}}}
	old, hasLabel := d.Spec.Template.Labels[ProfileLabel]
	if hasLabel && old != profile {
		tmpl["metadata"] = map[string]any{"labels": map[string]any{ProfileLabel: profile}}
	}
	if len(requests) == 0 && len(limits) == 0 && tmpl["metadata"] == nil {
		return nil
	}
	return k.patchDeployment(ctx, d, map[string]any{"spec": map[string]any{"template": tmpl}},
		fmt.Sprintf("setting the profile of class %s to %s", class, profile))
}

// liveDeployment finds the class's Deployment in the cache and reads it
// from the API server: a patch computed from a cache a moment behind (a
// profile changed twice in quick succession) could leave two GPU
// resources on the container.
func (k *Cluster) liveDeployment(ctx context.Context, class string) (*appsv1.Deployment, error) {
	d, err := k.deployment(class)
	if err != nil {
		return nil, err
	}
	live, err := k.clients.Kube.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		return nil, apiErr(err, "reading deployment %s/%s (class %s)", d.Namespace, d.Name, class)
	}
	return live, nil
}

// patchDeployment applies a strategic-merge patch; what says what for.
func (k *Cluster) patchDeployment(ctx context.Context, d *appsv1.Deployment, patch map[string]any, what string) error {
	data, err := json.Marshal(patch)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	_, err = k.clients.Kube.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.StrategicMergePatchType, data,
		metav1.PatchOptions{FieldManager: k.opts.FieldManager})
	return apiErr(err, "%s (deployment %s/%s)", what, d.Namespace, d.Name)
}

// container returns the reader container of the Deployment's template.
func (k *Cluster) container(d *appsv1.Deployment) (*corev1.Container, error) {
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == k.opts.Container {
			return c, nil
		}
	}
	return nil, fmt.Errorf("deployment %s/%s has no container %q (option container)", d.Namespace, d.Name, k.opts.Container)
}

// SetResources implements scaler.Cluster: the recommendation goes to the
// class's VerticalPodAutoscaler (vpa.go) when VPA is in use, else into the
// Deployment's requests.
func (k *Cluster) SetResources(ctx context.Context, class string, rec scaler.Resources) error {
	if !(rec.CPUCores > 0) || !(rec.MemoryBytes >= 1) || math.IsInf(rec.CPUCores, 0) || math.IsInf(rec.MemoryBytes, 0) || rec.MemoryBytes > math.MaxInt64/2 {
		return fmt.Errorf("setting the resources of class %s: cpu %v cores, memory %v bytes: want positive and finite", class, rec.CPUCores, rec.MemoryBytes)
	}
	d, err := k.deployment(class)
	if err != nil {
		return err
	}
	if _, err := k.container(d); err != nil {
		return err
	}
	vpa, err := k.useVPA(ctx)
	if err != nil {
		return fmt.Errorf("setting the resources of class %s: %w", class, err)
	}
	if vpa {
		return k.writeVPA(ctx, class, d, rec)
	}
	if d, err = k.liveDeployment(ctx, class); err != nil { // the limits' ratio from the live object
		return err
	}
	if _, err := k.container(d); err != nil {
		return err
	}
	return k.patchRequests(ctx, class, d, rec)
}

func cpuQuantity(cores float64) resource.Quantity {
	return *resource.NewMilliQuantity(int64(math.Ceil(cores*1000)), resource.DecimalSI)
}

func memQuantity(bytes float64) resource.Quantity {
	return *resource.NewQuantity(int64(math.Ceil(bytes)), resource.BinarySI)
}

// patchRequests writes rec into the reader container's requests. A limit
// the container has keeps its ratio to the request (as VPA's
// RequestsAndLimits does), so a Guaranteed pod stays Guaranteed.
func (k *Cluster) patchRequests(ctx context.Context, class string, d *appsv1.Deployment, rec scaler.Resources) error {
	c, _ := k.container(d)
	requests, limits := map[string]any{}, map[string]any{}
	for name, q := range map[corev1.ResourceName]resource.Quantity{
		corev1.ResourceCPU: cpuQuantity(rec.CPUCores), corev1.ResourceMemory: memQuantity(rec.MemoryBytes)} {
		requests[string(name)] = q.String()
		lim, ok := c.Resources.Limits[name]
		if !ok {
			continue
		}
		req, ok := c.Resources.Requests[name]
		if !ok || req.IsZero() {
			req = lim // an unset request defaults to the limit
		}
		ratio := float64(lim.MilliValue()) / float64(req.MilliValue())
		nl := resource.NewMilliQuantity(int64(math.Ceil(float64(q.MilliValue())*ratio)), q.Format)
		if name == corev1.ResourceMemory {
			nl = resource.NewQuantity(int64(math.Ceil(float64(q.Value())*ratio)), q.Format)
		}
		limits[string(name)] = nl.String()
	}
	res := map[string]any{"requests": requests}
	if len(limits) > 0 {
		res["limits"] = limits
	}
	patch := map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []any{map[string]any{"name": c.Name, "resources": res}}}}}}
	return k.patchDeployment(ctx, d, patch, "setting the requests of class "+class)
}

// Cordon implements scaler.Cluster with a merge patch of spec.unschedulable.
func (k *Cluster) Cordon(ctx context.Context, node string, cordon bool) error {
	if _, err := k.node(node); err != nil {
		return err
	}
	data, _ := json.Marshal(map[string]any{"spec": map[string]any{"unschedulable": cordon}})
	_, err := k.clients.Kube.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, data, metav1.PatchOptions{FieldManager: k.opts.FieldManager})
	verb := "cordoning"
	if !cordon {
		verb = "uncordoning"
	}
	return apiErr(err, "%s node %s", verb, node)
}

// Drain implements scaler.Cluster: every reader pod on the node (class
// label, listed from the API server, not the cache, so none scheduled a
// moment ago is missed) is evicted through the Eviction API with its own
// terminationGracePeriodSeconds and a UID precondition. DaemonSet pods,
// mirror pods and pods already finished or terminating are left alone; a
// pod already gone is fine. It tries every pod, then returns the errors
// together: ErrBlocked when a PodDisruptionBudget refused one.
func (k *Cluster) Drain(ctx context.Context, node string) error {
	if _, err := k.node(node); err != nil {
		return err
	}
	hasClass, _ := labels.NewRequirement(k.opts.ClassLabel, selection.Exists, nil)
	list, err := k.clients.Kube.CoreV1().Pods(k.opts.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.NewSelector().Add(*hasClass).String(),
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
	})
	if err != nil {
		return apiErr(err, "listing reader pods on node %s", node)
	}
	var errs []error
	evicted, total := 0, 0
	for i := range list.Items {
		p := &list.Items[i]
		if !evictable(p) {
			k.log.Debug("drain: not evicting", zap.String("node", node), zap.String("pod", p.Namespace+"/"+p.Name))
			continue
		}
		total++
		ev := &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
			DeleteOptions: &metav1.DeleteOptions{
				GracePeriodSeconds: p.Spec.TerminationGracePeriodSeconds,
				Preconditions:      &metav1.Preconditions{UID: &p.UID},
			},
		}
		err := k.clients.Kube.PolicyV1().Evictions(p.Namespace).Evict(ctx, ev)
		switch {
		case err == nil:
			evicted++
		case apierrors.IsNotFound(err):
			evicted++ // gone already
		default:
			errs = append(errs, evictErr(err, "evicting %s/%s", p.Namespace, p.Name))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("draining node %s: evicted %d of %d reader pods: %w", node, evicted, total, errors.Join(errs...))
	}
	return nil
}

// evictable: a reader pod that still runs and is not a DaemonSet's or a
// static (mirror) pod.
func evictable(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if _, mirror := p.Annotations[mirrorPodAnn]; mirror {
		return false
	}
	for _, o := range p.OwnerReferences {
		if o.Kind == "DaemonSet" {
			return false
		}
	}
	return true
}

// SetMIGConfig implements scaler.Cluster. It reads the mig-parted
// ConfigMap from the API server, adds cfg under cfg.Name when that entry
// is missing or differs (other entries kept; the update carries the read
// resourceVersion, so a concurrent writer is ErrConflict), and only then
// labels the node nvidia.com/mig.config=cfg.Name.
//
// With the label it sets nvidia.com/mig.config.state=pending, which the
// MIG manager also sets first thing when it starts on the new label.
// Setting it in the same write closes the window in which the node shows
// the new config with the old config's "success", which the core would
// read as the re-layout done. The MIG manager reads the state only to
// tell a reboot that did not take ("rebooting"), which is left as it is.
// The node is read from the API server and patched at that
// resourceVersion: a label that is already cfg.Name is not written again
// (the MIG manager acts on label changes only, so a state reset without
// one would never be answered).
func (k *Cluster) SetMIGConfig(ctx context.Context, node string, cfg catalog.MIGConfig) error {
	if cfg.Name == "" || len(cfg.Entries) == 0 {
		return fmt.Errorf("setting the MIG config of node %s: config %q has no name or no entries", node, cfg.Name)
	}
	if errs := validation.IsValidLabelValue(cfg.Name); errs != nil {
		return fmt.Errorf("setting the MIG config of node %s: %q is not a label value: %v", node, cfg.Name, errs)
	}
	if _, err := k.node(node); err != nil {
		return err
	}
	if err := k.publishMIGConfig(ctx, cfg); err != nil {
		return err
	}
	nodes := k.clients.Kube.CoreV1().Nodes()
	n, err := nodes.Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return apiErr(err, "reading node %s", node)
	}
	if n.Labels[MIGConfigLabel] == cfg.Name {
		return nil
	}
	set := map[string]any{MIGConfigLabel: cfg.Name}
	if n.Labels[MIGConfigStateLabel] != "rebooting" {
		set[MIGConfigStateLabel] = "pending"
	}
	data, _ := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": n.ResourceVersion, "labels": set}})
	if _, err := nodes.Patch(ctx, node, types.MergePatchType, data, metav1.PatchOptions{FieldManager: k.opts.FieldManager}); err != nil {
		return apiErr(err, "labelling node %s %s=%s", node, MIGConfigLabel, cfg.Name)
	}
	return nil
}

// publishMIGConfig makes sure the mig-parted ConfigMap holds cfg.
func (k *Cluster) publishMIGConfig(ctx context.Context, cfg catalog.MIGConfig) error {
	ref := k.opts.MIGConfigMap
	cms := k.clients.Kube.CoreV1().ConfigMaps(ref.Namespace)
	cm, err := cms.Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		// Not ErrNotFound: the target node is there; the setup is wrong.
		return fmt.Errorf("publishing MIG config %s: mig-parted ConfigMap %s/%s does not exist (create it and point the GPU operator's migManager.config.name at it): %w",
			cfg.Name, ref.Namespace, ref.Name, err)
	}
	if err != nil {
		return apiErr(err, "reading mig-parted ConfigMap %s", ref)
	}
	cfgs, err := parseConfigMap(cm, ref)
	if err != nil {
		return fmt.Errorf("publishing MIG config %s: %w", cfg.Name, err)
	}
	if old, ok := cfgs[cfg.Name]; ok && sameEntries(old, cfg) {
		return nil
	}
	cfgs[cfg.Name] = cfg
	data, err := catalog.WriteMIGParted(cfgs)
	if err != nil {
		return fmt.Errorf("publishing MIG config %s: %w", cfg.Name, err)
	}
	cm = cm.DeepCopy()
	cm.Data[ref.Key] = string(data)
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: k.opts.FieldManager}); err != nil {
		return apiErr(err, "publishing MIG config %s in ConfigMap %s", cfg.Name, ref)
	}
	return nil
}

// sameEntries compares two configs' device groups as mig-parted would
// read them.
func sameEntries(a, b catalog.MIGConfig) bool {
	x, err1 := json.Marshal(a.Entries)
	y, err2 := json.Marshal(b.Entries)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
