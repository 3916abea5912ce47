package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/internal/awstest"
	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler/aws"
	"github.com/headroom-dev/headroom/scaler/kube"
)

// Cloud turns the AWS endpoint's Auto Scaling instances into kwok nodes
// (PlanCloud), one Step at a time.
type Cloud struct {
	Kube    kubernetes.Interface
	AWS     *awstest.Server
	Policy  *policies.Policy
	Catalog *catalog.Catalog
	// Groups maps a cloud group's name to its policy nodegroup.
	Groups map[string]*policies.NodeGroup

	mu    sync.Mutex
	seen  map[string]time.Time
	cidrs map[string]int // instance -> podCIDR index
	next  int
	// reclaims are spot instances EC2 takes back at a time (Interrupt).
	reclaims map[string]reclaim
}

type reclaim struct {
	group string
	at    time.Time
}

// Interrupt is EC2's spot interruption of one instance of group: the
// warning goes on the interruption queue now, dated so that the two
// minutes it announces end at terminates, and at terminates the instance
// is reclaimed (awstest.Server.Reclaim), whatever headroom did meanwhile.
func (c *Cloud) Interrupt(queue, group, id string, terminates time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reclaims == nil {
		c.reclaims = map[string]reclaim{}
	}
	c.reclaims[id] = reclaim{group: group, at: terminates}
	c.AWS.Send(queue, SpotNotice(id, terminates.Add(-aws.SpotWarning)))
}

// Step runs one reconciliation at now.
func (c *Cloud) Step(ctx context.Context, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen, c.cidrs = map[string]time.Time{}, map[string]int{}
	}
	for id, r := range c.reclaims {
		if !now.Before(r.at) {
			c.AWS.Reclaim(r.group, id)
			delete(c.reclaims, id)
		}
	}
	var ins []CloudInstance
	zone := map[string]string{}
	for _, g := range c.AWS.Groups() {
		if c.Groups[g.Name] == nil {
			continue
		}
		for _, in := range g.Instances {
			if _, ok := c.seen[in.ID]; !ok {
				c.seen[in.ID] = now
			}
			zone[in.ID] = in.Zone
			ins = append(ins, CloudInstance{Group: g.Name, ID: in.ID, Zone: in.Zone, State: in.State, Seen: c.seen[in.ID]})
		}
	}
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: InstanceLabel})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	has := map[string]bool{}
	nodeOf := map[string]string{}
	for _, n := range nodes.Items {
		id := n.Labels[InstanceLabel]
		has[id], nodeOf[id] = true, n.Name
	}
	plan := PlanCloud(now, ins, has, func(g string) time.Duration { return c.Groups[g].Spec.BootTime.Duration })
	var errs []error
	for _, in := range plan.Boot {
		if !has[in.ID] {
			idx, ok := c.cidrs[in.ID]
			if !ok {
				c.next++
				idx, c.cidrs[in.ID] = c.next, c.next
			}
			n, err := Node(c.Groups[in.Group], c.Catalog, NodeInput{InstanceID: in.ID, Zone: in.Zone,
				PodCIDR: fmt.Sprintf("127.%d.%d.0/24", 10+idx/250, idx%250)}, nil)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if _, err := c.Kube.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				errs = append(errs, fmt.Errorf("creating node %s: %w", n.Name, err))
				continue
			}
		}
		c.AWS.SetInstanceState(in.Group, in.ID, awstest.InService)
	}
	for _, in := range plan.Remove {
		if has[in.ID] {
			if err := c.deleteNode(ctx, nodeOf[in.ID]); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		c.AWS.SetInstanceState(in.Group, in.ID, "")
		delete(c.seen, in.ID)
	}
	for _, id := range plan.Orphans {
		if err := c.deleteNode(ctx, nodeOf[id]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Cloud) deleteNode(ctx context.Context, name string) error {
	err := c.Kube.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting node %s: %w", name, err)
	}
	return nil
}

// InterruptSpot interrupts the spot instance behind a node: its warning
// now, and the instance reclaimed at terminates (Cloud.Interrupt).
func (s *Sandbox) InterruptSpot(ctx context.Context, node string, terminates time.Time) error {
	n, err := s.Kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if n.Labels[kube.CapacityTypeLabel] != "SPOT" {
		return fmt.Errorf("node %s is not a spot node", node)
	}
	id := n.Labels[InstanceLabel]
	for name, ng := range s.cloud.Groups {
		if ng.Name == n.Labels[kube.NodeGroupLabel] {
			s.cloud.Interrupt(s.InterruptionQueue, name, id, terminates)
			return nil
		}
	}
	return fmt.Errorf("node %s: no cloud group for nodegroup %q", node, n.Labels[kube.NodeGroupLabel])
}

// SpotNotice is the EventBridge "EC2 Spot Instance Interruption Warning"
// for an instance, as the rules of docs/aws.md put it on the queue.
func SpotNotice(instanceID string, at time.Time) string {
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": "sandbox-" + instanceID, "detail-type": "EC2 Spot Instance Interruption Warning",
		"source": "aws.ec2", "account": awstest.Account, "time": at.UTC().Format(time.RFC3339), "region": awstest.Region,
		"resources": []string{"arn:aws:ec2:" + awstest.Region + "a:instance/" + instanceID},
		"detail":    map[string]string{"instance-id": instanceID, "instance-action": "terminate"},
	})
	return string(b)
}

// startCloud puts one Auto Scaling group per policy nodegroup (EKS
// managed ones behind their nodegroup) at its minimum size, InService
// (their nodes come on the first step), an interruption queue, and serves
// them on loopback.
func (s *Sandbox) startCloud(ctx context.Context) error {
	srv := awstest.New()
	groups := map[string]*policies.NodeGroup{}
	for i := range s.Policy.NodeGroups {
		ng := &s.Policy.NodeGroups[i]
		name := ng.Spec.CloudName
		if name == "" {
			name = ng.Name
		}
		group := name
		if ng.Spec.Kind != policies.NodeGroupASG {
			group = "eks-" + name
			srv.PutNodegroup(awstest.Nodegroup{Cluster: s.Policy.Cluster.Spec.EKSCluster, Name: name, Group: group})
		}
		ins := make([]awstest.Instance, ng.Spec.Size.Min)
		for k := range ins {
			ins[k].InstanceType = ng.Spec.InstanceType
		}
		zones := ng.Spec.Zones
		if len(zones) == 0 {
			zones = []string{awstest.Region + "a"}
		}
		srv.PutGroup(awstest.Group{Name: group, Min: ng.Spec.Size.Min, Max: ng.Spec.Size.Max, Desired: ng.Spec.Size.Min,
			Instances: ins, AvailabilityZones: zones})
		groups[group] = ng
	}
	s.InterruptionQueue = "https://sqs." + awstest.Region + ".amazonaws.com/" + awstest.Account + "/headroom-interruptions"
	srv.AddQueue(s.InterruptionQueue, 30*time.Second)
	ln, err := listenLoopback()
	if err != nil {
		return err
	}
	s.awsLn, s.AWS = ln, srv
	s.AWSURL = "http://" + ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	s.cloud = &Cloud{Kube: s.Kube, AWS: srv, Policy: s.Policy, Catalog: s.Catalog, Groups: groups}
	if err := s.cloud.Step(ctx, time.Now()); err != nil {
		return err
	}
	s.loop(ctx, "cloud", s.cloud.Step)
	return nil
}

// MIGManager is the GPU operator's MIG manager stand-in (PlanMIG).
type MIGManager struct {
	Kube         kubernetes.Interface
	Policy       *policies.Policy
	Catalog      *catalog.Catalog
	MIGConfigMap [2]string // namespace, name; key config.yaml
}

// Step looks at every node with a MIG config label once.
func (m *MIGManager) Step(ctx context.Context, now time.Time) error {
	nodes, err := m.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: kube.MIGConfigLabel})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	var migs map[string]catalog.MIGConfig
	if cm, err := m.Kube.CoreV1().ConfigMaps(m.MIGConfigMap[0]).Get(ctx, m.MIGConfigMap[1], metav1.GetOptions{}); err == nil {
		if migs, err = catalog.ParseMIGParted([]byte(cm.Data["config.yaml"])); err != nil {
			return err
		}
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("mig-parted ConfigMap: %w", err)
	}
	var errs []error
	for i := range nodes.Items {
		n := &nodes.Items[i]
		ng, ok := m.Policy.NodeGroup(n.Labels[kube.NodeGroupLabel])
		if !ok {
			continue
		}
		it, ok := m.Catalog.Instance(ng.Spec.InstanceType)
		if !ok {
			continue
		}
		step := PlanMIG(now, ReadMIGNode(n, it.GPUs), migs, ng.Spec.GPU.RepartitionTime.Duration)
		if step == nil {
			continue
		}
		if step.Resources != nil {
			// Resources first: a node that says success has its new slices.
			res := map[string]any{}
			for k, v := range step.Resources {
				res[string(k)] = v.String()
			}
			patch, _ := json.Marshal(map[string]any{"status": map[string]any{"capacity": res, "allocatable": res}})
			if _, err := m.Kube.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
				errs = append(errs, fmt.Errorf("node %s resources: %w", n.Name, err))
				continue
			}
		}
		meta := map[string]any{"labels": nullEmpty(step.Labels), "annotations": nullEmpty(step.Annotations)}
		patch, _ := json.Marshal(map[string]any{"metadata": meta})
		if _, err := m.Kube.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("node %s MIG state: %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}

// nullEmpty maps "" to null, which a merge patch reads as "remove".
func nullEmpty(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if v == "" {
			out[k] = nil
		} else {
			out[k] = v
		}
	}
	return out
}

// Readers runs one emulate-reader per serving reader pod (PlanReaders) and
// publishes their addresses: to the router (EndpointsFile, per Service,
// as the EndpointSlice controller would) and to Prometheus (TargetsFile,
// file_sd).
type Readers struct {
	Kube      kubernetes.Interface
	Namespace string
	Policy    *policies.Policy
	PolicyDir string
	Catalog   *catalog.Catalog
	Headroom  string
	// ClassLabel and Container default to scaler/kube's.
	ClassLabel, Container      string
	EndpointsFile, TargetsFile string
	procs                      *procs

	mu      sync.Mutex
	running map[string]ReaderPod // by key
	written []byte
	client  *http.Client
}

func (r *Readers) procName(p ReaderPod) string {
	uid := p.UID
	if len(uid) > 8 {
		uid = uid[:8]
	}
	return "reader-" + p.Name + "-" + uid
}

// Step starts and stops processes once.
func (r *Readers) Step(ctx context.Context, _ time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running == nil {
		r.running = map[string]ReaderPod{}
	}
	cl, ctr := r.ClassLabel, r.Container
	if cl == "" {
		cl = kube.DefaultClassLabel
	}
	if ctr == "" {
		ctr = "reader"
	}
	pods, err := r.Kube.CoreV1().Pods(r.Namespace).List(ctx, metav1.ListOptions{LabelSelector: cl})
	if err != nil {
		return fmt.Errorf("listing reader pods: %w", err)
	}
	var serving []ReaderPod
	listed := map[string]*corev1.Pod{}
	for i := range pods.Items {
		if p, ok := Serving(&pods.Items[i], cl, ctr); ok {
			serving = append(serving, p)
			listed[p.Key()] = &pods.Items[i]
		}
	}
	keys := map[string]bool{}
	for k := range r.running {
		keys[k] = true
	}
	plan := PlanReaders(serving, keys)
	var errs []error
	for _, k := range plan.Stop {
		r.procs.stop(r.procName(r.running[k]), 5*time.Second)
		delete(r.running, k)
	}
	for _, p := range plan.Start {
		if _, err := r.procs.start(r.procName(p), r.Headroom, r.args(p), nil, nil); err != nil {
			errs = append(errs, err)
			continue
		}
		r.running[p.Key()] = p
	}
	if err := r.writeFiles(slices.Collect(maps.Values(r.running))); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, r.probe(ctx, listed))
	return errors.Join(errs...)
}

// probe is the kubelet's readiness probe (kwok-stages.yaml starts pods
// not Ready): it asks every running reader's /readyz at once and sets its
// pod's Ready and ContainersReady conditions, and its containers' ready,
// where they differ from the answer. listed are the pods as this step
// listed them, by key.
func (r *Readers) probe(ctx context.Context, listed map[string]*corev1.Pod) error {
	if r.client == nil {
		r.client = &http.Client{Timeout: 500 * time.Millisecond}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for k, p := range r.running {
		wg.Go(func() {
			pod := listed[k]
			now := r.readyz(ctx, fmt.Sprintf("http://%s:%d/readyz", p.IP, p.Port))
			if pod == nil || now == podReady(pod) {
				return
			}
			if err := r.setReady(ctx, pod.DeepCopy(), now); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *Readers) readyz(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// setReady writes pod's readiness at the resourceVersion it was listed
// at: a conflict is left to the next step.
func (r *Readers) setReady(ctx context.Context, pod *corev1.Pod, ready bool) error {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	now := metav1.Now()
	for _, t := range []corev1.PodConditionType{corev1.PodReady, corev1.ContainersReady} {
		i := slices.IndexFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == t })
		if i < 0 {
			pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: t})
			i = len(pod.Status.Conditions) - 1
		}
		if pod.Status.Conditions[i].Status != status {
			pod.Status.Conditions[i].Status, pod.Status.Conditions[i].LastTransitionTime = status, now
		}
	}
	for i := range pod.Status.ContainerStatuses {
		pod.Status.ContainerStatuses[i].Ready = ready
	}
	if _, err := r.Kube.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		return fmt.Errorf("pod %s readiness: %w", pod.Name, err)
	}
	return nil
}

func (r *Readers) args(p ReaderPod) []string {
	h := fnv.New64a()
	h.Write([]byte(p.Key()))
	args := []string{"emulate-reader", "--listen", fmt.Sprintf("%s:%d", p.IP, p.Port), "--policy", r.PolicyDir,
		"--class", p.Class, "--profile", p.Profile, "--pod", p.Name, "--namespace", p.Namespace,
		"--hostname", p.Node, "--seed", strconv.FormatUint(h.Sum64()%1e9, 10), "--log-level", "warn"}
	if c, ok := r.Policy.Class(p.Class); ok {
		for _, sp := range c.Spec.Profiles {
			if sp.Profile == p.Profile {
				args = append(args, "--gpu-model", sp.GPU)
				break
			}
		}
	}
	return args
}

// writeFiles publishes the running readers' addresses, atomically, when
// they changed.
func (r *Readers) writeFiles(running []ReaderPod) error {
	byService := map[string][]string{}
	var targets []string
	for _, c := range r.Policy.Classes {
		byService[r.Namespace+"/"+c.Name] = []string{}
	}
	for _, p := range running {
		addr := fmt.Sprintf("%s:%d", p.IP, p.Port)
		// headroom render names each class's Service after the class.
		k := p.Namespace + "/" + p.Class
		byService[k] = append(byService[k], addr)
		targets = append(targets, addr)
	}
	for k := range byService {
		slices.Sort(byService[k])
	}
	slices.Sort(targets)
	ep, _ := json.Marshal(byService)
	sd, _ := json.Marshal([]map[string]any{{"targets": append([]string{}, targets...), "labels": map[string]string{"job": "readers"}}})
	all := append(append([]byte{}, ep...), sd...)
	if bytes.Equal(all, r.written) {
		return nil
	}
	if err := writeAtomic(r.EndpointsFile, ep); err != nil {
		return err
	}
	if err := writeAtomic(r.TargetsFile, sd); err != nil {
		return err
	}
	r.written = all
	return nil
}

// Running is how many reader processes run.
func (r *Readers) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// startRouter writes the router's config (the policy's routes, as
// `headroom render --routes` prints them, anonymous tenant "sandbox",
// health checks on) and starts it.
func (s *Sandbox) startRouter(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, s.Opts.Bin.Headroom, "render", "--routes", "--policy", s.Opts.Policy, "--namespace", s.Opts.Namespace).Output()
	if err != nil {
		return fmt.Errorf("headroom render --routes: %w", err)
	}
	cfg := fmt.Sprintf(`listen: "127.0.0.1:%d"
server: {disableAccessLog: true, shutdownGrace: 5s}
auth: {anonymousTenant: sandbox}
tenants: [{name: sandbox}]
healthCheck: {interval: 500ms, timeout: 1s}
%s`, s.ports["router"], out)
	path := filepath.Join(s.Opts.Dir, "router.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return err
	}
	p, err := s.procs.start("router", s.Opts.Bin.Headroom, []string{"router", "--config", path,
		"--endpoints-file", s.readers.EndpointsFile, "--log-level", "warn"}, nil, nil)
	if err != nil {
		return err
	}
	return waitHTTP(ctx, s.RouterURL+"/healthz", 30*time.Second, p.done)
}

// startPrometheus scrapes the router, the controller(s) and the readers.
func (s *Sandbox) startPrometheus(ctx context.Context) error {
	sc := s.Opts.Scrape.String()
	cfg := fmt.Sprintf(`global: {scrape_interval: %[1]s, evaluation_interval: %[1]s}
scrape_configs:
  - job_name: headroom-router
    scrape_timeout: %[1]s
    static_configs: [{targets: ["127.0.0.1:%[2]d"]}]
  - job_name: headroom-controller
    scrape_timeout: %[1]s
    file_sd_configs: [{files: [%[3]q], refresh_interval: 1s}]
  - job_name: readers
    scrape_timeout: %[1]s
    honor_labels: true
    file_sd_configs: [{files: [%[4]q], refresh_interval: 1s}]
`, sc, s.ports["router"], filepath.Join(s.Opts.Dir, "controllers.targets.json"), s.readers.TargetsFile)
	path := filepath.Join(s.Opts.Dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(s.Opts.Dir, "controllers.targets.json"), []byte("[]")); err != nil {
		return err
	}
	return s.StartPrometheus(ctx)
}

// StartPrometheus starts (or restarts, after StopPrometheus) Prometheus on
// its port, with its data kept in Dir/prometheus.
func (s *Sandbox) StartPrometheus(ctx context.Context) error {
	p, err := s.procs.start("prometheus", s.Opts.Bin.path("prometheus"), []string{
		"--config.file=" + filepath.Join(s.Opts.Dir, "prometheus.yml"),
		"--storage.tsdb.path=" + filepath.Join(s.Opts.Dir, "prometheus"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", s.ports["prometheus"]),
		"--log.level=warn"}, nil, nil)
	if err != nil {
		return err
	}
	return waitHTTP(ctx, s.PromURL+"/-/ready", 60*time.Second, p.done)
}

// KillPrometheus kills Prometheus (a fault: SIGKILL).
func (s *Sandbox) KillPrometheus() { s.procs.kill("prometheus") }

// StartController starts `headroom controller` as identity name, serving
// /metrics on port, with leader election on the Lease headroom/headroom.
func (s *Sandbox) StartController(ctx context.Context, name string, port int) error {
	args := []string{"controller", "--policy", s.Opts.Policy, "--kubeconfig", s.Kubeconfig,
		"--prometheus-url", s.PromURL, "--prometheus-min-range", (2 * s.Opts.Scrape).String(),
		"--namespace", s.Opts.Namespace, "--manage-readers",
		"--cloud", "aws", "--aws-region", awstest.Region, "--aws-endpoint", s.AWSURL,
		"--interruption-queue", s.InterruptionQueue, "--aws-write-interval", "1s",
		"--interval", s.Opts.Interval.String(), "--mig-configmap", migConfigMapRef[0] + "/" + migConfigMapRef[1],
		"--vpa-mode", "patch-requests", "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--lease-namespace", "headroom", "--identity", name, "--log-level", "info"}
	args = append(args, s.Opts.ControllerArgs...)
	env := []string{"AWS_ACCESS_KEY_ID=AKIDSANDBOX", "AWS_SECRET_ACCESS_KEY=sandbox", "AWS_EC2_METADATA_DISABLED=true"}
	out := &decisionPrinter{w: s.Opts.Out, who: name}
	p, err := s.procs.start(name, s.Opts.Bin.Headroom, args, env, out)
	if err != nil {
		return err
	}
	s.addControllerTarget(port)
	// Like a kubelet with restartPolicy Always: a controller that exits by
	// itself (it does when it loses its Lease) starts again after a second;
	// one the sandbox stops or kills does not.
	s.loops.Go(func() {
		for cur := p; ; {
			select {
			case <-s.ctx.Done():
				return
			case <-cur.done:
			}
			if !s.procs.owns(name, cur) {
				return
			}
			fmt.Fprintf(out.w, "%s %s: exited (%v); restarting\n", time.Now().Format("15:04:05"), name, cur.err)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(time.Second):
			}
			next, err := s.procs.restart(name, cur, s.Opts.Bin.Headroom, args, env, out)
			if err != nil || next == nil {
				return
			}
			cur = next
		}
	})
	return waitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), 2*time.Minute, p.done)
}

// KillController kills a controller (a fault: SIGKILL, the Lease is not
// released).
func (s *Sandbox) KillController(name string) { s.procs.kill(name) }

func (s *Sandbox) addControllerTarget(port int) {
	path := filepath.Join(s.Opts.Dir, "controllers.targets.json")
	var cur []map[string]any
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &cur)
	}
	cur = append(cur, map[string]any{"targets": []string{fmt.Sprintf("127.0.0.1:%d", port)}})
	b, _ := json.Marshal(cur)
	_ = writeAtomic(path, b)
}

// decisionPrinter passes the controller's "action" and "not done" log
// lines on, one short line each: what it does, live.
type decisionPrinter struct {
	w   interface{ Write([]byte) (int, error) }
	who string
	mu  sync.Mutex
	buf []byte
}

func (d *decisionPrinter) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.buf = append(d.buf, p...)
	for {
		i := bytes.IndexByte(d.buf, '\n')
		if i < 0 {
			break
		}
		line := d.buf[:i]
		d.buf = d.buf[i+1:]
		var m map[string]any
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		switch m["msg"] {
		case "action":
			fmt.Fprintf(d.w, "%s %s: %v %v %v -> %v [%v] %v\n", time.Now().Format("15:04:05"), d.who, m["kind"], m["target"], m["from"], m["to"], m["status"], strings.TrimSpace(fmt.Sprint(m["reason"], " ", m["error"])))
		case "leading", "following":
			fmt.Fprintf(d.w, "%s %s: %v\n", time.Now().Format("15:04:05"), d.who, m["msg"])
		}
	}
	return len(p), nil
}
