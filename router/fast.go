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
// limits, fair queue, balancing, retries, metrics, logs and spans (admit and
// finish are shared), at well under half the CPU per request (see
// docs/router.md, "Performance"). What it gives up: responses are buffered
// whole (no streaming of server-sent events), and a client that goes away
// does not cancel its request to the reader (the deadline still bounds it).

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
	body := fc.PostBody()
	parts := RequestParts{Path: string(fc.Request.URI().PathOriginal()), Header: hdr, Body: body}
	if r.classifier.NeedsQuery() {
		parts.Query, _ = url.ParseQuery(string(fc.URI().QueryString()))
	}
	a, err := r.admit(ctx, tenant, parts, x)
	if err != nil {
		return err
	}
	defer a.done()
	return r.forwardFast(a.ctx, fc, a.cs, a.vs, tenant, x)
}

// fastOutRequest turns the client's request, in place (it is not needed
// after classification), into the request to the reader: less hop-by-hop
// headers, the key and client-sent X-Headroom-*, plus ours.
func (r *Router) fastOutRequest(ctx context.Context, fc *fasthttp.RequestCtx, cs *classState, vs *versionState, t *Tenant) *fasthttp.Request {
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
	// Only the path and query of the client's target: the endpoint is ours.
	out.SetRequestURI(string(out.URI().RequestURI()))
	return out
}

var _ propagation.TextMapCarrier = fastCarrier{}

func (r *Router) forwardFast(ctx context.Context, fc *fasthttp.RequestCtx, cs *classState, vs *versionState, t *Tenant, x *exchange) error {
	out := r.fastOutRequest(ctx, fc, cs, vs, t)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	deadline, _ := ctx.Deadline()
	r.budget.Deposit(r.now())
	var last *Endpoint
	for {
		ep := vs.pool.Pick(r.now(), last)
		if ep == nil {
			return r.noEndpoint(cs, vs)
		}
		x.attempts++
		x.endpoint = ep.Addr
		out.SetHost(ep.Addr)
		out.Header.SetHost(ep.Addr)
		resp.Reset()
		ep.outstanding.Add(1)
		err := r.fast.get(ep.Addr).DoDeadline(out, resp, deadline)
		ep.outstanding.Add(-1)
		timeout := errors.Is(err, fasthttp.ErrTimeout) || ctx.Err() != nil
		failed := err != nil || resp.StatusCode() >= 500
		if vs.pool.Report(ep, r.now(), failed) {
			vs.ejects.Inc()
			r.log.Warn("endpoint ejected", zap.String("class", cs.name), zap.String("version", vs.name),
				zap.String("endpoint", ep.Addr))
		}
		retryable := err != nil && !timeout || err == nil && r.retryOn[resp.StatusCode()]
		if retryable && x.attempts < r.cfg.Retry.MaxAttempts && r.timeLeft(ctx) && r.budget.Withdraw(r.now()) {
			cs.retries.Inc()
			last = ep
			continue
		}
		if err != nil {
			if timeout {
				return &RequestError{Status: http.StatusGatewayTimeout, Code: "timeout",
					Message: "the model server did not answer within the deadline"}
			}
			return &RequestError{Status: http.StatusBadGateway, Code: "upstream_error",
				Message: "the model server could not be reached"}
		}
		x.status = resp.StatusCode()
		resp.CopyTo(&fc.Response)
		rh := &fc.Response.Header
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
		x.bytes = int64(len(fc.Response.Body()))
		return nil
	}
}
