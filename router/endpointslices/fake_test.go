package endpointslices

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// The tests in this file inject API errors, which a real API server does not
// give on demand; client-go's fake clientset runs behind the real informer.
// Everything else is tested against the real server (TestAPIServer).

var endpointSlicesResource = schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}

// failLists makes the first n lists of EndpointSlices fail with err. It
// returns the count of lists so far and a channel closed at the first.
func failLists(c *fake.Clientset, n int32, err error) (*atomic.Int32, <-chan struct{}) {
	var calls atomic.Int32
	listed := make(chan struct{})
	c.PrependReactor("list", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
		k := calls.Add(1)
		if k == 1 {
			close(listed)
		}
		if k <= n {
			return true, nil, err
		}
		return false, nil, nil
	})
	return &calls, listed
}

// TestSourceRetriesFailedList: the first list fails (an API server restart);
// the informer lists again and the source reports once it synced.
func TestSourceRetriesFailedList(t *testing.T) {
	client := fake.NewClientset(slice("ml", "reader-a-1", "reader-a", nil, "10.0.0.1"))
	calls, _ := failLists(client, 1, apierrors.NewInternalError(context.DeadlineExceeded))
	rec := newRecorder()
	src := &Source{Client: client, Targets: []Target{{Class: "a", Version: "v1", Namespace: "ml", Service: "reader-a", Port: "http"}}}
	run(t, src, rec.update)
	rec.wait(t, "a/v1", []string{"10.0.0.1:8000"})
	if n := calls.Load(); n < 2 {
		t.Fatalf("%d lists, want the failed one and a retry", n)
	}
}

// TestSourceForbiddenReportsNothing: without RBAC to list EndpointSlices the
// source never syncs, so it never reports (the router keeps its configured
// endpoints), and Run still returns nil when ctx ends.
func TestSourceForbiddenReportsNothing(t *testing.T) {
	client := fake.NewClientset(slice("ml", "reader-a-1", "reader-a", nil, "10.0.0.1"))
	_, listed := failLists(client, 1<<30, apierrors.NewForbidden(endpointSlicesResource, "", errors.New("no RBAC rule allows it")))
	rec := newRecorder()
	src := &Source{Client: client, Targets: []Target{{Class: "a", Version: "v1", Namespace: "ml", Service: "reader-a", Port: "http"}}}
	stop := run(t, src, rec.update)
	select {
	case <-listed:
	case <-time.After(10 * time.Second):
		t.Fatal("the informer never listed")
	}
	stop()
	if n := rec.count("a/v1"); n != 0 {
		t.Fatalf("reported %d times without a synced cache", n)
	}
}

func TestSourceRejectsIncompleteTarget(t *testing.T) {
	src := &Source{Targets: []Target{{Class: "a", Version: "v1", Service: "s"}}}
	if err := src.Run(context.Background(), func(string, string, []string) error { return nil }); err == nil {
		t.Fatal("a target without a namespace was accepted")
	}
}
