package sandbox

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/internal/awstest"
	"github.com/headroom-dev/headroom/policies"
)

// Binaries are the programs the sandbox runs.
type Binaries struct {
	// Headroom is the headroom binary (router, emulate-reader, controller).
	Headroom string
	// Dir holds kube-apiserver, kube-controller-manager, kube-scheduler,
	// etcd, kwok, kwokctl and prometheus (scripts/sandbox-bins.sh).
	Dir string
}

// Missing lists the binaries that are not there.
func (b Binaries) Missing() []string {
	var out []string
	if st, err := os.Stat(b.Headroom); err != nil || st.IsDir() {
		out = append(out, "headroom ("+b.Headroom+")")
	}
	for _, n := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kwok", "kwokctl", "prometheus"} {
		if _, err := os.Stat(filepath.Join(b.Dir, n)); err != nil {
			out = append(out, n+" (in "+b.Dir+")")
		}
	}
	return out
}

func (b Binaries) path(n string) string { return filepath.Join(b.Dir, n) }

// Options configure a sandbox.
type Options struct {
	// Policy is the policy directory (default sandbox/testdata/policy).
	Policy string
	Bin    Binaries
	// Dir holds the sandbox's state: the kwok cluster, configs, logs and
	// PIDs. Required.
	Dir string
	// Name is the kwok cluster's name (default headroom-sandbox).
	Name string
	// Namespace of the readers (default readers).
	Namespace string
	// Interval is the controller's control interval (default 2s).
	Interval time.Duration
	// Scrape is Prometheus's scrape interval (default 1s).
	Scrape time.Duration
	// Tick is how often the cloud, the MIG manager stand-in and the reader
	// supervisor look (default 200ms).
	Tick time.Duration
	// ControllerArgs are added to `headroom controller`'s.
	ControllerArgs []string
	// Out receives progress lines and the controller's decisions.
	Out io.Writer
}

func (o *Options) defaults() error {
	if o.Dir == "" {
		return errors.New("sandbox: Options.Dir is required")
	}
	if o.Policy == "" {
		o.Policy = "sandbox/testdata/policy"
	}
	if o.Name == "" {
		o.Name = "headroom-sandbox"
	}
	if o.Namespace == "" {
		o.Namespace = "readers"
	}
	if o.Interval == 0 {
		o.Interval = 2 * time.Second
	}
	if o.Scrape == 0 {
		o.Scrape = time.Second
	}
	if o.Tick == 0 {
		o.Tick = 200 * time.Millisecond
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if m := o.Bin.Missing(); len(m) > 0 {
		return fmt.Errorf("sandbox: missing binaries: %s (scripts/sandbox-bins.sh builds them)", strings.Join(m, ", "))
	}
	return nil
}

// Sandbox is a running sandbox.
type Sandbox struct {
	Opts       Options
	Policy     *policies.Policy
	Catalog    *catalog.Catalog
	Kube       kubernetes.Interface
	Kubeconfig string
	AWS        *awstest.Server
	// URLs of the parts, on loopback.
	AWSURL, RouterURL, PromURL, ControllerURL string
	// InterruptionQueue is the SQS queue URL spot notices go to.
	InterruptionQueue string

	procs   *procs
	ctx     context.Context // ends at Down
	cancel  context.CancelFunc
	loops   sync.WaitGroup
	awsLn   net.Listener
	cloud   *Cloud
	ports   map[string]int
	readers *Readers
}

// Up starts everything but the load, and returns once the controller has
// started, the first nodes are Ready and the router answers.
func Up(ctx context.Context, o Options) (s *Sandbox, err error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if o.Dir, err = filepath.Abs(o.Dir); err != nil {
		return nil, err
	}
	if o.Policy, err = filepath.Abs(o.Policy); err != nil {
		return nil, err
	}
	pol, err := policies.Load(o.Policy)
	if err != nil {
		return nil, fmt.Errorf("sandbox: policy: %w", err)
	}
	cat, err := pol.Catalog()
	if err != nil {
		return nil, err
	}
	ps, err := newProcs(o.Dir)
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	s = &Sandbox{Opts: o, Policy: pol, Catalog: cat, procs: ps, ctx: lctx, cancel: cancel, ports: map[string]int{}}
	defer func() {
		if err != nil {
			s.Down()
			s = nil
		}
	}()
	s.logf("sandbox: starting the control plane (kwokctl --runtime binary) in %s", o.Dir)
	if err := s.startCluster(ctx); err != nil {
		return s, err
	}
	if err := s.setupCluster(ctx); err != nil {
		return s, err
	}
	if err := s.startCloud(lctx); err != nil {
		return s, err
	}
	s.logf("sandbox: cloud (AWS wire protocols) at %s", s.AWSURL)
	mig := &MIGManager{Kube: s.Kube, Policy: pol, Catalog: cat, MIGConfigMap: migConfigMapRef}
	s.loop(lctx, "mig-manager", mig.Step)
	for _, n := range []string{"router", "prometheus", "controller"} {
		if s.ports[n], err = freePort(); err != nil {
			return s, err
		}
	}
	s.RouterURL = fmt.Sprintf("http://127.0.0.1:%d", s.ports["router"])
	s.PromURL = fmt.Sprintf("http://127.0.0.1:%d", s.ports["prometheus"])
	s.ControllerURL = fmt.Sprintf("http://127.0.0.1:%d", s.ports["controller"])
	s.readers = &Readers{Kube: s.Kube, Namespace: o.Namespace, Policy: pol, PolicyDir: o.Policy, Catalog: cat,
		Headroom: o.Bin.Headroom, procs: ps, EndpointsFile: filepath.Join(o.Dir, "endpoints.yaml"),
		TargetsFile: filepath.Join(o.Dir, "readers.targets.json")}
	if err := s.readers.writeFiles(nil); err != nil {
		return s, err
	}
	s.loop(lctx, "readers", s.readers.Step)
	if err := s.startRouter(ctx); err != nil {
		return s, err
	}
	if err := s.startPrometheus(ctx); err != nil {
		return s, err
	}
	if err := s.StartController(ctx, "controller", s.ports["controller"]); err != nil {
		return s, err
	}
	s.logf("sandbox: router %s, Prometheus %s, controller %s/metrics", s.RouterURL, s.PromURL, s.ControllerURL)
	return s, nil
}

func (s *Sandbox) logf(format string, args ...any) {
	fmt.Fprintf(s.Opts.Out, format+"\n", args...)
}

// loop runs step every Tick until ctx ends; an error is logged to the
// sandbox's log file, and the next tick tries again.
func (s *Sandbox) loop(ctx context.Context, name string, step func(ctx context.Context, now time.Time) error) {
	f, _ := os.Create(filepath.Join(s.Opts.Dir, "logs", name+".log"))
	s.loops.Go(func() {
		defer func() {
			if f != nil {
				f.Close()
			}
		}()
		t := time.NewTicker(s.Opts.Tick)
		defer t.Stop()
		last := ""
		for {
			if err := step(ctx, time.Now()); err != nil && ctx.Err() == nil && f != nil && err.Error() != last {
				fmt.Fprintf(f, "%s %v\n", time.Now().UTC().Format(time.RFC3339Nano), err)
				last = err.Error()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

func (s *Sandbox) kwokEnv() []string {
	return []string{"KWOK_WORKDIR=" + filepath.Join(s.Opts.Dir, "kwok")}
}

// kwokStages are kwok's pod and node stages, with pods started not Ready
// (the reader supervisor probes them).
//
//go:embed kwok-stages.yaml
var kwokStages []byte

// startCluster creates the kwok cluster: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok-controller as local
// processes, which kwokctl records and stops (Down).
func (s *Sandbox) startCluster(ctx context.Context) error {
	b := s.Opts.Bin
	// kwok manages every node (kwokctl runs it with --manage-all-nodes):
	// the cluster has only the sandbox cloud's nodes, and their pods get
	// IPs from the node's spec.podCIDR, inside 127.0.0.0/8.
	stages := filepath.Join(s.Opts.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o644); err != nil {
		return err
	}
	args := []string{"create", "cluster", "--name", s.Opts.Name, "--runtime", "binary", "--config", stages,
		"--kube-apiserver-binary", b.path("kube-apiserver"),
		"--kube-controller-manager-binary", b.path("kube-controller-manager"),
		"--kube-scheduler-binary", b.path("kube-scheduler"),
		"--kwok-controller-binary", b.path("kwok"),
		"--etcd-binary", b.path("etcd"),
		"--wait", "2m"}
	cmd := exec.CommandContext(ctx, b.path("kwokctl"), args...)
	cmd.Env = append(os.Environ(), s.kwokEnv()...)
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(s.Opts.Dir, "logs", "kwokctl-create.log"), out, 0o644)
	if err != nil {
		return fmt.Errorf("kwokctl create cluster: %w: %s", err, tail(out, 2000))
	}
	s.Kubeconfig = filepath.Join(s.Opts.Dir, "kwok", "clusters", s.Opts.Name, "kubeconfig.yaml")
	rc, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	rc.QPS, rc.Burst = 100, 200
	s.Kube, err = kubernetes.NewForConfig(rc)
	return err
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

var migConfigMapRef = [2]string{"gpu-operator", "headroom-mig-parted"}

// setupCluster creates the namespaces and the mig-parted ConfigMap with
// every named layout of the policy.
func (s *Sandbox) setupCluster(ctx context.Context) error {
	for _, ns := range []string{s.Opts.Namespace, migConfigMapRef[0], "headroom"} {
		_, err := s.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	cfgs := map[string]catalog.MIGConfig{catalog.MIGDisabledName: catalog.MIGDisabled()}
	for _, ng := range s.Policy.NodeGroups {
		if l := ng.Spec.GPU.Layout; l != nil {
			cfgs[l.Name] = catalog.MIGConfig{Name: l.Name, Entries: []catalog.MIGEntry{{MIGEnabled: true, MIGDevices: l.Devices}}}
		}
	}
	data, err := catalog.WriteMIGParted(cfgs)
	if err != nil {
		return err
	}
	_, err = s.Kube.CoreV1().ConfigMaps(migConfigMapRef[0]).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: migConfigMapRef[1]}, Data: map[string]string{"config.yaml": string(data)}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("mig-parted ConfigMap: %w", err)
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls url until it answers 200, the process exits, or timeout.
func waitHTTP(ctx context.Context, url string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not ready within %s", url, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return fmt.Errorf("%s: the process exited", url)
		case <-t.C:
		}
	}
}

// Down stops everything Up started: the controller, router, Prometheus
// and readers by PID, the in-process loops, the cloud, and the kwok
// cluster (kwokctl stops its processes by the PIDs it recorded).
func (s *Sandbox) Down() {
	if s == nil {
		return
	}
	s.cancel() // first: no loop starts a process, no controller restarts
	s.loops.Wait()
	s.procs.stopAll(10 * time.Second)
	if s.awsLn != nil {
		s.awsLn.Close()
	}
	out, _ := DeleteCluster(s.Opts.Bin, s.Opts.Dir, s.Opts.Name)
	_ = os.WriteFile(filepath.Join(s.Opts.Dir, "logs", "kwokctl-delete.log"), out, 0o644)
}

// DeleteCluster is `kwokctl delete cluster` for a sandbox in dir, for
// `headroom sandbox down` from another shell.
func DeleteCluster(bin Binaries, dir, name string) ([]byte, error) {
	if name == "" {
		name = "headroom-sandbox"
	}
	cmd := exec.Command(bin.path("kwokctl"), "delete", "cluster", "--name", name)
	cmd.Env = append(os.Environ(), "KWOK_WORKDIR="+filepath.Join(dir, "kwok"))
	return cmd.CombinedOutput()
}

func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// WaitSteady waits until every nodegroup has its minimum of Ready nodes,
// every class's Deployment has all its replicas ready, a reader process
// runs for each, and the router is ready (every class has a ready
// endpoint).
func (s *Sandbox) WaitSteady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	why := ""
	for {
		ok, w := s.steady(ctx)
		if ok {
			return nil
		}
		why = w
		if time.Now().After(deadline) {
			return fmt.Errorf("sandbox: not steady within %s: %s", timeout, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Sandbox) steady(ctx context.Context) (bool, string) {
	nodes, err := s.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: InstanceLabel})
	if err != nil {
		return false, err.Error()
	}
	ready := map[string]int{}
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready[n.Labels["eks.amazonaws.com/nodegroup"]]++
			}
		}
	}
	for _, ng := range s.Policy.NodeGroups {
		if ready[ng.Name] < ng.Spec.Size.Min {
			return false, fmt.Sprintf("nodegroup %s: %d of %d nodes ready", ng.Name, ready[ng.Name], ng.Spec.Size.Min)
		}
	}
	want := 0
	for _, c := range s.Policy.Classes {
		d, err := s.Kube.AppsV1().Deployments(s.Opts.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Sprintf("class %s: %v", c.Name, err)
		}
		if d.Spec.Replicas == nil || d.Status.ReadyReplicas < *d.Spec.Replicas {
			return false, fmt.Sprintf("class %s: %d ready replicas", c.Name, d.Status.ReadyReplicas)
		}
		want += int(*d.Spec.Replicas)
	}
	if n := s.readers.Running(); n < want {
		return false, fmt.Sprintf("%d of %d reader processes", n, want)
	}
	resp, err := http.Get(s.RouterURL + "/readyz")
	if err != nil {
		return false, err.Error()
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, "router not ready"
	}
	return true, ""
}
