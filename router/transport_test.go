package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func newReq(t *testing.T, ctx context.Context, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestPoolTransportReusesConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "echo:%s", b)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tr := NewPoolTransport()
	defer tr.CloseIdleConnections()
	for i := range 50 {
		resp, err := tr.RoundTrip(newReq(t, context.Background(), srv.URL+"/x", fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != fmt.Sprintf("echo:%d", i) {
			t.Fatalf("got %q", b)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 50 sequential requests, want 1", n)
	}
}

// TestPoolTransportReplaysOnStaleConnection: the server closes an idle
// connection; the next request on it is sent again on a new connection.
func TestPoolTransportReplaysOnStaleConnection(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tr := NewPoolTransport()
	do := func(body string) string {
		resp, err := tr.RoundTrip(newReq(t, context.Background(), srv.URL, body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	do("first")
	// The idle pooled connection dies: CloseClientConnections returns once
	// the server has closed it. Whether the close has reached our end yet
	// or not, the reused connection fails before any response byte (a
	// write into a closed socket, or EOF or a reset on reading), which is
	// what the replay is for.
	srv.CloseClientConnections()
	tr.mu.Lock()
	idle := len(tr.idle[strings.TrimPrefix(srv.URL, "http://")])
	tr.mu.Unlock()
	if idle != 1 {
		t.Fatalf("%d idle connections after the first request, want 1 (the one to go stale)", idle)
	}
	req := newReq(t, context.Background(), srv.URL, "second")
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("second")), nil }
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("a stale idle connection was not replaced: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "second" {
		t.Fatalf("got %q", b)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2: the stale one, then the replay's", n)
	}
}

func TestPoolTransportEarlyCloseAndCancel(t *testing.T) {
	streamEnded, stop := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		// A stream that ends only when the client goes away: a Close
		// that drained it would never return.
		defer close(streamEnded)
		for r.Context().Err() == nil {
			select {
			case <-stop: // the test failed: let srv.Close return
				return
			default:
			}
			if _, err := w.Write([]byte(strings.Repeat("x", 1024))); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	defer close(stop)
	tr := NewPoolTransport()
	resp, err := tr.RoundTrip(newReq(t, context.Background(), srv.URL+"/stream", ""))
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		resp.Body.Close() // early: must not drain the stream
		close(closed)
	}()
	recv(t, closed, "the early close returning (it drains the endless stream)")
	recv(t, streamEnded, "the server seeing the connection closed")
	tr.mu.Lock()
	n := len(tr.idle[strings.TrimPrefix(srv.URL, "http://")])
	tr.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d idle connections after an early close, want 0", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = tr.RoundTrip(newReq(t, ctx, srv.URL+"/slow", ""))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the deadline", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("deadline honoured after %v", d)
	}
}
