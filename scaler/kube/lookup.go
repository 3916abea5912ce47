package kube

import (
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// PodClass is the class of a reader pod in the cache (its class label), for
// the Prometheus adapter's GPU memory rows, which dcgm-exporter labels by
// pod. ok is false for a pod the cache does not hold or that names no class.
func (k *Cluster) PodClass(namespace, pod string) (class string, ok bool) {
	p, err := k.pods.Pods(namespace).Get(pod)
	if err != nil {
		return "", false
	}
	class = p.Labels[k.opts.ClassLabel]
	return class, class != ""
}

// InstanceOf is the cloud instance id of a node in the cache, from its
// spec.providerID (aws:///<zone>/i-0abc...: the last path element), for the
// AWS adapter's RemoveNode.
func (k *Cluster) InstanceOf(node string) (id string, ok bool) {
	n, err := k.nodes.Get(node)
	if err != nil {
		return "", false
	}
	return InstanceID(n.Spec.ProviderID)
}

// NodeOf is the node in the cache whose spec.providerID names instance id,
// for the AWS adapter's spot notices.
func (k *Cluster) NodeOf(id string) (node string, ok bool) {
	if id == "" {
		return "", false
	}
	nodes, err := k.nodes.List(labels.Everything())
	if err != nil {
		return "", false
	}
	for _, n := range nodes {
		if got, ok := InstanceID(n.Spec.ProviderID); ok && got == id {
			return n.Name, true
		}
	}
	return "", false
}

// InstanceID reads the instance id from an AWS provider id,
// "aws:///eu-central-1a/i-0123456789abcdef0"; ok is false for any other.
func InstanceID(providerID string) (string, bool) {
	rest, found := strings.CutPrefix(providerID, "aws://")
	if !found {
		return "", false
	}
	i := strings.LastIndexByte(rest, '/')
	id := rest[i+1:]
	if !strings.HasPrefix(id, "i-") || len(id) < 3 {
		return "", false
	}
	for _, r := range id[2:] {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return "", false
		}
	}
	return id, true
}

// HasSynced reports whether the caches have synced, so that the AWS
// adapter keeps a spot notice for redelivery rather than drop it as "not
// one of our nodes" while the node cache is still filling.
func (k *Cluster) HasSynced() bool { return k.Ready() == nil }
