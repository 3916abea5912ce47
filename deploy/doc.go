// Package deploy holds no Go code besides its tests: it is the home of the
// manifests that run headroom's data path in a cluster, and of its alerts.
// Its subpackage render renders the readers of a policy (`headroom render`).
//
//   - router/: the request router (Deployment, Service, ConfigMap with the
//     reference fleet's router config, ServiceAccount, Role and RoleBinding
//     to watch EndpointSlices, PodDisruptionBudget); kubectl apply -k.
//   - readers/: one example reader class (reader-en-large on an H100 MIG
//     3g.40gb slice) with its Service and PDB. The controller scales such
//     Deployments; these manifests only create them.
//   - prometheus/: recording and alert rules over the router's metric
//     contract (router/metrics.go, docs/router.md), with promtool unit tests.
//   - grafana/: a dashboard over those recording rules.
//
// The controller's own in-cluster Deployment (the Helm chart) is not here
// yet.
//
// The tests decode every manifest strictly into its k8s.io/api type, create
// them on a real kube-apiserver (internal/envtest), load the router config
// with router.Parse, run promtool check rules and promtool test rules, and
// check every series name the rules read against the router's metric
// contract. docs/deploy.md says how to apply them.
package deploy
