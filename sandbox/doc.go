// Package sandbox runs the whole of headroom on one machine, end to end:
// a real control plane (etcd 3.6, kube-apiserver, kube-controller-manager,
// kube-scheduler, all v1.37.2, started by kwokctl --runtime binary) whose
// nodes are kwok nodes, a cloud (internal/awstest's AWS wire-protocol
// endpoint, whose Auto Scaling instances become kwok nodes after their
// nodegroup's boot time), one `headroom emulate-reader` process per Running
// reader pod, listening on the pod's IP (pod CIDRs are inside 127.0.0.0/8,
// which the kernel routes to loopback), the real router in front of them,
// a real Prometheus scraping router, readers and controller, the
// controller itself, and a load generator replaying a trace. docs/sandbox.md
// is the guide.
//
// The pieces that decide are pure and take time as an argument:
//
//	Node          a kwok Node for one instance of a policy nodegroup: labels,
//	              taints, allocatable, MIG resources from the node's config
//	PlanCloud     which instances' nodes to create (booted) or delete
//	              (terminated), from the cloud's instances and the nodes
//	PlanMIG       the MIG manager stand-in: pending -> success after the
//	              re-partition time, with the node's MIG resources rewritten
//	PlanReaders   which reader processes to start and stop, from the pods
//	Schedule      the load generator's send times, from a trace
//
// The shells around them (Cloud, MIGManager, Readers, Run, and Sandbox,
// which starts and stops every process by PID) only read and write.
package sandbox
