package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
)

// The router serves HTTP/1.1 with github.com/valyala/fasthttp (the server)
// and its own keep-alive client (upstream, over fasthttp's parser): no
// goroutine hand-offs and few allocations per request (still about twice
// nginx's CPU per proxied request: docs/router.md, Performance).
// The handler below authenticates, normalises the path, classifies, admits
// and forwards; responses up to upstream.bufferLimit with a known length
// are buffered, the rest (server-sent events included) stream, and the
// request's bookkeeping ends when the stream does (exchange.end). A client
// that goes away is noticed by a poll of its socket every hangupPoll while
// its request is in the router, and cancels the queue wait or the attempt.

// fastCarrier adapts a fasthttp request header to W3C trace propagation.
type fastCarrier struct{ h *fasthttp.RequestHeader }

func (c fastCarrier) Get(k string) string { return string(c.h.Peek(k)) }
func (c fastCarrier) Set(k, v string)     { c.h.Set(k, v) }
func (c fastCarrier) Keys() []string {
	var ks []string
	for k := range c.h.All() {
		ks = append(ks, string(k))
	}
	return ks
}

// fastServer is the router's HTTP server.
func (r *Router) fastServer() server {
	s := r.cfg.Server
	var metrics fasthttp.RequestHandler
	if r.gatherer != nil && r.cfg.MetricsListen == "" {
		metrics = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(r.gatherer, promhttp.HandlerOpts{}))
	}
	srv := &fasthttp.Server{
		Handler: func(fc *fasthttp.RequestCtx) { r.fastHandler(fc, metrics) },
		// ReadTimeout bounds the request head; HeaderReceived gives the
		// body the rest of readTimeout.
		ReadTimeout:           s.ReadHeaderTimeout.D(),
		WriteTimeout:          s.WriteTimeout.D(),
		IdleTimeout:           s.IdleTimeout.D(),
		MaxRequestBodySize:    int(s.MaxBodyBytes),
		ReadBufferSize:        s.MaxHeaderBytes,
		NoDefaultServerHeader: true,
		CloseOnShutdown:       true,
		Logger:                zap.NewStdLog(r.log.Named("http")),
		HeaderReceived: func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{ReadTimeout: s.ReadTimeout.D()}
		},
		ErrorHandler: func(fc *fasthttp.RequestCtx, err error) {
			if nothingRead(err) {
				// A new connection that sent nothing before the head's
				// deadline: closed unanswered, as net/http does. fasthttp
				// writes whatever this leaves, so the connection goes first.
				_ = fc.Conn().Close()
				return
			}
			re := &RequestError{Status: http.StatusBadRequest, Code: "bad_request", Message: "the request could not be parsed"}
			if errors.Is(err, fasthttp.ErrBodyTooLarge) {
				re = errTooLarge
			}
			writeFastError(fc, re)
		},
	}
	return server{serve: srv.Serve, shutdown: srv.ShutdownWithContext}
}

// nothingRead reports whether fasthttp gave up on a new connection before
// its first byte: it then passes the read's own timeout, unwrapped, where
// a partly read head comes wrapped ("error when reading request headers").
func nothingRead(err error) bool {
	op, ok := err.(*net.OpError)
	return ok && op.Timeout()
}

func (r *Router) fastHandler(fc *fasthttp.RequestCtx, metrics fasthttp.RequestHandler) {
	switch string(fc.Path()) {
	case "/healthz":
		fc.SetContentType("text/plain; charset=utf-8")
		fc.SetBodyString("ok\n")
		return
	case "/readyz":
		r.readyz(fc)
		return
	case "/metrics":
		if metrics != nil {
			metrics(fc)
			return
		}
	}
	if fc.Request.Header.ConnectionClose() && conflictingFraming(fc.Request.Header.RawHeaders()) {
		// fasthttp reads such a body as chunked and only marks the
		// connection to close after the answer; refuse it instead (RFC 9112
		// section 6.3), so nothing a front proxy framed otherwise is served.
		writeFastError(fc, errFraming)
		fc.SetConnectionClose()
		return
	}
	x := &exchange{start: r.now(), class: LabelNone, tenant: LabelNone, method: string(fc.Method()), fc: fc}
	ctx := context.Background()
	if r.tracing {
		ctx, x.span = r.tracer.Start(r.propagator.Extract(ctx, fastCarrier{&fc.Request.Header}),
			"router", trace.WithSpanKind(trace.SpanKindServer))
	} else {
		x.span = trace.SpanFromContext(ctx) // a no-op span, no allocation
	}
	x.watchClient(fc.Conn())
	if err := r.serveFastRequest(ctx, fc, x); err != nil {
		re := AsRequestError(err)
		if re == nil {
			re = &RequestError{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
		}
		x.status, x.errCode = re.Status, re.Code
		writeFastError(fc, re)
	}
	if x.stream == nil {
		r.end(x)
	}
	// else the stream ends the exchange when the server has written it.
}

func (r *Router) readyz(fc *fasthttp.RequestCtx) {
	fc.SetContentType("text/plain; charset=utf-8")
	if ok, missing := r.Ready(); !ok {
		fc.SetStatusCode(http.StatusServiceUnavailable)
		if r.draining.Load() {
			fc.SetBodyString("draining\n")
		} else {
			fc.SetBodyString("no ready endpoints for: " + strings.Join(missing, ", ") + "\n")
		}
		return
	}
	fc.SetBodyString("ok\n")
}

// hangupPoll is how often the socket of a client whose request is still in
// the router is asked whether the client has gone. Requests shorter than
// this are never polled.
const hangupPoll = 50 * time.Millisecond

// watchClient polls c every hangupPoll until the exchange ends; when the
// client has closed its connection it cancels the request's context and
// fires its interrupt. The timer and the end of the exchange meet under the interrupt's lock,
// so a poll running as the exchange ends cannot re-arm the timer.
func (x *exchange) watchClient(c net.Conn) {
	x.intr.mu.Lock()
	defer x.intr.mu.Unlock()
	x.watch = time.AfterFunc(hangupPoll, func() { x.pollClient(c) })
}

func (x *exchange) pollClient(c net.Conn) {
	gone := peerClosed(c)
	x.intr.mu.Lock()
	defer x.intr.mu.Unlock()
	switch {
	case x.ended:
	case !gone:
		x.watch.Reset(hangupPoll)
	default:
		x.gone.Store(true)
		if x.cancel != nil {
			x.cancel() // the queue wait
		}
		x.intr.fireLocked() // the attempt, or the answer's stream
	}
}

// setCancel gives the watcher the request's context to cancel (admit makes
// it); a client already found gone cancels it at once.
func (x *exchange) setCancel(cancel context.CancelFunc) {
	x.intr.mu.Lock()
	x.cancel = cancel
	gone := x.gone.Load()
	x.intr.mu.Unlock()
	if gone {
		cancel()
	}
}

// end finishes an exchange: gives back the endpoint and admission slots,
// records metrics, span and access log. It runs once, when the handler
// returns or, for a streamed answer, when the stream is done.
func (r *Router) end(x *exchange) {
	x.intr.mu.Lock()
	x.ended = true
	x.intr.mu.Unlock()
	x.watch.Stop()
	if x.ep != nil {
		x.ep.outstanding.Add(-1)
	}
	if x.adm != nil {
		x.adm.release()
	}
	if x.upResp != nil {
		fasthttp.ReleaseResponse(x.upResp)
	}
	r.finish(x, x.method, func() string { return string(x.fc.Request.URI().PathOriginal()) },
		func() string { return x.fc.RemoteAddr().String() }, x.span)
	x.span.End()
}

func writeFastError(fc *fasthttp.RequestCtx, e *RequestError) {
	fc.Response.Reset()
	fc.Response.Header.Set("Content-Type", "application/json")
	fc.Response.Header.Set("X-Content-Type-Options", "nosniff")
	if e.RetryAfter > 0 {
		fc.Response.Header.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	var b errorBody
	b.Error.Code, b.Error.Message = e.Code, e.Message
	body, _ := json.Marshal(b)
	fc.SetStatusCode(e.Status)
	fc.SetBody(append(body, '\n'))
}

// fastHeaders is a HeaderValues over a fasthttp request header: a value is
// copied out only when authentication or classification asks for it.
type fastHeaders struct{ h *fasthttp.RequestHeader }

func (f fastHeaders) Values(name string) []string {
	var out []string
	for _, v := range f.h.PeekAll(name) {
		out = append(out, string(v))
	}
	return out
}

func (r *Router) serveFastRequest(ctx context.Context, fc *fasthttp.RequestCtx, x *exchange) error {
	hdr := fastHeaders{&fc.Request.Header}
	tenant, err := r.tenants.Authenticate(hdr)
	if err != nil {
		return err
	}
	x.tenant = tenant.Name
	path, err := NormalizePath(string(fc.Request.URI().PathOriginal()))
	if err != nil {
		return err
	}
	x.path = path
	body := fc.PostBody()
	parts := RequestParts{Path: path, Header: hdr, Body: body}
	if r.classifier.NeedsQuery() {
		parts.Query, _ = url.ParseQuery(string(fc.URI().QueryString()))
	}
	a, err := r.admit(ctx, tenant, parts, x)
	if err != nil {
		return err
	}
	x.adm = &a
	x.upResp = fasthttp.AcquireResponse()
	h := &fastHop{r: r, fc: fc, x: x, out: r.fastOutRequest(a.ctx, fc, path, a.cs, a.vs, tenant), resp: x.upResp}
	return r.forward(a.ctx, h, a, x)
}

// fastOutRequest turns the client's request, in place (it is not needed
// after classification), into the request to the reader: less hop-by-hop
// headers, the key and client-sent X-Headroom-*, plus ours.
func (r *Router) fastOutRequest(ctx context.Context, fc *fasthttp.RequestCtx, path string, cs *classState, vs *versionState, t *Tenant) *fasthttp.Request {
	out := &fc.Request
	h := &out.Header
	for _, v := range h.PeekAll("Connection") {
		for _, f := range strings.Split(string(v), ",") {
			if f = strings.TrimSpace(f); f != "" {
				h.Del(f)
			}
		}
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
	h.Del(r.tenants.Header())
	h.Del("Expect")
	var drop []string
	for k := range h.All() {
		if len(k) > len("X-Headroom-") && strings.EqualFold(string(k[:len("X-Headroom-")]), "X-Headroom-") {
			drop = append(drop, string(k))
		}
	}
	for _, k := range drop {
		h.Del(k)
	}
	h.Set("X-Headroom-Tenant", t.Name)
	h.Set("X-Headroom-Class", cs.name)
	h.Set("X-Headroom-Version", vs.name)
	ip := fc.RemoteIP().String()
	if prior := h.PeekAll("X-Forwarded-For"); len(prior) > 0 {
		parts := make([]string, 0, len(prior)+1)
		for _, p := range prior {
			parts = append(parts, string(p))
		}
		ip = strings.Join(append(parts, ip), ", ")
	}
	h.Set("X-Forwarded-For", ip)
	if r.tracing { // else the client's traceparent, if any, passes as it came
		h.Del("Traceparent")
		h.Del("Tracestate")
		r.propagator.Inject(ctx, fastCarrier{h})
	}
	// Only the normalised path and the query of the client's target: the
	// endpoint is ours.
	if q := out.URI().QueryString(); len(q) > 0 {
		path += "?" + string(q)
	}
	out.SetRequestURI(path)
	out.URI().DisablePathNormalizing = true // NormalizePath's form, escapes as the client sent them
	return out
}

var _ propagation.TextMapCarrier = fastCarrier{}

// fastHop is the router's hop (see forward): one request to the reader,
// reused for every attempt, over the router's upstream client.
type fastHop struct {
	r    *Router
	fc   *fasthttp.RequestCtx
	x    *exchange
	out  *fasthttp.Request
	resp *fasthttp.Response
	body *upBody // the held response's stream, if it streams
}

func (h *fastHop) send(ctx context.Context, ep *Endpoint, attempt time.Duration) (int, error) {
	h.out.SetHost(ep.Addr)
	h.out.Header.SetHost(ep.Addr)
	var head time.Time
	if attempt > 0 {
		head = time.Now().Add(attempt)
	}
	body, err := h.r.upstream.do(ctx, ep.Addr, h.out, h.resp, head, &h.x.intr)
	if err != nil {
		return 0, err
	}
	h.body = body
	return h.resp.StatusCode(), nil
}

// discard drops a held stream; a buffered response is reset by the next send.
func (h *fastHop) discard() {
	if h.body != nil {
		h.body.Close()
		h.body = nil
	}
}

// answer passes the held response on: its head less hop-by-hop headers,
// and its body, buffered or as a stream that ends the exchange.
func (h *fastHop) answer() {
	out := &h.fc.Response
	h.resp.Header.CopyTo(&out.Header)
	rh := &out.Header
	for _, v := range rh.PeekAll("Connection") {
		for _, f := range bytes.Split(v, []byte(",")) {
			if f = bytes.TrimSpace(f); len(f) > 0 {
				rh.DelBytes(f)
			}
		}
	}
	for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Trailer", "Upgrade", "Transfer-Encoding"} {
		rh.Del(k)
	}
	if h.body == nil {
		out.SetBody(h.resp.Body())
		h.x.bytes = int64(len(h.resp.Body()))
		return
	}
	s := &answerStream{r: h.r, x: h.x, body: h.body}
	h.x.stream = s
	h.body = nil
	out.SetBodyStream(s, h.resp.Header.ContentLength())
}

// clientGone: the watcher saw the client's socket closed, or a look now
// does.
func (h *fastHop) clientGone() bool { return h.x.gone.Load() || peerClosed(h.fc.Conn()) }

// answerStream is a streamed answer as the server writes it to the
// client; the server closes it when done (or when the client is gone),
// and that ends the exchange.
type answerStream struct {
	r    *Router
	x    *exchange
	body *upBody
	once sync.Once
}

func (s *answerStream) Read(p []byte) (int, error) { return s.body.Read(p) }

func (s *answerStream) Close() error {
	s.once.Do(func() {
		s.body.Close()
		s.x.bytes = s.body.n
		s.r.end(s.x)
	})
	return nil
}

// errFraming refuses a request that carries both Content-Length and
// Transfer-Encoding: two framings, which a front proxy and the router may
// read differently (request smuggling).
var errFraming = &RequestError{Status: http.StatusBadRequest, Code: "conflicting_framing",
	Message: "the request has both Content-Length and Transfer-Encoding"}

// conflictingFraming reports whether a raw header block names both
// Content-Length and Transfer-Encoding. fasthttp marks such a request's
// connection to close, so the router looks only when that mark is set.
func conflictingFraming(raw []byte) bool {
	var cl, te bool
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		cl = cl || bytes.EqualFold(name, []byte("Content-Length"))
		te = te || bytes.EqualFold(name, []byte("Transfer-Encoding"))
	}
	return cl && te
}
