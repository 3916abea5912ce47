package endpointslices

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/headroom-dev/headroom/internal/envtest"
	"github.com/headroom-dev/headroom/router"
	"github.com/headroom-dev/headroom/router/emulator"
)

func ptr[T any](v T) *T { return &v }

// slice is an EndpointSlice of service svc in namespace ns, as the
// EndpointSlice controller writes them: ports "metrics" 9400 and "http" 8000,
// one endpoint per ip, ready[i] its Ready condition (nil past the end).
func slice(ns, name, svc string, ready []bool, ips ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			discoveryv1.LabelServiceName: svc,
			discoveryv1.LabelManagedBy:   "headroom-test",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr("metrics"), Port: ptr(int32(9400)), Protocol: ptr(corev1.ProtocolTCP)},
			{Name: ptr("http"), Port: ptr(int32(8000)), Protocol: ptr(corev1.ProtocolTCP)},
		},
	}
	for i, ip := range ips {
		e := discoveryv1.Endpoint{Addresses: []string{ip}}
		if i < len(ready) {
			e.Conditions.Ready = ptr(ready[i])
		}
		s.Endpoints = append(s.Endpoints, e)
	}
	return s
}

func TestReadyAddresses(t *testing.T) {
	terminating := slice("ml", "c", "s", nil, "10.0.0.9")
	terminating.Endpoints[0].Conditions.Terminating = ptr(true)
	fqdn := slice("ml", "d", "s", nil, "reader.example")
	fqdn.AddressType = discoveryv1.AddressTypeFQDN
	tests := []struct {
		name   string
		slices []*discoveryv1.EndpointSlice
		port   string
		want   []string
	}{
		{"named port, not-ready skipped, nil ready counts",
			[]*discoveryv1.EndpointSlice{slice("ml", "a", "s", []bool{true, false}, "10.0.0.2", "10.0.0.3", "10.0.0.1")},
			"http", []string{"10.0.0.1:8000", "10.0.0.2:8000"}},
		{"first port when unnamed", []*discoveryv1.EndpointSlice{slice("ml", "a", "s", nil, "10.0.0.1")}, "", []string{"10.0.0.1:9400"}},
		{"unknown port name", []*discoveryv1.EndpointSlice{slice("ml", "a", "s", nil, "10.0.0.1")}, "grpc", nil},
		{"duplicates across slices", []*discoveryv1.EndpointSlice{slice("ml", "a", "s", nil, "10.0.0.1"), slice("ml", "b", "s", nil, "10.0.0.1")},
			"http", []string{"10.0.0.1:8000"}},
		{"terminating and fqdn skipped", []*discoveryv1.EndpointSlice{terminating, fqdn}, "http", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ReadyAddresses(tc.slices, tc.port); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

type recorder struct {
	mu      sync.Mutex
	got     map[string][]string
	calls   map[string]int
	changed chan struct{} // closed, and replaced, at every update
}

func newRecorder() *recorder {
	return &recorder{got: map[string][]string{}, calls: map[string]int{}, changed: make(chan struct{})}
}

// update is Source.Run's callback; like router.SetEndpoints it fails for a
// class it does not know ("bad").
func (r *recorder) update(class, version string, addrs []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[class+"/"+version]++
	close(r.changed)
	r.changed = make(chan struct{})
	if class == "bad" {
		return fmt.Errorf("unknown class")
	}
	r.got[class+"/"+version] = addrs
	return nil
}

// wait returns once key's last report is want, checking after every
// update, and fails the test after 20 s.
func (r *recorder) wait(t *testing.T, key string, want []string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		got, ok := r.got[key]
		changed := r.changed
		r.mu.Unlock()
		if ok && slices.Equal(got, want) {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s: got %v, want %v", key, got, want)
		}
	}
}

func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[key]
}

// run starts src and returns a stop function that cancels it and checks
// that Run returned nil promptly.
func run(t *testing.T, src *Source, update func(class, version string, addrs []string) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, update) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// api wraps the calls the tests make as the EndpointSlice controller would.
type api struct {
	t      *testing.T
	client kubernetes.Interface
}

func (a api) service(ns, name string) {
	a.t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{
			{Name: "metrics", Port: 9400}, {Name: "http", Port: 8000},
		}},
	}
	if _, err := a.client.CoreV1().Services(ns).Create(a.t.Context(), svc, metav1.CreateOptions{}); err != nil {
		a.t.Fatalf("creating service %s/%s: %v", ns, name, err)
	}
}

func (a api) create(s *discoveryv1.EndpointSlice) {
	a.t.Helper()
	if _, err := a.client.DiscoveryV1().EndpointSlices(s.Namespace).Create(a.t.Context(), s, metav1.CreateOptions{}); err != nil {
		a.t.Fatalf("creating endpointslice %s/%s: %v", s.Namespace, s.Name, err)
	}
}

// setReady reads the slice, sets the Ready condition of the endpoint with
// address ip, and writes it back (an optimistic-concurrency update, as the
// controller does).
func (a api) setReady(ns, name, ip string, ready bool) {
	a.t.Helper()
	es := a.client.DiscoveryV1().EndpointSlices(ns)
	s, err := es.Get(a.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		a.t.Fatalf("getting endpointslice %s/%s: %v", ns, name, err)
	}
	found := false
	for i := range s.Endpoints {
		if slices.Contains(s.Endpoints[i].Addresses, ip) {
			s.Endpoints[i].Conditions.Ready = ptr(ready)
			found = true
		}
	}
	if !found {
		a.t.Fatalf("endpointslice %s/%s has no endpoint %s", ns, name, ip)
	}
	if _, err := es.Update(a.t.Context(), s, metav1.UpdateOptions{}); err != nil {
		a.t.Fatalf("updating endpointslice %s/%s: %v", ns, name, err)
	}
}

// relabel moves a slice to another service.
func (a api) relabel(ns, name, svc string) {
	a.t.Helper()
	es := a.client.DiscoveryV1().EndpointSlices(ns)
	s, err := es.Get(a.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		a.t.Fatalf("getting endpointslice %s/%s: %v", ns, name, err)
	}
	s.Labels[discoveryv1.LabelServiceName] = svc
	if _, err := es.Update(a.t.Context(), s, metav1.UpdateOptions{}); err != nil {
		a.t.Fatalf("updating endpointslice %s/%s: %v", ns, name, err)
	}
}

func (a api) delete(ns, name string) {
	a.t.Helper()
	if err := a.client.DiscoveryV1().EndpointSlices(ns).Delete(a.t.Context(), name, metav1.DeleteOptions{}); err != nil {
		a.t.Fatalf("deleting endpointslice %s/%s: %v", ns, name, err)
	}
}

// TestAPIServer runs the watcher against a real kube-apiserver and etcd
// (internal/envtest; skipped when they are not built, failed under CI=true).
// One server serves the subtests, each in its own namespaces.
func TestAPIServer(t *testing.T) {
	env := envtest.Start(t)
	t.Run("source follows slices", func(t *testing.T) { testSourceFollowsSlices(t, env) })
	t.Run("router follows slices", func(t *testing.T) { testRouterFollowsSlices(t, env) })
}

// testSourceFollowsSlices: a Service's slices are created, an endpoint turns
// unready and ready again, a second slice comes and goes, a slice is deleted;
// the reported set follows each step. Slices of other services and of the
// same service name in another namespace are not reported, and an update
// callback error (an unknown class) does not stop the others.
func testSourceFollowsSlices(t *testing.T, env *envtest.Env) {
	a := api{t, env.Client}
	ml, other := env.Namespace(t, "ml"), env.Namespace(t, "other")
	for _, ns := range []string{ml, other} {
		a.service(ns, "reader-a")
	}
	a.service(ml, "reader-b")
	a.create(slice(ml, "reader-a-1", "reader-a", []bool{true, true}, "10.0.0.1", "10.0.0.2"))
	a.create(slice(ml, "reader-b-1", "reader-b", nil, "10.0.1.1"))
	a.create(slice(ml, "unrelated-1", "unrelated", nil, "10.9.9.9"))
	a.create(slice(other, "reader-a-1", "reader-a", nil, "10.8.0.1"))

	rec := newRecorder()
	src := &Source{Client: env.Client, Targets: []Target{
		{Class: "a", Version: "v1", Namespace: ml, Service: "reader-a", Port: "http"},
		{Class: "b", Version: "v1", Namespace: ml, Service: "reader-b", Port: "http"},
		{Class: "a", Version: "v2", Namespace: other, Service: "reader-a", Port: "metrics"},
		{Class: "bad", Version: "v1", Namespace: ml, Service: "unrelated", Port: "http"},
	}}
	stop := run(t, src, rec.update)
	rec.wait(t, "a/v1", []string{"10.0.0.1:8000", "10.0.0.2:8000"})
	rec.wait(t, "b/v1", []string{"10.0.1.1:8000"})
	rec.wait(t, "a/v2", []string{"10.8.0.1:9400"})

	a.setReady(ml, "reader-a-1", "10.0.0.2", false)
	rec.wait(t, "a/v1", []string{"10.0.0.1:8000"})
	a.create(slice(ml, "reader-a-2", "reader-a", nil, "10.0.0.7"))
	rec.wait(t, "a/v1", []string{"10.0.0.1:8000", "10.0.0.7:8000"})
	a.setReady(ml, "reader-a-1", "10.0.0.2", true)
	rec.wait(t, "a/v1", []string{"10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.7:8000"})
	a.delete(ml, "reader-a-2")
	rec.wait(t, "a/v1", []string{"10.0.0.1:8000", "10.0.0.2:8000"})
	a.delete(ml, "reader-b-1")
	rec.wait(t, "b/v1", nil)
	// A slice relabelled to another service leaves the watch's label
	// selector: the server sends a deletion, and its addresses go.
	a.relabel(ml, "reader-a-1", "reader-z")
	rec.wait(t, "a/v1", nil)

	// The slice of reader-a in the other namespace never leaked into a/v1,
	// and b/v1's watch saw none of a/v1's changes: once at sync, once at
	// its own deletion.
	rec.wait(t, "a/v2", []string{"10.8.0.1:9400"})
	if n := rec.count("b/v1"); n != 2 {
		t.Errorf("b/v1 reported %d times, want 2 (sync, deletion)", n)
	}
	if rec.count("bad/v1") == 0 {
		t.Error("the failing target was never reported")
	}
	stop()
}

// testRouterFollowsSlices runs the real router with its endpoints from the
// watcher (as `headroom router` does in a cluster) in front of two reader
// emulators, and checks which one answers as the slice's readiness changes.
// Pod IPs are not reachable from a test, and the API server refuses loopback
// addresses in a slice, so the router's transport dials each pod address's
// emulator on loopback instead: everything else is the production path.
func testRouterFollowsSlices(t *testing.T, env *envtest.Env) {
	a := api{t, env.Client}
	ns := env.Namespace(t, "ml")
	a.service(ns, "reader-a")
	pods := map[string]string{ // pod address -> emulator on loopback
		"10.1.0.1:8000": readerEmulator(t, "first"),
		"10.1.0.2:8000": readerEmulator(t, "second"),
	}
	dial := &net.Dialer{Timeout: 5 * time.Second}
	dialPod := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if lo, ok := pods[addr]; ok {
			return dial.DialContext(ctx, network, lo)
		}
		return nil, fmt.Errorf("test dialer: no pod at %s", addr)
	}

	const key = "acme-secret-key"
	cfg, err := router.Parse(fmt.Appendf(nil, `
models:
  - class: a
    versions: [{name: v1, service: {namespace: %s, name: reader-a, port: http}}]
tenants:
  - {name: acme, keySHA256: [%s]}
`, ns, router.HashKey(key)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := router.New(router.Options{Config: cfg, Logger: zap.NewNop(), Dial: dialPod})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-served })
	url := "http://" + ln.Addr().String()
	// answeredBy sends one request through the router and returns the
	// version of the emulator that answered, or "status N" when none did.
	answeredBy := func() string {
		req, err := http.NewRequestWithContext(t.Context(), "POST", url+"/", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Model-Class", "a")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Sprintf("status %d", resp.StatusCode)
		}
		var ans struct{ Version string }
		if err := json.Unmarshal(b, &ans); err != nil {
			t.Fatalf("answer %s: %v", b, err)
		}
		return ans.Version
	}
	// The router's endpoints change only through the watch's updates, so
	// eventually checks again after each one (changed is closed, and
	// replaced, at every update).
	var mu sync.Mutex
	changed := make(chan struct{})
	update := func(class, version string, addrs []string) error {
		err := r.SetEndpoints(class, version, addrs)
		mu.Lock()
		close(changed)
		changed = make(chan struct{})
		mu.Unlock()
		return err
	}
	// eventually waits until every one of 8 requests in a row is answered by
	// want (the watch is asynchronous; once the set changed it stays).
	eventually := func(want string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			mu.Lock()
			next := changed
			mu.Unlock()
			got := ""
			ok := true
			for range 8 {
				if got = answeredBy(); got != want {
					ok = false
					break
				}
			}
			if ok {
				return
			}
			select {
			case <-next:
			case <-deadline:
				t.Fatalf("answered by %q, want %q", got, want)
			}
		}
	}

	src := &Source{Client: env.Client, Targets: []Target{{Class: "a", Version: "v1", Namespace: ns, Service: "reader-a", Port: "http"}}}
	stop := run(t, src, update)
	a.create(slice(ns, "reader-a-1", "reader-a", []bool{true, false}, "10.1.0.1", "10.1.0.2"))
	eventually("first")
	a.setReady(ns, "reader-a-1", "10.1.0.1", false)
	a.setReady(ns, "reader-a-1", "10.1.0.2", true)
	eventually("second")
	a.delete(ns, "reader-a-1")
	eventually(fmt.Sprintf("status %d", http.StatusServiceUnavailable))
	stop()
}

func readerEmulator(t *testing.T, version string) string {
	t.Helper()
	e, err := emulator.New(emulator.Options{Class: "a", Version: version, ServiceMean: time.Millisecond, ServiceP95: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}
