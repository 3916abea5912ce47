// Package render turns a policy into the Kubernetes objects that serve its
// classes: per ModelClass a Deployment (image, model volume from EFS or an
// S3 init step, the GPU request of its profile, node affinity to and
// tolerations of the nodegroups that offer the profile, probes sized to
// the model's load time, the class label), a Service for the router's
// EndpointSlice watch, a PodDisruptionBudget from its maxUnavailable, and
// the router's route entry. It is pure: policy in, objects out.
//
//	policies.Policy --frompolicy.ClassOptions--> placement (profile, nodegroups)
//	                --renderClass--> Deployment, Service, PDB; router.ModelConfig
//	Readers.YAML / RoutesYAML --> `headroom render` (GitOps)
//
// The placement comes from binpack/frompolicy, the path the controller's
// packer uses, so pods schedule exactly where headroom plans them.
package render
