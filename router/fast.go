package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
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

// Serving engines (server.engine).
const (
	EngineNetHTTP  = "nethttp"
	EngineFastHTTP = "fasthttp"
)

// The fasthttp engine serves the same router with github.com/valyala/fasthttp
// on both hops instead of net/http: the same authentication, classification,
// limits, fair queue, balancing, retries, metrics, logs and spans (admit,
// forward, finish and the serve lifecycle run are shared; fastHop and
// fastServer are its side of them), at well under half the CPU per request
// (see docs/router.md, "Performance"). What it gives up: responses are
// buffered whole (no streaming of server-sent events), and a client that
// goes away is noticed only where forward asks (after a failed attempt,
// before the first attempt of a queued request), not while it waits in the
// queue or for the reader (the deadline still bounds that).

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

// fastClients holds one fasthttp.HostClient per endpoint address.
type fastClients struct {
	mu sync.Mutex
	m  map[string]*fasthttp.HostClient
}

func (f *fastClients) get(addr string) *fasthttp.HostClient {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]*fasthttp.HostClient{}
	}
	c := f.m[addr]
	if c == nil {
		c = &fasthttp.HostClient{Addr: addr, MaxConns: 4096, MaxIdleConnDuration: 30 * time.Second,
			NoDefaultUserAgentHeader: true, DisablePathNormalizing: true}
		f.m[addr] = c
	}
	return c
}

// fastServer is the fasthttp engine's server.
func (r *Router) fastServer() server {
	s := r.cfg.Server
	var metrics fasthttp.RequestHandler
	if r.gatherer != nil {
		metrics = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(r.gatherer, promhttp.HandlerOpts{}))
	}
	srv := &fasthttp.Server{
		Handler:               func(fc *fasthttp.RequestCtx) { r.fastHandler(fc, metrics) },
		ReadTimeout:           s.ReadTimeout.D(),
		WriteTimeout:          s.WriteTimeout.D(),
		IdleTimeout:           s.IdleTimeout.D(),
		MaxRequestBodySize:    int(s.MaxBodyBytes),
		ReadBufferSize:        s.MaxHeaderBytes,
		NoDefaultServerHeader: true,
		CloseOnShutdown:       true,
		Logger:                zap.NewStdLog(r.log.Named("http")),
		ErrorHandler: func(fc *fasthttp.RequestCtx, err error) {
			re := &RequestError{Status: http.StatusBadRequest, Code: "bad_request", Message: "the request could not be parsed"}
			if errors.Is(err, fasthttp.ErrBodyTooLarge) {
				re = errTooLarge
			}
			writeFastError(fc, re)
		},
	}
	return server{serve: srv.Serve, shutdown: srv.ShutdownWithContext}
}

func (r *Router) fastHandler(fc *fasthttp.RequestCtx, metrics fasthttp.RequestHandler) {
	switch string(fc.Path()) {
	case "/healthz":
		fc.SetContentType("text/plain; charset=utf-8")
		fc.SetBodyString("ok\n")
		return
	case "/readyz":
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
		return
	case "/metrics":
		if metrics != nil {
			metrics(fc)
			return
		}
	}
	x := &exchange{start: r.now(), class: LabelNone, tenant: LabelNone}
	ctx, span := r.tracer.Start(r.propagator.Extract(context.Background(), fastCarrier{&fc.Request.Header}),
		"router", trace.WithSpanKind(trace.SpanKindServer))
	defer func() {
		r.finish(x, string(fc.Method()), func() string { return string(fc.Request.URI().PathOriginal()) },
			func() string { return fc.RemoteAddr().String() }, span)
		span.End()
	}()
	if err := r.serveFastRequest(ctx, fc, x); err != nil {
		re := AsRequestError(err)
		if re == nil {
			re = &RequestError{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
		}
		x.status, x.errCode = re.Status, re.Code
		writeFastError(fc, re)
	}
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

// fastHeaders copies the named request headers into an http.Header for the
// shared authentication and classification code.
func fastHeaders(h *fasthttp.RequestHeader, names []string) http.Header {
	out := make(http.Header, len(names))
	for _, n := range names {
		for _, v := range h.PeekAll(n) {
			out.Add(n, string(v))
		}
	}
	return out
}

func (r *Router) serveFastRequest(ctx context.Context, fc *fasthttp.RequestCtx, x *exchange) error {
	hdr := fastHeaders(&fc.Request.Header, r.headerNames)
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
	defer a.release()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	h := &fastHop{r: r, fc: fc, out: r.fastOutRequest(a.ctx, fc, path, a.cs, a.vs, tenant), resp: resp}
	h.deadline, _ = a.ctx.Deadline()
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
	h.Del("Traceparent")
	h.Del("Tracestate")
	r.propagator.Inject(ctx, fastCarrier{h})
	// Only the normalised path and the query of the client's target: the
	// endpoint is ours.
	if q := out.URI().QueryString(); len(q) > 0 {
		path += "?" + string(q)
	}
	out.SetRequestURI(path)
	return out
}

var _ propagation.TextMapCarrier = fastCarrier{}

// fastHop is the fasthttp engine's hop (see forward): one fasthttp
// request to the reader, reused for every attempt, and a whole buffered
// response.
type fastHop struct {
	r        *Router
	fc       *fasthttp.RequestCtx
	out      *fasthttp.Request
	resp     *fasthttp.Response
	deadline time.Time
}

func (h *fastHop) send(_ context.Context, ep *Endpoint) (int, error) {
	h.out.SetHost(ep.Addr)
	h.out.Header.SetHost(ep.Addr)
	h.resp.Reset()
	err := h.r.fast.get(ep.Addr).DoDeadline(h.out, h.resp, h.deadline)
	if errors.Is(err, fasthttp.ErrTimeout) {
		return 0, context.DeadlineExceeded
	}
	if err != nil {
		return 0, err
	}
	return h.resp.StatusCode(), nil
}

// discard: the next send resets the response.
func (h *fastHop) discard() {}

func (h *fastHop) answer() int64 {
	h.resp.CopyTo(&h.fc.Response)
	rh := &h.fc.Response.Header
	for _, v := range rh.PeekAll("Connection") {
		for _, f := range bytes.Split(v, []byte(",")) {
			if f = bytes.TrimSpace(f); len(f) > 0 {
				rh.DelBytes(f)
			}
		}
	}
	for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Trailer", "Upgrade"} {
		rh.Del(k)
	}
	return int64(len(h.fc.Response.Body()))
}

// clientGone: fasthttp does not read the connection while the handler
// runs, so the router asks the socket.
func (h *fastHop) clientGone() bool { return peerClosed(h.fc.Conn()) }
