// Package deploy holds no Go code besides its tests: it is the home of the
// manifests that run headroom in a cluster, and of its alerts and
// dashboards. Its subpackage render renders the readers of a policy
// (`headroom render`).
//
//	policy dir --headroom render--> readers.yaml, routes.yaml
//	           --helm install -f values (policy.files, readers.manifests, router.routes)--> cluster
//
// The folders:
//
//   - chart/headroom: the Helm chart of the whole installation: the
//     controller (leader election, the Kubernetes adapter's exact RBAC plus
//     the Lease, the policy ConfigMap), the mig-parted ConfigMap, the router,
//     the readers `headroom render` printed (readers.manifests; the
//     Deployments without the spec.replicas headroom owns), ServiceMonitors
//     and PrometheusRules where monitoring.coreos.com/v1 is served, and the
//     dashboards as Grafana sidecar ConfigMaps.
//   - router/: the request router (Deployment, Service, ConfigMap with the
//     reference fleet's router config, ServiceAccount, Role and RoleBinding
//     to watch EndpointSlices, PodDisruptionBudget); kubectl apply -k.
//   - readers/: one example reader class (reader-en-large on an H100 MIG
//     3g.40gb slice) with its Service and PDB. The controller scales such
//     Deployments; these manifests only create them.
//   - prometheus/: recording and alert rules over the router's metric
//     contract (router/metrics.go, docs/router.md) and the controller's
//     alerts over its own metrics, with promtool unit tests.
//   - grafana/: the router's dashboard (over those recording rules) and the
//     controller's. The chart holds copies of rules and dashboards.
//   - ../Dockerfile: the image, one static binary on distroless as 65532.
//
// The tests decode every manifest and every object the chart renders (with
// helm from tools/helm) strictly into its k8s.io/api type, create them on
// a real kube-apiserver (internal/envtest), run the Kubernetes adapter as
// the chart's ServiceAccount with one verb fewer failing, load the router
// config with router.Parse, run promtool check rules and promtool test
// rules, check every series name the rules and dashboards read against what
// the router, the controller and dcgm-exporter export, and build the image's
// binary and run it as 65532. docs/deploy.md says how to install.
package deploy
