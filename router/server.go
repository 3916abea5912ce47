package router

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Serve is ServeDrain with a drain delay that nothing cuts short.
func (r *Router) Serve(ctx context.Context, ln net.Listener) error {
	return r.ServeDrain(ctx, context.Background(), ln)
}

// ServeDrain serves the router on ln until ctx
// ends, then shuts down gracefully: /readyz turns 503 for DrainDelay while
// requests are still served (so endpoint removal can propagate without
// failing callers), then the listener closes and in-flight requests get
// up to ShutdownGrace to finish. The drain delay ends early when drainCtx
// ends (a caller that must stop now; a test done with the drain).
// Health checks of the endpoints run while it serves. It returns nil after
// a clean shutdown.
func (r *Router) ServeDrain(ctx, drainCtx context.Context, ln net.Listener) error {
	return r.run(ctx, drainCtx, ln, r.fastServer())
}

// server is the HTTP server as the lifecycle (run) sees it: serve returns nil once shutdown has been called; shutdown closes
// the listener and waits for in-flight requests until its context ends.
type server struct {
	serve    func(net.Listener) error
	shutdown func(context.Context) error
}

// run runs srv on ln with the health checks until ctx ends, then drains
// and shuts it down (see ServeDrain).
func (r *Router) run(ctx, drainCtx context.Context, ln net.Listener, srv server) error {
	s := r.cfg.Server
	stopChecks := r.startHealthChecks()
	errc := make(chan error, 1)
	go func() { errc <- srv.serve(ln) }()
	select {
	case err := <-errc:
		stopChecks()
		return err
	case <-ctx.Done():
	}
	r.log.Info("draining", zap.Duration("drainDelay", s.DrainDelay.D()), zap.Duration("grace", s.ShutdownGrace.D()))
	r.StartDraining()
	if !waitDelay(drainCtx, s.DrainDelay.D()) {
		r.log.Info("drain delay cut short")
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownGrace.D())
	defer cancel()
	err := srv.shutdown(sctx)
	stopChecks()
	if serr := <-errc; serr != nil {
		return serr
	}
	if err != nil {
		return err
	}
	r.log.Info("stopped")
	return nil
}

// waitDelay waits d, or until ctx ends; it reports whether d passed.
func waitDelay(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ServeMetrics serves /metrics, /healthz and /readyz on ln (the config's
// metricsListen) until ctx ends. Off the request path, it is a plain
// net/http server.
func (r *Router) ServeMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	if r.gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(r.gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ok, _ := r.Ready(); !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready\n")
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, ErrorLog: zap.NewStdLog(r.log.Named("metrics"))}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	if err := srv.Serve(ln); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// startHealthChecks starts the health checks, if configured, and returns a
// function that stops them and waits.
func (r *Router) startHealthChecks() func() {
	if r.cfg.HealthCheck.Interval <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { r.runHealthChecks(ctx) })
	return func() {
		cancel()
		wg.Wait()
	}
}

// runHealthChecks polls every endpoint at the configured interval, starting
// at once, and records each result as the endpoint's readiness.
func (r *Router) runHealthChecks(ctx context.Context) {
	hc := r.cfg.HealthCheck
	tr := &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: 2 * hc.Interval.D()}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: hc.Timeout.D()}
	t := time.NewTicker(hc.Interval.D())
	defer t.Stop()
	for {
		r.CheckEndpoints(ctx, client)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// CheckEndpoints runs one round of health checks, concurrently.
func (r *Router) CheckEndpoints(ctx context.Context, client *http.Client) {
	var wg sync.WaitGroup
	for _, cs := range r.classList {
		for _, vs := range cs.versions {
			for _, ep := range vs.pool.Endpoints() {
				wg.Go(func() {
					ok := probe(ctx, client, "http://"+ep.Addr+r.cfg.HealthCheck.Path)
					if ep.Ready() != ok {
						r.log.Info("endpoint readiness", zap.String("class", cs.name), zap.String("version", vs.name),
							zap.String("endpoint", ep.Addr), zap.Bool("ready", ok))
					}
					ep.SetReady(ok)
				})
			}
		}
	}
	wg.Wait()
	for _, cs := range r.classList {
		for _, vs := range cs.versions {
			n := 0
			for _, ep := range vs.pool.Endpoints() {
				if ep.Ready() {
					n++
				}
			}
			vs.ready.Set(float64(n))
		}
	}
}

func probe(ctx context.Context, c *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 4096)
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}
