package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The end-to-end tests run the whole sandbox: a real control plane with
// kwok nodes, the cloud, the router, emulated readers, Prometheus and the
// headroom binary. They need the binaries of scripts/sandbox-bins.sh
// ($HEADROOM_SANDBOX_BIN, or its cache); without them they skip, except
// under CI=true, where they fail.

var (
	buildOnce sync.Once
	headroom  string
	buildErr  error
)

func sandboxBinaries(t *testing.T) Binaries {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: not with -short")
	}
	dir := os.Getenv("HEADROOM_SANDBOX_BIN")
	if dir == "" {
		cache := os.Getenv("HEADROOM_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "headroom")
		}
		dir = filepath.Join(cache, "sandbox", "k8s-v1.37.2-etcd-v3.6.17-kwok-v0.8.0")
	}
	buildOnce.Do(func() {
		out := filepath.Join(os.TempDir(), fmt.Sprintf("headroom-sandbox-test-%d", os.Getpid()))
		cmd := exec.Command("go", "build", "-o", out, "../cmd/headroom")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w: %s", err, b)
			return
		}
		headroom = out
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	b := Binaries{Headroom: headroom, Dir: dir}
	if m := b.Missing(); len(m) > 0 {
		msg := "sandbox binaries missing (scripts/sandbox-bins.sh): " + strings.Join(m, ", ")
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return b
}

func TestMain(m *testing.M) {
	code := m.Run()
	if headroom != "" {
		os.Remove(headroom)
	}
	os.Exit(code)
}

type testOut struct{ t *testing.T }

func (w testOut) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func startSandbox(t *testing.T, o Options) *Sandbox {
	t.Helper()
	o.Bin = sandboxBinaries(t)
	if o.Policy == "" {
		o.Policy = "testdata/policy"
	}
	o.Dir = t.TempDir()
	o.Name = "hr-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	o.Out = testOut{t}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	s, err := Up(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(o.Dir, "logs", "*.log"))
			for _, l := range logs {
				if b, err := os.ReadFile(l); err == nil && len(b) > 0 {
					t.Logf("--- %s (last 3000 bytes)\n%s", filepath.Base(l), tail(b, 3000))
				}
			}
		}
		s.Down()
	})
	if err := s.WaitSteady(ctx, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	return s
}

// eventually polls cond every 250ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, timeout, why)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-tick.C:
		}
	}
}

func gpuNodes(t *testing.T, s *Sandbox) []corev1.Node {
	t.Helper()
	nodes, err := s.Kube.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{LabelSelector: InstanceLabel})
	if err != nil {
		t.Fatal(err)
	}
	return nodes.Items
}

// A spike: the class scales up, its nodegroup grows, pods schedule onto
// the new node, the router keeps the class within its SLO, and after the
// stabilization window the class scales down and the emptied node is
// drained and removed.
func TestSpike(t *testing.T) {
	s := startSandbox(t, Options{})
	first := nodeNames(t, s)
	if len(first) != 1 {
		t.Fatalf("%d nodes at the start, want the nodegroup's minimum, 1", len(first))
	}
	rep := spike(t, s, first)
	if rep.Nodes.Peak["gpu-ondemand"] < 2 {
		t.Errorf("peak nodes %v, want the nodegroup grown to 2 or more", rep.Nodes.Peak)
	}

	// After the spike: back to the minimum replicas, and the emptied node
	// drained and removed, in the API server and in the cloud.
	eventually(t, 3*time.Minute, "scale down and node removal", func() (bool, string) {
		d, err := s.Kube.AppsV1().Deployments(s.Opts.Namespace).Get(t.Context(), "reader-en", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		nodes := gpuNodes(t, s)
		g, _ := s.AWS.Group("eks-gpu-ondemand")
		ok := *d.Spec.Replicas == 2 && len(nodes) == 1 && g.Desired == 1
		return ok, fmt.Sprintf("replicas %d, %d nodes, desired %d", *d.Spec.Replicas, len(nodes), g.Desired)
	})
}

func nodeNames(t *testing.T, s *Sandbox) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, n := range gpuNodes(t, s) {
		out[n.Name] = true
	}
	return out
}

// spike replays testdata/spike.csv: it returns once a reader runs on a
// node not in first and the replay has ended, with the router holding the
// class within its SLO and no request lost.
func spike(t *testing.T, s *Sandbox, first map[string]bool) ReplayReport {
	t.Helper()
	repc := make(chan ReplayReport, 1)
	errc := make(chan error, 1)
	go func() {
		rep, err := s.Replay(t.Context(), ReplayOptions{Trace: "testdata/spike.csv",
			Schedule: ScheduleOptions{Speedup: 1, Scale: 1, MaxRequests: 20000, MaxDuration: 4 * time.Minute}})
		errc <- err
		repc <- rep
	}()

	// The nodegroup grows and a reader pod turns Ready on a new node, its
	// model's load time after it started.
	eventually(t, 2*time.Minute, "a reader Ready on a new node", func() (bool, string) {
		pods, err := s.Kube.CoreV1().Pods(s.Opts.Namespace).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, p := range pods.Items {
			if p.Spec.NodeName == "" || first[p.Spec.NodeName] || p.Status.Phase != corev1.PodRunning || !podReady(&p) {
				continue
			}
			load := s.Policy.Classes[0].Spec.Model.LoadTime.Duration
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && p.Status.StartTime != nil && c.LastTransitionTime.Sub(p.Status.StartTime.Time) < load-time.Second {
					t.Errorf("pod %s Ready %s after it started, before the model's load time %s", p.Name, c.LastTransitionTime.Sub(p.Status.StartTime.Time), load)
				}
			}
			return true, ""
		}
		return false, fmt.Sprintf("%d nodes, %d pods", len(gpuNodes(t, s)), len(pods.Items))
	})
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	rep := <-repc
	rep.Print(testOut{t}, s.PromURL)
	if rep.Router.Total < float64(rep.Client.Sent)*0.99 {
		t.Errorf("the router measured %.0f requests of %d sent", rep.Router.Total, rep.Client.Sent)
	}
	if share := rep.Router.Share(); share < 0.95 {
		t.Errorf("router-measured share within SLO %.4f, want >= 0.95 (the class's p95 objective)", share)
	}
	if rep.Client.Lost > 0 {
		t.Errorf("%d requests lost (no answer)", rep.Client.Lost)
	}
	return rep
}
