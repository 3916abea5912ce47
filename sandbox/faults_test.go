package sandbox

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headroom-dev/headroom/internal/awstest"
	"github.com/headroom-dev/headroom/scaler/aws"
	"github.com/headroom-dev/headroom/scaler/kube"
)

// load runs sends in the background; wait returns what the router and
// the client measured over it.
type load struct {
	s      *Sandbox
	before SLOCount
	done   chan LoadResult
	start  time.Time
}

func startLoad(t *testing.T, s *Sandbox, sends []Send) *load {
	t.Helper()
	before, err := RouterSLO(t.Context(), s.RouterURL, "reader-en", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	l := &load{s: s, before: before, done: make(chan LoadResult, 1), start: time.Now()}
	go func() {
		l.done <- Run(t.Context(), sends, LoadOptions{URL: s.RouterURL, SLO: 300 * time.Millisecond}, l.start)
	}()
	return l
}

func (l *load) wait(t *testing.T) (SLOCount, LoadResult) {
	t.Helper()
	res := <-l.done
	after, err := RouterSLO(t.Context(), l.s.RouterURL, "reader-en", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return after.Sub(l.before), res
}

func (s *Sandbox) replicas(t *testing.T) int {
	t.Helper()
	sc, err := s.Kube.AppsV1().Deployments(s.Opts.Namespace).GetScale(t.Context(), "reader-en", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return int(sc.Spec.Replicas)
}

// figure logs one row of docs/reliability.md's Faults table.
func figure(t *testing.T, fault string, slo SLOCount, res LoadResult, recover time.Duration) {
	t.Logf("FIGURE | %s | %.2f%% of %.0f | %d of %d | %s |", fault, 100*slo.Share(), slo.Total, res.Lost, res.Sent, recover.Round(100*time.Millisecond))
}

// The faults, one after another on one sandbox (a control plane per
// fault would cost a minute each): Prometheus killed for 2 minutes, the
// API server restarted, the cloud throttling every write for a minute,
// the leader killed with a standby running. Each is measured by the
// router (share within SLO), the load generator (lost: no answer) and
// the time to recover.
func TestFaults(t *testing.T) {
	s := startSandbox(t, Options{})
	ctx := t.Context()

	t.Run("prometheus-killed-2m", func(t *testing.T) {
		// 150 req/s scales the class up; Prometheus dies as the load drops
		// to 20 req/s, which a seeing controller would scale down after the
		// 30s window. Blind, it must hold for the 2 minutes.
		up := startLoad(t, s, Steps("reader-en", Step{150, 30 * time.Second}))
		eventually(t, 30*time.Second, "scale-up under 150 req/s", func() (bool, string) {
			r := s.replicas(t)
			return r >= 3, fmt.Sprintf("%d replicas", r)
		})
		slo1, res1 := up.wait(t)
		held := s.replicas(t)
		s.KillPrometheus()
		l := startLoad(t, s, Steps("reader-en", Step{20, 150 * time.Second}))
		blindUntil := time.Now().Add(2 * time.Minute)
		low := held
		for time.Now().Before(blindUntil) {
			low = min(low, s.replicas(t))
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(250 * time.Millisecond):
			}
		}
		if low < held {
			t.Errorf("scaled down while blind: %d -> %d replicas", held, low)
		}
		restart := time.Now()
		if err := s.StartPrometheus(ctx); err != nil {
			t.Fatal(err)
		}
		// Recovered: a tick ran after Prometheus came back and read the
		// class stats without error, and the class scaled down on them.
		eventually(t, 90*time.Second, "scale-down once Prometheus is back", func() (bool, string) {
			r := s.replicas(t)
			return r < held, fmt.Sprintf("%d replicas", r)
		})
		rec := time.Since(restart)
		slo, res := l.wait(t)
		slo.Total += slo1.Total
		slo.WithinSLO += slo1.WithinSLO
		res.Sent += res1.Sent
		res.Lost += res1.Lost
		figure(t, "Prometheus killed for 2 minutes", slo, res, rec)
		if res.Lost > 0 {
			t.Errorf("%d requests lost", res.Lost)
		}
		if slo.Share() < 0.95 {
			t.Errorf("share within SLO %.4f, want >= 0.95", slo.Share())
		}
	})

	t.Run("apiserver-restarted", func(t *testing.T) {
		l := startLoad(t, s, Steps("reader-en", Step{60, 40 * time.Second}))
		kill := time.Now()
		if err := s.RestartAPIServer(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "API server ready", func() (bool, string) { return s.APIReady(ctx), "not ready" })
		// Recovered: a controller leads and runs two ticks in a row without
		// a read error. The API server is down longer than the 10s renew
		// deadline (its graceful stop hangs; SIGKILL after 15s), so the
		// leader loses its Lease and exits, as client-go's leader election
		// means it to; the sandbox starts it again, as a kubelet would.
		recovered := func() func() (bool, string) {
			var n0, e0 float64
			leading := false
			return func() (bool, string) {
				l, _ := Metric(ctx, s.ControllerURL, "headroom_controller_leader", nil)
				n, ok := Metric(ctx, s.ControllerURL, "headroom_scaler_ticks_total", nil)
				// Read errors of the API server and Prometheus; pod usage
				// fails every tick here (no metrics-server) and is not one.
				e1, _ := Metric(ctx, s.ControllerURL, "headroom_scaler_observe_errors_total", map[string]string{"source": "cluster"})
				e2, _ := Metric(ctx, s.ControllerURL, "headroom_scaler_observe_errors_total", map[string]string{"source": "class-stats"})
				e := e1 + e2
				switch {
				case l != 1 || !ok:
					leading = false
					return false, "no controller leads"
				case !leading || e != e0 || n < n0:
					leading, n0, e0 = true, n, e
					return false, "leading; waiting for clean ticks"
				}
				return n >= n0+2, fmt.Sprintf("ticks %.0f since %.0f", n, n0)
			}
		}
		eventually(t, 2*time.Minute, "two clean ticks of a leader", recovered())
		rec := time.Since(kill)
		slo, res := l.wait(t)
		figure(t, "API server restarted", slo, res, rec)
		if res.Lost > 0 {
			t.Errorf("%d requests lost", res.Lost)
		}
		if slo.Share() < 0.95 {
			t.Errorf("share within SLO %.4f, want >= 0.95", slo.Share())
		}
	})

	t.Run("cloud-throttles-writes-1m", func(t *testing.T) {
		// From the minimum (one node), so that the load below needs a write.
		eventually(t, 3*time.Minute, "back to the minimum", func() (bool, string) {
			g, _ := s.AWS.Group("eks-gpu-ondemand")
			r := s.replicas(t)
			return g.Desired == 1 && r == 2, fmt.Sprintf("desired %d, %d replicas", g.Desired, r)
		})
		g0, _ := s.AWS.Group("eks-gpu-ondemand")
		s.AWS.FailAlways(awstest.Throttle, Writes...)
		until := time.Now().Add(time.Minute)
		// A load that needs a second node, from the start of the throttle.
		l := startLoad(t, s, Steps("reader-en", Step{160, 90 * time.Second}, Step{20, 10 * time.Second}))
		for time.Now().Before(until) {
			if g, _ := s.AWS.Group("eks-gpu-ondemand"); g.Desired != g0.Desired {
				t.Fatalf("desired size changed through a throttled API: %d -> %d", g0.Desired, g.Desired)
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(250 * time.Millisecond):
			}
		}
		s.AWS.ClearFaults(Writes...)
		lifted := time.Now()
		eventually(t, time.Minute, "the nodegroup grows once writes pass", func() (bool, string) {
			g, _ := s.AWS.Group("eks-gpu-ondemand")
			return g.Desired > g0.Desired, fmt.Sprintf("desired %d", g.Desired)
		})
		rec := time.Since(lifted)
		slo, res := l.wait(t)
		figure(t, "cloud throttles every write for 1 minute", slo, res, rec)
		if res.Lost > 0 {
			t.Errorf("%d requests lost", res.Lost)
		}
	})

	t.Run("leader-killed", func(t *testing.T) {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		standby := ControllerURLOf(port)
		if err := s.StartController(ctx, "standby", port); err != nil {
			t.Fatal(err)
		}
		if v, _ := Metric(ctx, standby, "headroom_controller_leader", nil); v != 0 {
			t.Fatalf("standby leads (%v) while the leader lives", v)
		}
		s.AWS.ResetRequests()
		// Load rises as the leader dies: the standby has to act.
		l := startLoad(t, s, Steps("reader-en", Step{160, 40 * time.Second}, Step{20, 5 * time.Second}))
		s.KillController("controller")
		killed := time.Now()
		eventually(t, 30*time.Second, "the standby takes over", func() (bool, string) {
			v, _ := Metric(ctx, standby, "headroom_controller_leader", nil)
			return v == 1, "not leading"
		})
		rec := time.Since(killed)
		// The Lease was renewed up to one 2s retry period before the kill;
		// 3s more for the standby's own retry and this poll on a busy
		// machine (measured 16.5-18.8s).
		if rec > 20*time.Second {
			t.Errorf("took over after %s, want within the 15s lease + 2s retry (+3s slack)", rec)
		}
		slo, res := l.wait(t)
		figure(t, "leader killed, standby running", slo, res, rec)
		// No action applied twice: every nodegroup write asks for a new size.
		var sizes []string
		for _, r := range s.AWS.Requests("UpdateNodegroupConfig") {
			sizes = append(sizes, fmt.Sprint(r.JSON()["scalingConfig"]))
		}
		for i := 1; i < len(sizes); i++ {
			if sizes[i] == sizes[i-1] {
				t.Errorf("the same nodegroup write twice in a row: %v", sizes)
			}
		}
		if len(sizes) == 0 {
			t.Log("no nodegroup write was needed after the kill")
		}
		if res.Lost > 0 {
			t.Errorf("%d requests lost", res.Lost)
		}
	})
}

// A storm of spot notices: EC2 warns of half the spot nodes at once, two
// minutes ahead, and reclaims them then. The controller cordons them,
// raises the spot nodegroup for replacements, drains them once the
// replacements are Ready (or 90s before the end), and the class is back
// at its replicas on live nodes before the instances go; nothing is lost.
func TestSpotStorm(t *testing.T) {
	s := startSandbox(t, Options{Policy: "testdata/spot"})
	ctx := t.Context()
	want := s.replicas(t)
	podsOn := func() (map[string]int, int) {
		pods, err := s.Kube.CoreV1().Pods(s.Opts.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		on, ready := map[string]int{}, 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil || p.Spec.NodeName == "" {
				continue
			}
			on[p.Spec.NodeName]++
			if podReady(&p) {
				ready++
			}
		}
		return on, ready
	}
	on, _ := podsOn()
	var spot []corev1.Node
	for _, n := range gpuNodes(t, s) {
		if n.Labels[kube.CapacityTypeLabel] == "SPOT" {
			spot = append(spot, n)
		}
	}
	// Half the spot nodes, those with the most replicas.
	slices.SortFunc(spot, func(a, b corev1.Node) int { return on[b.Name] - on[a.Name] })
	hit := map[string]bool{}
	lostReplicas := 0
	for _, n := range spot[:len(spot)/2] {
		hit[n.Name] = true
		lostReplicas += on[n.Name]
	}
	if lostReplicas == 0 {
		t.Fatalf("no replica on the spot nodes %v (pods per node %v)", hit, on)
	}

	l := startLoad(t, s, Steps("reader-en", Step{200, 150 * time.Second}))
	notice := time.Now()
	terminates := notice.Add(aws.SpotWarning)
	for n := range hit {
		if err := s.InterruptSpot(ctx, n, terminates); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("spot notices for %v (%d of %d replicas), terminating at %s", hit, lostReplicas, want, terminates.Format(time.TimeOnly))
	// Back at the replicas, all Ready on live nodes, before the end.
	eventually(t, aws.SpotWarning, "replicas Ready off the interrupted nodes before they go", func() (bool, string) {
		on, ready := podsOn()
		left := 0
		for n := range hit {
			left += on[n]
		}
		return left == 0 && ready >= want, fmt.Sprintf("%d replicas still on interrupted nodes, %d of %d Ready", left, ready, want)
	})
	rec := time.Since(notice)
	for _, n := range gpuNodes(t, s) {
		if hit[n.Name] && !n.Spec.Unschedulable {
			t.Errorf("interrupted node %s not cordoned", n.Name)
		}
	}
	// EC2 takes the instances back; the cloud's replacements join.
	eventually(t, aws.SpotWarning, "the interrupted nodes gone", func() (bool, string) {
		left := 0
		for _, n := range gpuNodes(t, s) {
			if hit[n.Name] {
				left++
			}
		}
		return left == 0, fmt.Sprintf("%d interrupted nodes left", left)
	})
	// One replacement per interrupted node: the drained nodes were removed
	// with the group shrunk, so the group launched none when they went.
	g, _ := s.AWS.Group("eks-gpu-spot")
	if g.Desired != len(spot) || len(g.Instances) != len(spot) {
		t.Errorf("spot group after the storm: desired %d, %d instances; want %d, one replacement each", g.Desired, len(g.Instances), len(spot))
	}
	slo, res := l.wait(t)
	figure(t, fmt.Sprintf("spot notices on %d of %d spot nodes", len(hit), len(spot)), slo, res, rec)
	if res.Lost > 0 {
		t.Errorf("%d requests lost", res.Lost)
	}
	if slo.Share() < 0.95 {
		t.Errorf("share within SLO %.4f, want >= 0.95", slo.Share())
	}
}
