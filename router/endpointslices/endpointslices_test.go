package endpointslices

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func ptr[T any](v T) *T { return &v }

func slice(name, svc string, ready []bool, ips ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "ml", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr("metrics"), Port: ptr(int32(9400))},
			{Name: ptr("http"), Port: ptr(int32(8000))},
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
	terminating := slice("c", "s", nil, "10.0.0.9")
	terminating.Endpoints[0].Conditions.Terminating = ptr(true)
	fqdn := slice("d", "s", nil, "reader.example")
	fqdn.AddressType = discoveryv1.AddressTypeFQDN
	tests := []struct {
		name   string
		slices []*discoveryv1.EndpointSlice
		port   string
		want   []string
	}{
		{"named port, not-ready skipped, nil ready counts",
			[]*discoveryv1.EndpointSlice{slice("a", "s", []bool{true, false}, "10.0.0.2", "10.0.0.3", "10.0.0.1")},
			"http", []string{"10.0.0.1:8000", "10.0.0.2:8000"}},
		{"first port when unnamed", []*discoveryv1.EndpointSlice{slice("a", "s", nil, "10.0.0.1")}, "", []string{"10.0.0.1:9400"}},
		{"unknown port name", []*discoveryv1.EndpointSlice{slice("a", "s", nil, "10.0.0.1")}, "grpc", nil},
		{"duplicates across slices", []*discoveryv1.EndpointSlice{slice("a", "s", nil, "10.0.0.1"), slice("b", "s", nil, "10.0.0.1")},
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
	mu  sync.Mutex
	got map[string][]string
}

func (r *recorder) update(class, version string, addrs []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if class == "bad" {
		return fmt.Errorf("unknown class")
	}
	r.got[class+"/"+version] = addrs
	return nil
}

func (r *recorder) wait(t *testing.T, key string, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got, ok := r.got[key]
		r.mu.Unlock()
		if ok && slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %v, want %v", key, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSourceFollowsSlices runs the real informer over client-go's fake
// clientset: initial state, a pod turning unready, a new slice, a deletion.
func TestSourceFollowsSlices(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset(
		slice("reader-a-1", "reader-a", []bool{true, true}, "10.0.0.1", "10.0.0.2"),
		slice("reader-b-1", "reader-b", nil, "10.0.1.1"),
		slice("other-1", "other", nil, "10.9.9.9"),
	)
	rec := &recorder{got: map[string][]string{}}
	src := &Source{Client: client, Targets: []Target{
		{Class: "a", Version: "v1", Namespace: "ml", Service: "reader-a", Port: "http"},
		{Class: "b", Version: "v1", Namespace: "ml", Service: "reader-b", Port: "http"},
		{Class: "bad", Version: "v1", Namespace: "ml", Service: "other", Port: "http"},
	}}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, rec.update) }()
	rec.wait(t, "a/v1", []string{"10.0.0.1:8000", "10.0.0.2:8000"})
	rec.wait(t, "b/v1", []string{"10.0.1.1:8000"})

	es := client.DiscoveryV1().EndpointSlices("ml")
	s := slice("reader-a-1", "reader-a", []bool{true, false}, "10.0.0.1", "10.0.0.2")
	if _, err := es.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "a/v1", []string{"10.0.0.1:8000"})
	if _, err := es.Create(ctx, slice("reader-a-2", "reader-a", nil, "10.0.0.7"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "a/v1", []string{"10.0.0.1:8000", "10.0.0.7:8000"})
	if err := es.Delete(ctx, "reader-b-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "b/v1", nil)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestSourceRejectsIncompleteTarget(t *testing.T) {
	src := &Source{Client: fake.NewClientset(), Targets: []Target{{Class: "a", Version: "v1", Service: "s"}}}
	if err := src.Run(context.Background(), func(string, string, []string) error { return nil }); err == nil {
		t.Fatal("a target without a namespace was accepted")
	}
}
