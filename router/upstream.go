package router

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// upstream is the router's HTTP/1.1 keep-alive client to the readers. It
// uses fasthttp's request writer and response parser, over connections it
// owns, and runs each exchange on the caller's goroutine (no hand-off to
// per-connection goroutines, which on loopback is a large share of a
// proxied request's cost). Owning the connection is what lets it bound the
// wait for the response head by the attempt's deadline and the body by the
// request's, and cut both off when the request's context ends (the client
// went away).
//
// A connection goes back to the idle pool when its response was read to
// the end and neither side asked to close it; an error, a cancelled
// context or a body closed early closes it instead. A request that fails on
// a reused idle connection before any byte of the response arrived (the
// reader closed the idle connection as we reused it) is sent once more on a
// new connection: the reader cannot have processed it, so this is not a
// retry.
type upstream struct {
	maxIdlePerHost int
	idleTimeout    time.Duration
	dial           func(ctx context.Context, network, addr string) (net.Conn, error)
	// bufferLimit: known-length bodies up to this size are read whole
	// with the head; longer or unknown-length ones stream.
	bufferLimit int

	mu   sync.Mutex
	idle map[string][]*upConn
}

func newUpstream() *upstream {
	d := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	return &upstream{maxIdlePerHost: 512, idleTimeout: 30 * time.Second, dial: d.DialContext, bufferLimit: 64 << 10}
}

type upConn struct {
	u        *upstream
	host     string
	c        net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	idleFrom time.Time
}

func (u *upstream) get(ctx context.Context, host string, now time.Time) (*upConn, bool, error) {
	u.mu.Lock()
	for l := u.idle[host]; len(l) > 0; l = u.idle[host] {
		pc := l[len(l)-1]
		l[len(l)-1] = nil
		u.idle[host] = l[:len(l)-1]
		if now.Sub(pc.idleFrom) < u.idleTimeout {
			u.mu.Unlock()
			return pc, true, nil
		}
		pc.c.Close()
	}
	u.mu.Unlock()
	c, err := u.dial(ctx, "tcp", host)
	if err != nil {
		return nil, false, err
	}
	return &upConn{u: u, host: host, c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 16<<10)}, false, nil
}

func (u *upstream) put(pc *upConn) {
	pc.idleFrom = time.Now()
	u.mu.Lock()
	if u.idle == nil {
		u.idle = map[string][]*upConn{}
	}
	if len(u.idle[pc.host]) >= u.maxIdlePerHost {
		u.mu.Unlock()
		pc.c.Close()
		return
	}
	u.idle[pc.host] = append(u.idle[pc.host], pc)
	u.mu.Unlock()
}

// closeIdle closes every idle connection.
func (u *upstream) closeIdle() {
	u.mu.Lock()
	idle := u.idle
	u.idle = nil
	u.mu.Unlock()
	for _, l := range idle {
		for _, pc := range l {
			pc.c.Close()
		}
	}
}

// errAttemptTimeout is an attempt that got no response head within its own
// deadline (before the request's): the endpoint is slow or hung, and
// another may answer.
var errAttemptTimeout = errors.New("no response head within the attempt timeout")

// interrupt lets another goroutine cut off the connection an exchange is
// using (the client watcher, when the client hangs up): fire moves the
// connection's deadline into the past, and an exchange that starts after
// fire fails at once. It costs a lock per exchange where a
// context.AfterFunc would cost three allocations. A nil *interrupt never
// fires.
type interrupt struct {
	mu    sync.Mutex
	c     net.Conn
	fired bool
}

func (i *interrupt) attach(c net.Conn) bool {
	if i == nil {
		return true
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.fired {
		return false
	}
	i.c = c
	return true
}

// detach ends the watch of the connection; false: it fired meanwhile.
func (i *interrupt) detach() bool {
	if i == nil {
		return true
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.c = nil
	return !i.fired
}

func (i *interrupt) fire() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.fireLocked()
}

func (i *interrupt) fireLocked() {
	i.fired = true
	if i.c != nil {
		_ = i.c.SetDeadline(time.Unix(1, 0))
	}
}

// do sends req to host and reads the response head into resp, the wait
// bounded by head (the attempt's deadline; zero: none), by ctx's deadline
// and by intr. A known-length body up to bufferLimit is read along; any
// other body is returned as a stream (nil when the body was read), which
// bounds its reads by ctx's deadline and must be read to the end or
// closed.
func (u *upstream) do(ctx context.Context, host string, req *fasthttp.Request, resp *fasthttp.Response, head time.Time, intr *interrupt) (*upBody, error) {
	for attempt := 0; ; attempt++ {
		pc, reused, err := u.get(ctx, host, time.Now())
		if err != nil {
			return nil, err
		}
		body, gotBytes, err := pc.exchange(ctx, req, resp, head, intr)
		if err == nil {
			return body, nil
		}
		pc.c.Close()
		if reused && !gotBytes && attempt == 0 && ctx.Err() == nil && staleConnErr(err) {
			continue
		}
		return nil, err
	}
}

// staleConnErr reports errors of a connection the peer closed while idle.
func staleConnErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, fasthttp.ErrConnectionClosed)
}

func (pc *upConn) exchange(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response, head time.Time, intr *interrupt) (*upBody, bool, error) {
	deadline, hasDeadline := ctx.Deadline()
	headDL := deadline
	if !head.IsZero() && (!hasDeadline || head.Before(deadline)) {
		headDL = head
	}
	_ = pc.c.SetDeadline(headDL)
	fail := func(gotBytes bool, err error) (*upBody, bool, error) {
		intr.detach()
		return nil, gotBytes, pc.timeoutErr(ctx, headDL, deadline, err)
	}
	if !intr.attach(pc.c) {
		return fail(false, context.Canceled)
	}
	if err := req.Write(pc.bw); err != nil {
		return fail(false, err)
	}
	if err := pc.bw.Flush(); err != nil {
		return fail(false, err)
	}
	if _, err := pc.br.Peek(1); err != nil {
		return fail(false, err)
	}
	resp.Reset()
	for n := 0; ; n++ {
		if err := resp.Header.Read(pc.br); err != nil {
			return fail(true, err)
		}
		// Skip interim 1xx answers (100 Continue, 103 Early Hints).
		if sc := resp.Header.StatusCode(); sc >= 200 || sc < 100 || sc == fasthttp.StatusSwitchingProtocols || n > 8 {
			break
		}
	}
	if !headDL.Equal(deadline) {
		_ = pc.c.SetDeadline(deadline) // the body has the request's deadline
	}
	reuse := !resp.Header.ConnectionClose() && !req.Header.ConnectionClose() &&
		resp.Header.StatusCode() != fasthttp.StatusSwitchingProtocols
	sc := resp.Header.StatusCode()
	if req.Header.IsHead() || sc == fasthttp.StatusNoContent || sc == fasthttp.StatusNotModified {
		resp.SkipBody = true
		pc.release(intr, reuse)
		return nil, true, nil
	}
	if cl := resp.Header.ContentLength(); cl >= 0 && cl <= pc.u.bufferLimit {
		if err := resp.ReadBody(pc.br, pc.u.bufferLimit); err != nil {
			return fail(true, err)
		}
		pc.release(intr, reuse)
		return nil, true, nil
	}
	resp.StreamBody = true
	if err := resp.ReadBody(pc.br, 0); err != nil {
		return fail(true, err)
	}
	return &upBody{r: resp.BodyStream(), resp: resp, pc: pc, intr: intr, reuse: reuse, ctx: ctx}, true, nil
}

// release ends an exchange whose body was read: the connection goes back
// to the pool unless it must close or was interrupted meanwhile. Its
// deadline stays: the next exchange sets its own before any I/O.
func (pc *upConn) release(intr *interrupt, reuse bool) {
	if !intr.detach() || !reuse {
		pc.c.Close()
		return
	}
	pc.u.put(pc)
}

// timeoutErr maps an I/O error that a deadline caused to the deadline's
// meaning: errAttemptTimeout for the attempt's own, context.DeadlineExceeded
// for the request's; the context's error when it ended.
func (pc *upConn) timeoutErr(ctx context.Context, headDL, deadline time.Time, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, fasthttp.ErrTimeout) {
		if !headDL.Equal(deadline) {
			return errAttemptTimeout
		}
		return context.DeadlineExceeded
	}
	return err
}

// upBody is a streamed response body: reads go to the reader's connection
// under the request's deadline; at the end the connection goes back to
// the pool, closed early it is closed.
type upBody struct {
	r     io.Reader
	resp  *fasthttp.Response
	pc    *upConn
	intr  *interrupt
	ctx   context.Context
	reuse bool
	done  bool
	n     int64
}

func (b *upBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
		if cerr := b.ctx.Err(); cerr != nil {
			err = cerr
		}
	}
	return n, err
}

// Close ends the body; a body not read to the end closes its connection.
func (b *upBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

func (b *upBody) finish(atEOF bool) {
	b.done = true
	if !atEOF {
		// Close the connection first, so closing the stream does not
		// drain a long body.
		b.pc.c.Close()
		b.intr.detach()
		_ = b.resp.CloseBodyStream()
		return
	}
	_ = b.resp.CloseBodyStream()
	b.pc.release(b.intr, b.reuse)
}
