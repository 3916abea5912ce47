package router

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"
)

// PoolTransport is an HTTP/1.1 keep-alive RoundTripper for the router's
// hop to the readers. Unlike net/http.Transport it runs each exchange in the
// caller's goroutine: the request is written and the response read on the
// handler's own goroutine, with no read and write loop goroutines per
// connection to hand off to. On loopback that hand-off is a large share of a
// proxied request's cost (see docs/router.md, "Performance").
//
// A connection goes back to the idle pool when its response body has been
// read to the end and neither side asked to close it; a body closed early,
// an error or a cancelled context closes the connection instead.
//
// A request that fails on a reused idle connection before any byte of the
// response arrived (the reader closed the idle connection as we reused it)
// is sent again once on a new connection; the reader cannot have processed
// it, so this is not counted as a retry.
type PoolTransport struct {
	// MaxIdlePerHost bounds the idle connections kept per endpoint (default 512).
	MaxIdlePerHost int
	// IdleTimeout drops idle connections older than this (default 30s),
	// shorter than common server idle timeouts.
	IdleTimeout time.Duration
	// DialTimeout bounds connecting (default 2s).
	DialTimeout time.Duration

	mu   sync.Mutex
	idle map[string][]*pconn
}

type pconn struct {
	t        *PoolTransport
	host     string
	c        net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	idleFrom time.Time
}

// NewPoolTransport returns a PoolTransport with the defaults.
func NewPoolTransport() *PoolTransport {
	return &PoolTransport{MaxIdlePerHost: 512, IdleTimeout: 30 * time.Second, DialTimeout: 2 * time.Second}
}

// CloseIdleConnections closes every idle connection.
func (t *PoolTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, l := range idle {
		for _, pc := range l {
			pc.c.Close()
		}
	}
}

func (t *PoolTransport) get(ctx context.Context, host string) (*pconn, bool, error) {
	now := time.Now()
	t.mu.Lock()
	for l := t.idle[host]; len(l) > 0; l = t.idle[host] {
		pc := l[len(l)-1]
		l[len(l)-1] = nil
		t.idle[host] = l[:len(l)-1]
		if now.Sub(pc.idleFrom) < t.IdleTimeout {
			t.mu.Unlock()
			return pc, true, nil
		}
		pc.c.Close()
	}
	t.mu.Unlock()
	d := net.Dialer{Timeout: t.DialTimeout, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, false, err
	}
	return &pconn{t: t, host: host, c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 16<<10)}, false, nil
}

func (t *PoolTransport) put(pc *pconn) {
	_ = pc.c.SetDeadline(time.Time{})
	pc.idleFrom = time.Now()
	t.mu.Lock()
	if t.idle == nil {
		t.idle = map[string][]*pconn{}
	}
	if len(t.idle[pc.host]) >= t.MaxIdlePerHost {
		t.mu.Unlock()
		pc.c.Close()
		return
	}
	t.idle[pc.host] = append(t.idle[pc.host], pc)
	t.mu.Unlock()
}

// RoundTrip sends req (an absolute http:// URL) and returns the response;
// the caller must read the body to the end or close it.
func (t *PoolTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return nil, errors.New("router transport: only http:// endpoints")
	}
	ctx := req.Context()
	host := req.URL.Host
	for attempt := 0; ; attempt++ {
		pc, reused, err := t.get(ctx, host)
		if err != nil {
			return nil, err
		}
		resp, gotBytes, err := pc.exchange(ctx, req)
		if err == nil {
			return resp, nil
		}
		pc.c.Close()
		if reused && !gotBytes && attempt == 0 && ctx.Err() == nil && staleConnErr(err) {
			if req.GetBody != nil {
				b, gerr := req.GetBody()
				if gerr != nil {
					return nil, err
				}
				req.Body = b
			}
			continue
		}
		return nil, err
	}
}

// staleConnErr reports errors of a connection the peer closed while idle.
func staleConnErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// exchange writes req and reads the response head on pc. gotBytes reports
// whether any byte of a response arrived (then the request must not be
// replayed on another connection).
func (pc *pconn) exchange(ctx context.Context, req *http.Request) (*http.Response, bool, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = pc.c.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = pc.c.SetDeadline(time.Unix(1, 0)) })
	if err := req.Write(pc.bw); err != nil {
		stop()
		return nil, false, err
	}
	if err := pc.bw.Flush(); err != nil {
		stop()
		return nil, false, err
	}
	if _, err := pc.br.Peek(1); err != nil {
		stop()
		return nil, false, ctxErr(ctx, err)
	}
	var resp *http.Response
	var err error
	for {
		resp, err = http.ReadResponse(pc.br, req)
		if err != nil {
			stop()
			return nil, true, ctxErr(ctx, err)
		}
		// Skip interim 1xx answers (100 Continue, 103 Early Hints).
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		break
	}
	reuse := !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols
	resp.Body = &pooledBody{rc: resp.Body, pc: pc, stop: stop, reuse: reuse, ctx: ctx}
	return resp, true, nil
}

// ctxErr returns the context's error for an I/O error the context caused:
// the connection's deadline is the context's, and it can fire a moment
// before the context marks itself done.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return context.DeadlineExceeded
		}
	}
	return err
}

// pooledBody returns its connection to the pool at EOF.
type pooledBody struct {
	rc    io.ReadCloser
	pc    *pconn
	stop  func() bool
	ctx   context.Context
	reuse bool
	done  bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
		err = ctxErr(b.ctx, err)
	}
	return n, err
}

func (b *pooledBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

func (b *pooledBody) finish(atEOF bool) {
	b.done = true
	fired := !b.stop()
	if atEOF && b.reuse && !fired {
		_ = b.rc.Close()
		b.pc.t.put(b.pc)
		return
	}
	// Close the connection first: closing an unfinished net/http body
	// drains it, which must fail at once rather than read a long stream.
	b.pc.c.Close()
	_ = b.rc.Close()
}
