package kube

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
