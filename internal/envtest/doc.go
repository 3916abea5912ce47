// Package envtest runs a real Kubernetes API server for tests: a
// kube-apiserver and etcd started by controller-runtime's envtest on free
// loopback ports, stopped when the test ends. Tests talk to it through
// client-go, as the controller and the router do in a cluster. There are no
// controllers, scheduler or kubelets: a test creates the objects a controller
// would (an EndpointSlice, a Node) itself.
//
// The binaries come from the directory KUBEBUILDER_ASSETS names, else from
// the project's cache, ${HEADROOM_CACHE:-$HOME/.cache/headroom}/envtest/v<K8sVersion>,
// where scripts/envtest-assets.sh builds kube-apiserver from the Go module
// proxy (tools/envtest) and links Debian's etcd. scripts/install-test-deps.sh
// runs it; CI does too.
//
// A test that needs the server skips when the binaries are missing, except
// under CI=true, where it fails: CI must not pass by skipping.
//
// Use:
//
//	env := envtest.Start(t)         // a few seconds; stopped in t.Cleanup
//	ns := env.Namespace(t, "ml")    // a fresh namespace per subtest
//	env.Client.DiscoveryV1().EndpointSlices(ns).Create(...)
//
// env.Config is an admin *rest.Config for other clients (a dynamic client,
// controller-runtime's client). See docs/envtest.md for how the binaries are
// built and cached.
package envtest
