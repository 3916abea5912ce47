package envtest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/headroom-dev/headroom/internal/syncbuf"
)

// K8sVersion is the kube-apiserver release scripts/envtest-assets.sh builds;
// keep it in step with that script and tools/envtest/go.mod (a test checks).
const K8sVersion = "1.37.2"

// Env is a running API server.
type Env struct {
	// Config reaches the server as an admin (system:masters).
	Config *rest.Config
	// Client is a clientset built from Config.
	Client kubernetes.Interface
}

// AssetsDir returns the directory holding kube-apiserver and etcd, or "" when
// none is found: $KUBEBUILDER_ASSETS if set, else the project's cache.
func AssetsDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		if complete(d) {
			return d
		}
		return ""
	}
	cache := os.Getenv("HEADROOM_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(home, ".cache", "headroom")
	}
	d := filepath.Join(cache, "envtest", "v"+K8sVersion)
	if complete(d) {
		return d
	}
	return ""
}

func complete(dir string) bool {
	for _, b := range []string{"kube-apiserver", "etcd"} {
		fi, err := os.Stat(filepath.Join(dir, b))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// silenceOnce quiets controller-runtime's package logger. envtest logs through
// it, and when no logger was ever set it prints a warning with a stack trace
// after 30s; the control plane's own output is kept in a buffer instead.
var silenceOnce sync.Once

// Start runs a kube-apiserver and etcd for the test, waits until the default
// namespace exists, and stops both in t.Cleanup. It takes a few seconds;
// tests in a package that need one server can share it through namespaces
// (see Namespace).
func Start(t testing.TB) *Env {
	t.Helper()
	dir := AssetsDir()
	if dir == "" {
		msg := "envtest: kube-apiserver and etcd not found (KUBEBUILDER_ASSETS or the cache " +
			"${HEADROOM_CACHE:-$HOME/.cache/headroom}/envtest/v" + K8sVersion +
			"); build them with scripts/install-test-deps.sh (as root: installs etcd-server) " +
			"or scripts/envtest-assets.sh (about 10 minutes once)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	silenceOnce.Do(func() { ctrllog.SetLogger(logr.Discard()) })

	out := &syncbuf.Buffer{}
	no := false
	env := &crenvtest.Environment{
		BinaryAssetsDirectory:    dir,
		UseExistingCluster:       &no, // never a cluster from USE_EXISTING_CLUSTER
		ControlPlaneStartTimeout: 60 * time.Second,
		ControlPlaneStopTimeout:  20 * time.Second,
	}
	api := env.ControlPlane.GetAPIServer()
	api.Out, api.Err = out, out
	env.ControlPlane.Etcd = &crenvtest.Etcd{Out: out, Err: out}
	start := time.Now()
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		t.Fatalf("envtest: starting kube-apiserver and etcd from %s: %v\n%s", dir, err, "--- control plane output (last 4000 bytes) ---\n"+out.Tail(4000))
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("envtest: stopping: %v", err)
		}
	})
	t.Logf("envtest: kube-apiserver %s at %s, started in %v", K8sVersion, cfg.Host, time.Since(start).Round(time.Millisecond))
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("envtest: clientset: %v", err)
	}
	return &Env{Config: cfg, Client: client}
}

// Namespace creates a namespace with a generated name from prefix and
// returns its name. It is not deleted: without a namespace controller a
// deleted namespace stays Terminating, and the server goes with the test.
func (e *Env) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ns, err := e.Client.CoreV1().Namespaces().Create(t.Context(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("envtest: creating namespace: %v", err)
	}
	return ns.Name
}
