package aws

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/headroom-dev/headroom/internal/awstest"
)

const (
	testCluster = "prod"
	testQueue   = "https://sqs.eu-central-1.amazonaws.com/123456789012/headroom-interruptions"
)

// lookup is a NodeLookup over two maps, with a settable sync state.
type lookup struct {
	mu       sync.Mutex
	byNode   map[string]string
	unsynced bool
}

func newLookup(nodeToInstance map[string]string) *lookup {
	return &lookup{byNode: nodeToInstance}
}

func (l *lookup) InstanceOf(node string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id, ok := l.byNode[node]
	return id, ok
}

func (l *lookup) NodeOf(id string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for n, i := range l.byNode {
		if i == id {
			return n, true
		}
	}
	return "", false
}

func (l *lookup) HasSynced() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.unsynced
}

func (l *lookup) setSynced(ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unsynced = !ok
}

// testClock is a settable clock for the write rate limit.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a Cloud on the real SDK against a fresh awstest server.
type env struct {
	cloud  *Cloud
	srv    *awstest.Server
	lookup *lookup
	reg    *prometheus.Registry
	logs   *observer.ObservedLogs
	clock  *testClock
}

// newEnv serves awstest with:
//
//	gpu-od   eks-managed, EKS nodegroup "gpu-od-ng" backed by ASG "eks-gpu-od",
//	         min 1 max 12 desired 2, instances i-...a1 (node-a), i-...a2 (node-b)
//	cpu      asg "cpu-asg", min 0 max 10 desired 1, instance i-...c1 (node-c)
//
// and a queue; mod may change the options before New.
func newEnv(t testing.TB, mod func(*Options)) *env {
	t.Helper()
	srv, url := awstest.NewTest(t)
	srv.PutGroup(awstest.Group{Name: "eks-gpu-od", Min: 1, Max: 12, Desired: 2, Instances: []awstest.Instance{
		{ID: "i-00000000000000a1"}, {ID: "i-00000000000000a2"}}})
	srv.PutNodegroup(awstest.Nodegroup{Cluster: testCluster, Name: "gpu-od-ng", Group: "eks-gpu-od"})
	srv.PutGroup(awstest.Group{Name: "cpu-asg", Min: 0, Max: 10, Desired: 1, Instances: []awstest.Instance{{ID: "i-00000000000000c1"}}})
	srv.AddQueue(testQueue, 0)
	lk := newLookup(map[string]string{"node-a": "i-00000000000000a1", "node-b": "i-00000000000000a2", "node-c": "i-00000000000000c1"})
	clock := &testClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	opts := Options{
		Region: "eu-central-1", EKSCluster: testCluster,
		NodeGroups: []NodeGroup{
			{Name: "gpu-od", Kind: "eks-managed", CloudName: "gpu-od-ng", Min: 1, Max: 12},
			{Name: "cpu", Kind: "asg", CloudName: "cpu-asg", Min: 0, Max: 10},
		},
		Endpoints:         AllEndpoints(url),
		Credentials:       credentials.NewStaticCredentialsProvider("AKIDHEADROOMTEST", "secret", ""),
		MaxBackoff:        time.Millisecond,
		InterruptionQueue: testQueue,
		Clock:             clock,
	}
	if mod != nil {
		mod(&opts)
	}
	core, logs := observer.New(zap.DebugLevel)
	reg := prometheus.NewRegistry()
	c, err := New(context.Background(), opts, lk, zap.New(core), reg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{cloud: c, srv: srv, lookup: lk, reg: reg, logs: logs, clock: clock}
}

// messages returns the interruption_messages_total sample of kind/result.
func (e *env) messages(kind, result string) float64 {
	return testutil.ToFloat64(e.cloud.m.messages.WithLabelValues(kind, result))
}

// writes returns the write requests the server saw.
func (e *env) writes() []awstest.Request {
	return e.srv.Requests("SetDesiredCapacity", "UpdateNodegroupConfig", "TerminateInstanceInAutoScalingGroup", "DeleteMessage")
}

func logged(logs *observer.ObservedLogs, substr string) int {
	n := 0
	for _, e := range logs.All() {
		if strings.Contains(e.Message, substr) {
			n++
		}
	}
	return n
}
