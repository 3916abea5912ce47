package incluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/scaler/fake"
)

const testPolicy = `apiVersion: headroom.dev/v1alpha1
kind: Cluster
metadata: {name: test}
---
apiVersion: headroom.dev/v1alpha1
kind: NodeGroup
metadata: {name: p5-od}
spec: {instanceType: p5.48xlarge, size: {min: 0, max: 4}, gpu: {mode: mig-dynamic}}
---
apiVersion: headroom.dev/v1alpha1
kind: ModelClass
metadata: {name: reader}
spec:
  image: reader:1
  model: {source: local, path: /m, loadTime: 30s}
  gpuMemory: 14Gi
  profiles:
    - {gpu: H100-80GB, profile: 3g.40gb, serviceTime: {mean: 38ms, p95: 70ms}, concurrency: 4}
  slo: {latency: 300ms}
  scaling: {minReplicas: 2, maxReplicas: 30}
`

// liveStats reports the class at a settable rate, fresh at every tick.
type liveStats struct{ rate atomic.Int64 }

func (s *liveStats) ClassStats(_ context.Context, now time.Time, _ time.Duration) ([]scaler.ClassStats, error) {
	return []scaler.ClassStats{{Class: "reader", At: now, Rate: float64(s.rate.Load()), P50: 40 * time.Millisecond, P95: 80 * time.Millisecond, P99: 90 * time.Millisecond}}, nil
}
func (s *liveStats) GPUMemory(context.Context, time.Time) ([]scaler.GPUMemory, error) {
	return nil, nil
}
func (s *liveStats) PodUsage(context.Context, time.Time) ([]scaler.PodUsage, error) { return nil, nil }

// The loop keeps ticking through an API server outage (Snapshot failing:
// no change, no crash), acts once it answers again, and puts a changed
// policy in force at its next reload check; OnPolicy runs for each policy
// in force, retried at the next check when it fails.
func TestLeadThroughAnOutage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(testPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		w := fake.New()
		w.State.Nodes = []scaler.Node{{Name: "n1", NodeGroup: "p5-od", InstanceType: "p5.48xlarge", Ready: true, MIGConfig: "all-3g.40gb", MIGState: "success"}}
		for _, n := range []string{"r0", "r1"} {
			w.State.Pods = append(w.State.Pods, scaler.Pod{Name: n, Class: "reader", Node: "n1", Profile: "3g.40gb", Phase: scaler.PodReady})
		}
		w.State.Deployments = []scaler.Deployment{{Class: "reader", Replicas: 2}}
		w.Groups = []scaler.NodeGroupState{{Name: "p5-od", Desired: 1, Current: 1, Max: 4}}
		down := errors.New("connection refused")
		w.FailNext("Snapshot", down, down, down)
		stats := &liveStats{}
		stats.rate.Store(900)
		var applied []int // maxReplicas of each policy OnPolicy saw
		failOnce := true
		onPolicy := func(_ context.Context, p *policies.Policy) error {
			if failOnce {
				failOnce = false
				return errors.New("readers not applied")
			}
			applied = append(applied, p.Classes[0].Spec.Scaling.MaxReplicas)
			return nil
		}
		c, err := New(Options{PolicyDir: dir, Listen: "-", ReloadEvery: time.Minute}, Deps{Metrics: stats, Cluster: w, Cloud: w, OnPolicy: onPolicy})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.lead(ctx) }()

		synctest.Wait() // the first tick: Snapshot fails
		for range 2 {
			time.Sleep(c.core.Interval())
			synctest.Wait()
		}
		if n := len(w.CallsTo("ScaleClass")); n != 0 {
			t.Fatalf("%d scale calls while the cluster was unreadable", n)
		}
		time.Sleep(c.core.Interval()) // the API server answers again
		synctest.Wait()
		if n := len(w.CallsTo("ScaleClass")); n != 1 {
			t.Fatalf("%d scale calls after the outage, want 1 (900 req/s on 2 replicas)", n)
		}
		if got := len(w.CallsTo("Snapshot")); got < 4 {
			t.Errorf("%d snapshots in 4 ticks", got)
		}
		time.Sleep(time.Minute) // the next check retries the failed OnPolicy
		synctest.Wait()
		if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(strings.Replace(testPolicy, "maxReplicas: 30", "maxReplicas: 3", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute) // the next reload check
		synctest.Wait()
		calls := w.CallsTo("ScaleClass")
		if last := calls[len(calls)-1].Args; last != "reader=3" {
			t.Errorf("after the policy lowered maxReplicas to 3, the last scale was %s", last)
		}
		if want := []int{30, 3}; !slices.Equal(applied, want) {
			t.Errorf("OnPolicy saw maxReplicas %v, want %v (the first try failed and was retried at the next check)", applied, want)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("lead ended with %v", err)
		}
	})
}
