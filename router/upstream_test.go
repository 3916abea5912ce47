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

	"github.com/valyala/fasthttp"
)

// countConns starts h on loopback and counts the connections it accepts.
func countConns(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func upReq(srv *httptest.Server, path, body string) *fasthttp.Request {
	req := &fasthttp.Request{}
	req.Header.SetMethod("POST")
	req.SetRequestURI(path)
	req.Header.SetHost(strings.TrimPrefix(srv.URL, "http://"))
	req.SetBodyString(body)
	return req
}

func (u *upstream) idleCount(srv *httptest.Server) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.idle[strings.TrimPrefix(srv.URL, "http://")])
}

func TestUpstreamReusesConnections(t *testing.T) {
	srv, conns := countConns(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "echo:%s", b)
	})
	u := newUpstream()
	defer u.closeIdle()
	var resp fasthttp.Response
	for i := range 50 {
		body, err := u.do(context.Background(), strings.TrimPrefix(srv.URL, "http://"), upReq(srv, "/x", fmt.Sprint(i)), &resp, time.Time{}, nil)
		if err != nil || body != nil {
			t.Fatalf("%v, stream %v: want a buffered answer", err, body)
		}
		if string(resp.Body()) != fmt.Sprintf("echo:%d", i) {
			t.Fatalf("got %q", resp.Body())
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 50 sequential requests, want 1", n)
	}
}

// TestUpstreamReplaysOnStaleConnection: the server closes an idle
// connection; the next request on it is sent again on a new connection.
func TestUpstreamReplaysOnStaleConnection(t *testing.T) {
	srv, conns := countConns(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	})
	u := newUpstream()
	defer u.closeIdle()
	host := strings.TrimPrefix(srv.URL, "http://")
	var resp fasthttp.Response
	if _, err := u.do(context.Background(), host, upReq(srv, "/", "first"), &resp, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	// The idle pooled connection dies: CloseClientConnections returns once
	// the server has closed it. Whether the close has reached our end yet
	// or not, the reused connection fails before any response byte, which
	// is what the replay is for.
	srv.CloseClientConnections()
	if n := u.idleCount(srv); n != 1 {
		t.Fatalf("%d idle connections after the first request, want 1 (the one to go stale)", n)
	}
	if _, err := u.do(context.Background(), host, upReq(srv, "/", "second"), &resp, time.Time{}, nil); err != nil {
		t.Fatalf("a stale idle connection was not replaced: %v", err)
	}
	if string(resp.Body()) != "second" {
		t.Fatalf("got %q", resp.Body())
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2: the stale one, then the replay's", n)
	}
}

// TestUpstreamStreamsEarlyCloseAndDeadlines: an unknown-length body
// streams, and closing it early neither drains it nor pools its
// connection; the attempt's head deadline gives errAttemptTimeout, the
// request's gives context.DeadlineExceeded, an interrupt (with the context
// cancelled) context.Canceled, and each stops the wait.
func TestUpstreamStreamsEarlyCloseAndDeadlines(t *testing.T) {
	streamEnded, stop := make(chan struct{}), make(chan struct{})
	slowArrived := make(chan struct{}, 8)
	srv, _ := countConns(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			slowArrived <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-stop:
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
	})
	defer close(stop)
	u := newUpstream()
	defer u.closeIdle()
	host := strings.TrimPrefix(srv.URL, "http://")
	var resp fasthttp.Response
	body, err := u.do(context.Background(), host, upReq(srv, "/stream", ""), &resp, time.Time{}, nil)
	if err != nil || body == nil {
		t.Fatalf("%v, stream %v: want a stream", err, body)
	}
	if n, err := io.ReadFull(body, make([]byte, 4096)); err != nil || n != 4096 {
		t.Fatalf("read %d of the stream: %v", n, err)
	}
	closed := make(chan struct{})
	go func() {
		body.Close() // early: must not drain the stream
		close(closed)
	}()
	recv(t, closed, "the early close returning (it drains the endless stream)")
	recv(t, streamEnded, "the server seeing the connection closed")
	if n := u.idleCount(srv); n != 0 {
		t.Fatalf("%d idle connections after an early close, want 0", n)
	}

	start := time.Now()
	_, err = u.do(context.Background(), host, upReq(srv, "/slow", ""), &resp, time.Now().Add(100*time.Millisecond), nil)
	if !errors.Is(err, errAttemptTimeout) {
		t.Fatalf("head deadline: got %v, want errAttemptTimeout", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = u.do(ctx, host, upReq(srv, "/slow", ""), &resp, time.Now().Add(time.Hour), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request deadline: got %v, want context.DeadlineExceeded", err)
	}
	recv(t, slowArrived, "the first slow request")
	recv(t, slowArrived, "the second slow request")
	ctx, cancel = context.WithCancel(context.Background())
	var intr interrupt
	go func() { <-slowArrived; cancel(); intr.fire() }() // once the reader has the request, as the client watcher does
	_, err = u.do(ctx, host, upReq(srv, "/slow", ""), &resp, time.Time{}, &intr)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("deadlines honoured after %v", d)
	}
}
