package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/headroom-dev/headroom/internal/awstest"
	"github.com/headroom-dev/headroom/internal/envtest"
	"github.com/headroom-dev/headroom/internal/promtest"
	"github.com/headroom-dev/headroom/internal/syncbuf"
	"github.com/headroom-dev/headroom/scaler"
)

// fakeRouter serves the router's metric contract (docs/router.md) for one
// class whose counters grow at Rate requests/s, every request taking 40 ms:
// what a real router in front of readers would export, with the load set
// by the test.
type fakeRouter struct {
	class string
	mu    sync.Mutex
	count float64 // requests up to last
	last  time.Time
	rate  float64
}

func (f *fakeRouter) setRate(r float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advance(time.Now())
	f.rate = r
}

func (f *fakeRouter) advance(now time.Time) {
	if !f.last.IsZero() {
		f.count += f.rate * now.Sub(f.last).Seconds()
	}
	f.last = now
}

func (f *fakeRouter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	f.advance(time.Now())
	n := f.count
	f.mu.Unlock()
	l := fmt.Sprintf(`class=%q,tenant="acme",code="200"`, f.class)
	fmt.Fprintf(w, "# TYPE headroom_router_requests_total counter\nheadroom_router_requests_total{%s} %g\n", l, n)
	fmt.Fprintf(w, "# TYPE headroom_router_request_duration_seconds histogram\n")
	for _, le := range []string{"0.005", "0.01", "0.025"} {
		fmt.Fprintf(w, "headroom_router_request_duration_seconds_bucket{%s,le=%q} 0\n", l, le)
	}
	for _, le := range []string{"0.05", "0.1", "0.3", "1", "+Inf"} {
		fmt.Fprintf(w, "headroom_router_request_duration_seconds_bucket{%s,le=%q} %g\n", l, le, n)
	}
	fmt.Fprintf(w, "headroom_router_request_duration_seconds_sum{%s} %g\nheadroom_router_request_duration_seconds_count{%s} %g\n", l, n*0.04, l, n)
	fmt.Fprintf(w, "# TYPE headroom_router_in_flight_requests gauge\nheadroom_router_in_flight_requests{class=%q} 1\n", f.class)
}

const controllerPolicy = `apiVersion: headroom.dev/v1alpha1
kind: Cluster
metadata: {name: test}
spec:
  eksCluster: test
  disruption: {maxNodesDraining: 1, maxUnavailable: "50%"}
---
apiVersion: headroom.dev/v1alpha1
kind: NodeGroup
metadata: {name: p5-od}
spec:
  instanceType: p5.48xlarge
  capacityType: on-demand
  size: {min: 0, max: 4}
  gpu: {mode: mig-dynamic}
---
apiVersion: headroom.dev/v1alpha1
kind: ModelClass
metadata: {name: reader-en}
spec:
  image: reader:1
  model: {source: local, path: /models/en, loadTime: 30s}
  gpuMemory: 14Gi
  profiles:
    - {gpu: H100-80GB, profile: 3g.40gb, serviceTime: {mean: 38ms, p95: 70ms}, concurrency: 4}
  slo: {latency: 300ms, percentile: 95}
  scaling:
    minReplicas: 2
    maxReplicas: 30
    scaleDown: {stabilizationWindow: 10m}
    # Short windows so that a test needs seconds of samples, not a minute:
    # Prometheus's rate() over a series younger than its range reads low.
    panic: {window: 6s, stableWindow: 10s}
`

// controllerEnv is a cluster with one ready p5 node in 3g.40gb slices and
// a reader Deployment of 2 ready replicas, a Prometheus scraping a fake
// router, and the policy, ready for `headroom controller`.
type controllerEnv struct {
	kube       kubernetes.Interface
	ns         string
	kubeconfig string
	promURL    string
	policy     string
	router     *fakeRouter
	prom       *promtest.Server
}

func startControllerEnv(t *testing.T, rate float64) *controllerEnv {
	t.Helper()
	env := envtest.Start(t)
	e := &controllerEnv{kube: env.Client, ns: env.Namespace(t, "ml"), router: &fakeRouter{class: "reader-en", rate: rate}}
	ctx := t.Context()
	c := env.Client
	node, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "p5-a", Labels: map[string]string{
		"eks.amazonaws.com/nodegroup": "p5-od", "eks.amazonaws.com/capacityType": "ON_DEMAND",
		"node.kubernetes.io/instance-type": "p5.48xlarge", "nvidia.com/mig.config": "all-3g.40gb", "nvidia.com/mig.config.state": "success"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	lbl := map[string]string{"headroom.dev/class": "reader-en"}
	res := corev1.ResourceList{"nvidia.com/mig-3g.40gb": resource.MustParse("1"), corev1.ResourceCPU: resource.MustParse("2")}
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "reader", Image: "reader:1", Resources: corev1.ResourceRequirements{Requests: res, Limits: res}}}}
	two := int32(2)
	if _, err := c.AppsV1().Deployments(e.ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "reader-en", Labels: lbl},
		Spec: appsv1.DeploymentSpec{Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl}, Spec: spec}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		ps := spec
		ps.NodeName = "p5-a"
		p, err := c.CoreV1().Pods(e.ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("reader-en-%d", i), Labels: lbl}, Spec: ps}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if _, err := c.CoreV1().Pods(e.ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.kubeconfig = writeKubeconfig(t, env.Config)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.router, ReadHeaderTimeout: time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	e.prom = promtest.Start(t, promtest.Options{Targets: []string{ln.Addr().String()}, ScrapeInterval: time.Second})
	e.promURL = e.prom.URL
	// Ready once Prometheus holds enough scrapes for a rate.
	e.prom.WaitFor(t, `count_over_time(headroom_router_requests_total[1m])`, 40*time.Second, func(v float64, ok bool) bool { return ok && v >= 12 })

	e.policy = t.TempDir()
	if err := os.WriteFile(filepath.Join(e.policy, "fleet.yaml"), []byte(controllerPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func (e *controllerEnv) args(extra ...string) []string {
	return append([]string{"controller", "--policy", e.policy, "--kubeconfig", e.kubeconfig, "--prometheus-url", e.promURL,
		"--namespace", e.ns, "--prometheus-min-range", "5s", "--cloud", "none", "--mig-configmap", "gpu-operator/headroom-mig", "--vpa-mode", "patch-requests", "--log-level", "warn"}, extra...)
}

func (e *controllerEnv) replicas(t *testing.T) int {
	t.Helper()
	s, err := e.kube.AppsV1().Deployments(e.ns).GetScale(t.Context(), "reader-en", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return int(s.Spec.Replicas)
}

// --once --dry-run reads the real API server and Prometheus and prints the
// plan: 600 req/s on 2 replicas of 4 x 38 ms needs many more; nothing is
// written.
func TestControllerOnceDryRun(t *testing.T) {
	e := startControllerEnv(t, 600)
	var out, errb bytes.Buffer
	if code := run(e.args("--once", "--dry-run", "-o", "json"), nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var d scaler.Decision
	if err := json.Unmarshal(out.Bytes(), &d); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	cd, ok := d.Class("reader-en")
	if !ok || !cd.DataOK || cd.Current != 2 || cd.Ready != 2 {
		t.Fatalf("class decision %+v", cd)
	}
	if cd.ObservedRate < 540 || cd.ObservedRate > 660 {
		t.Errorf("observed rate %.1f, the router serves 600/s", cd.ObservedRate)
	}
	var scale *scaler.Action
	for i := range d.Actions {
		if d.Actions[i].Kind == scaler.ActScaleClass {
			scale = &d.Actions[i]
		}
	}
	if scale == nil || scale.Status != scaler.StatusDryRun || scale.From != "2" || scale.Reason == "" {
		t.Fatalf("want a dry-run scale-up with its reason, got %+v\n%s", scale, out.String())
	}
	if got := e.replicas(t); got != 2 {
		t.Errorf("dry run wrote replicas %d", got)
	}

	out.Reset()
	if code := run(e.args("--once", "--dry-run"), nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"CLASS", "reader-en", "dry-run", "scale-class"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text plan lacks %q:\n%s", want, out.String())
		}
	}
}

// With the AWS adapter (against the local wire-protocol endpoint, the real
// SDK): load that needs more than one node's slices resizes the EKS managed
// nodegroup; a dry run makes no write call.
func TestControllerSizesTheNodegroupOnAWS(t *testing.T) {
	e := startControllerEnv(t, 3000)
	srv, url := awstest.NewTest(t)
	srv.PutGroup(awstest.Group{Name: "eks-p5-od", Min: 0, Max: 4, Desired: 1, Instances: []awstest.Instance{{ID: "i-0a", State: "InService"}}})
	srv.PutNodegroup(awstest.Nodegroup{Cluster: "test", Name: "p5-od", Group: "eks-p5-od"})
	// One tick may scale the class all the way (no HPA rate limit), so the
	// packer needs a second node's slices at once.
	pol := strings.Replace(controllerPolicy, "scaleDown: {stabilizationWindow: 10m}", "scaleDown: {stabilizationWindow: 10m}\n    scaleUp: {percent: 2000}", 1)
	if err := os.WriteFile(filepath.Join(e.policy, "fleet.yaml"), []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDHEADROOMTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	aws := []string{"--cloud", "aws", "--aws-region", "eu-central-1", "--aws-endpoint", url, "-o", "json"}

	var out, errb bytes.Buffer
	if code := run(e.args(append(aws, "--once", "--dry-run")...), nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if w := srv.Requests("UpdateNodegroupConfig", "SetDesiredCapacity"); len(w) != 0 {
		t.Fatalf("a dry run wrote to AWS: %+v", w)
	}
	out.Reset()
	if code := run(e.args(append(aws, "--once")...), nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var d scaler.Decision
	if err := json.Unmarshal(out.Bytes(), &d); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var size *scaler.Action
	for i := range d.Actions {
		if d.Actions[i].Kind == scaler.ActNodeGroupSize {
			size = &d.Actions[i]
		}
	}
	if size == nil || size.Status != scaler.StatusDone || size.From != "1" {
		t.Fatalf("want a done nodegroup resize from 1, got %+v\n%s", size, out.String())
	}
	if g, _ := srv.Group("eks-p5-od"); fmt.Sprint(g.Desired) != size.To {
		t.Errorf("AWS desired %d, the controller set %s", g.Desired, size.To)
	}
	if len(srv.Requests("UpdateNodegroupConfig")) != 1 {
		t.Errorf("want one UpdateNodegroupConfig, got %+v", srv.Requests("UpdateNodegroupConfig"))
	}
}

// The controller as a long-running process scales the Deployment when the
// load rises; with Prometheus gone it holds (never scales down on missing
// data) and keeps running.
func TestControllerFollowsLoad(t *testing.T) {
	e := startControllerEnv(t, 20)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var code atomic.Int32
	var errb syncbuf.Buffer
	wg.Add(1)
	go func() {
		defer wg.Done()
		code.Store(int32(runCtx(ctx, e.args("--leader-elect=false", "--interval", "1s", "--listen", addr), &errb)))
	}()
	defer func() { cancel(); wg.Wait() }()

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, 60*time.Second, "/readyz", func() bool { c, _ := get("/readyz"); return c == http.StatusOK })
	waitFor(t, 60*time.Second, "2 replicas at 20 req/s", func() bool { return e.replicas(t) == 2 })
	e.router.setRate(800)
	waitFor(t, 90*time.Second, "a scale-up at 800 req/s", func() bool { return e.replicas(t) > 2 })
	up := e.replicas(t)

	e.prom.Stop()
	e.router.setRate(1)
	// Several ticks without data: replicas hold.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if got := e.replicas(t); got < up {
			t.Fatalf("scaled down to %d without data", got)
		}
		waitTick(t)
	}
	waitFor(t, 10*time.Second, "the failed reads counted in /metrics", func() bool {
		_, body := get("/metrics")
		return strings.Contains(body, `headroom_scaler_observe_errors_total{source="class-stats"}`)
	})
	if c, body := get("/healthz"); c != http.StatusOK {
		t.Errorf("/healthz %d while ticking without data: %s", c, body)
	}
	cancel()
	wg.Wait()
	if c := code.Load(); c != 0 {
		t.Errorf("exit %d after cancel: %s", c, errb.String())
	}
}

// Two controllers elect one leader; when it stops, the other takes over
// within the lease.
func TestControllerLeaderElection(t *testing.T) {
	e := startControllerEnv(t, 20)
	lease := []string{"--interval", "1s", "--lease-namespace", e.ns, "--lease-duration", "3s", "--renew-deadline", "2s", "--retry-period", "500ms", "--listen", "-"}
	start := func(id string) (context.CancelFunc, *sync.WaitGroup) {
		ctx, cancel := context.WithCancel(t.Context())
		wg := &sync.WaitGroup{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var errb syncbuf.Buffer
			runCtx(ctx, e.args(append(lease, "--identity", id)...), &errb)
		}()
		return cancel, wg
	}
	holder := func() string {
		l, err := e.kube.CoordinationV1().Leases(e.ns).Get(t.Context(), "headroom-controller", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	stopA, wgA := start("a")
	waitFor(t, 30*time.Second, "a holds the lease", func() bool { return holder() == "a" })
	stopB, wgB := start("b")
	defer func() { stopB(); wgB.Wait() }()
	waitTick(t)
	if h := holder(); h != "a" {
		t.Fatalf("holder %q while a runs", h)
	}
	stopA()
	wgA.Wait()
	waitFor(t, 10*time.Second, "b takes over", func() bool { return holder() == "b" })
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runCtx runs the command line with ctx, as SIGTERM would end it.
func runCtx(ctx context.Context, args []string, stderr *syncbuf.Buffer) int {
	a := &app{stdin: strings.NewReader(""), stdout: &syncbuf.Buffer{}, stderr: stderr}
	root := newRootCmd(a)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "headroom: %v\n", err)
		return 1
	}
	return 0
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		waitTick(t)
	}
}

// waitTick waits one poll interval of the tests above (a fifth of the
// controller's 1 s interval); a poll, not a wait for an outcome.
func waitTick(t *testing.T) {
	select {
	case <-t.Context().Done():
	case <-time.After(200 * time.Millisecond):
	}
}
