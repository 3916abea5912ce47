// Package kube is the Kubernetes side of the scaler: scaler.Cluster,
// scaler.Reporter and the PodUsage part of scaler.Metrics over client-go.
// It is a thin I/O shell; every decision is the core's (package scaler).
//
// Data flows like this:
//
//	reads   informers (list+watch once, then watch)      -> caches
//	        nodes (Options.NodeSelector), reader pods and
//	        Deployments (the class label), the mig-parted
//	        ConfigMap (by name)
//	        Snapshot: caches -> scaler.ClusterState, no API request
//	        PodUsage: one LIST of metrics.k8s.io podmetrics per call,
//	        joined with the pod cache (class, OOM kills)
//	writes  ScaleClass   deployments/scale GET + UPDATE
//	        SetProfile   strategic-merge PATCH of the reader container's GPU resource
//	        SetResources server-side apply of a VerticalPodAutoscaler (spec,
//	                     then status.recommendation) or a PATCH of the
//	                     container's requests (Options.VPAMode)
//	        Cordon       merge PATCH of spec.unschedulable
//	        Drain        LIST of the node's reader pods, then one
//	                     policy/v1 Eviction each
//	        SetMIGConfig ConfigMap GET + UPDATE (when the entry is new or
//	                     differs), then node GET + PATCH of
//	                     nvidia.com/mig.config (and .state=pending)
//	        Report       events.k8s.io/v1 Events (asynchronous)
//
// API errors are mapped to the scaler's sentinels (NotFound ErrNotFound,
// 409 ErrConflict, 429 ErrThrottled; an eviction refused by a
// PodDisruptionBudget ErrBlocked) and wrapped with context; the original
// *StatusError stays in the chain.
//
// Build with NewForConfig (or New over existing clients), call Start, then
// WaitForSync; Ready is the readiness check. The access the adapter needs
// is testdata/rbac.yaml, tested against a real API server by running as a
// ServiceAccount bound to it. docs/controller.md ("Kubernetes") is the user's
// side: options, RBAC, labels, the VPA recommender, failures.
package kube
