package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configures an emulated reader. Zero values take the defaults
// documented on each field.
type Options struct {
	// Class and Version are echoed in answers (default "emulated", "v1").
	Class, Version string
	// Profile is the GPU slice profile the reader pretends to run on, e.g.
	// "2g.20gb" (MIG) or "whole" (default "whole"). Its memory sets the GPU
	// memory total when GPUMemoryMiB is 0.
	Profile string
	// ServiceMean and ServiceP95 fit the log-normal service time (default
	// 38 ms and 70 ms). ServiceP95 == ServiceMean gives a constant time.
	ServiceMean, ServiceP95 time.Duration
	// Concurrency is how many requests are served at once (default 4).
	Concurrency int
	// MaxQueue is how many more may wait; past it the answer is 503
	// (default 64).
	MaxQueue int
	// LoadDelay is how long after start /readyz keeps answering 503 and
	// inference requests get 503 "loading" (default 0).
	LoadDelay time.Duration
	// GPUMemoryMiB is the slice's memory (default: from Profile, or 81559
	// MiB, an H100 80GB).
	GPUMemoryMiB float64
	// ModelMemoryMiB is used once the model loaded (default 14336).
	ModelMemoryMiB float64
	// RequestMemoryMiB is used per request in service (default 256).
	RequestMemoryMiB float64
	// ErrorRate is the fraction of requests answered 500 (default 0).
	ErrorRate float64
	// Labels are dcgm-exporter's Kubernetes and device labels.
	GPU, GPUInstanceID, Pod, Namespace, Container, Hostname string
	// Seed seeds the service-time and failure draws (default 1).
	Seed uint64
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Registerer receives the DCGM gauges (nil: a private registry, served
	// on /metrics).
	Registerer prometheus.Registerer
	// Gatherer is served on /metrics (default: the private registry).
	Gatherer prometheus.Gatherer
}

// Reader is an emulated model server; it is an http.Handler.
type Reader struct {
	o       Options
	dist    LogNormal
	konst   bool
	started time.Time
	slots   chan struct{}

	mu      sync.Mutex
	rng     *rand.Rand
	waiting int
	serving int

	used, free prometheus.Gauge
	requests   *prometheus.CounterVec
	metrics    http.Handler
}

var profileMem = regexp.MustCompile(`^\d+g\.(\d+)gb$`)

// ProfileMemoryMiB returns a MIG profile's nominal memory in MiB (a
// "2g.20gb" slice has 20 GiB = 20480 MiB), or 0 when the name is not a MIG
// profile.
func ProfileMemoryMiB(profile string) float64 {
	m := profileMem.FindStringSubmatch(profile)
	if m == nil {
		return 0
	}
	gb, _ := strconv.Atoi(m[1])
	return float64(gb) * 1024
}

// New returns a Reader; its load delay starts counting now.
func New(o Options) (*Reader, error) {
	if o.Class == "" {
		o.Class = "emulated"
	}
	if o.Version == "" {
		o.Version = "v1"
	}
	if o.Profile == "" {
		o.Profile = "whole"
	}
	if o.ServiceMean == 0 {
		o.ServiceMean = 38 * time.Millisecond
	}
	if o.ServiceP95 == 0 {
		o.ServiceP95 = max(o.ServiceMean, 70*time.Millisecond)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.MaxQueue < 0 {
		return nil, errors.New("max queue must not be negative")
	}
	if o.MaxQueue == 0 {
		o.MaxQueue = 64
	}
	if o.GPUMemoryMiB == 0 {
		o.GPUMemoryMiB = ProfileMemoryMiB(o.Profile)
		if o.GPUMemoryMiB == 0 {
			o.GPUMemoryMiB = 81559
		}
	}
	if o.ModelMemoryMiB == 0 {
		o.ModelMemoryMiB = 14336
	}
	if o.RequestMemoryMiB == 0 {
		o.RequestMemoryMiB = 256
	}
	if o.ErrorRate < 0 || o.ErrorRate > 1 {
		return nil, fmt.Errorf("error rate %v is not in [0, 1]", o.ErrorRate)
	}
	if o.GPU == "" {
		o.GPU = "0"
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Reader{o: o, started: o.Now(), slots: make(chan struct{}, o.Concurrency),
		rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))}
	if o.ServiceP95 == o.ServiceMean {
		r.konst = true
	} else {
		d, err := FitLogNormal(o.ServiceMean, o.ServiceP95)
		if err != nil {
			return nil, err
		}
		r.dist = d
	}
	reg, gat := o.Registerer, o.Gatherer
	if reg == nil {
		pr := prometheus.NewRegistry()
		reg, gat = pr, pr
	}
	labels := prometheus.Labels{
		"gpu": o.GPU, "UUID": "GPU-emulated-" + o.GPU, "device": "nvidia" + o.GPU,
		"modelName": "emulated", "Hostname": o.Hostname,
		"GPU_I_PROFILE": o.Profile, "GPU_I_ID": o.GPUInstanceID,
		"pod": o.Pod, "namespace": o.Namespace, "container": o.Container,
	}
	if o.Profile == "whole" {
		labels["GPU_I_PROFILE"], labels["GPU_I_ID"] = "", ""
	}
	r.used = prometheus.NewGauge(prometheus.GaugeOpts{Name: "DCGM_FI_DEV_FB_USED",
		Help: "Framebuffer memory used (in MiB).", ConstLabels: labels})
	r.free = prometheus.NewGauge(prometheus.GaugeOpts{Name: "DCGM_FI_DEV_FB_FREE",
		Help: "Framebuffer memory free (in MiB).", ConstLabels: labels})
	r.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "headroom_emulator_requests_total",
		Help: "Requests the emulated reader answered, by status code."}, []string{"code"})
	if err := reg.Register(r.used); err != nil {
		return nil, err
	}
	if err := reg.Register(r.free); err != nil {
		return nil, err
	}
	if err := reg.Register(r.requests); err != nil {
		return nil, err
	}
	if gat != nil {
		r.metrics = promhttp.HandlerFor(gat, promhttp.HandlerOpts{})
	}
	r.updateMemoryLocked()
	return r, nil
}

// Loaded reports whether the model-load delay has passed.
func (r *Reader) Loaded() bool { return r.o.Now().Sub(r.started) >= r.o.LoadDelay }

// MemoryUsedMiB returns the emulated GPU memory in use.
func (r *Reader) MemoryUsedMiB() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.usedLocked()
}

func (r *Reader) usedLocked() float64 {
	if !r.Loaded() {
		return 0
	}
	return min(r.o.GPUMemoryMiB, r.o.ModelMemoryMiB+float64(r.serving)*r.o.RequestMemoryMiB)
}

func (r *Reader) updateMemoryLocked() {
	u := r.usedLocked()
	r.used.Set(u)
	r.free.Set(r.o.GPUMemoryMiB - u)
}

// ServeHTTP serves /healthz, /readyz, /metrics and inference on every other path.
func (r *Reader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch req.URL.Path {
	case "/healthz":
		_, _ = io.WriteString(w, "ok\n")
		return
	case "/readyz":
		if !r.Loaded() {
			http.Error(w, "loading model", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
		return
	case "/metrics":
		if r.metrics != nil {
			r.mu.Lock()
			r.updateMemoryLocked()
			r.mu.Unlock()
			r.metrics.ServeHTTP(w, req)
			return
		}
	}
	code := r.infer(w, req)
	r.requests.WithLabelValues(strconv.Itoa(code)).Inc()
}

type answer struct {
	Model     string  `json:"model"`
	Version   string  `json:"version"`
	Profile   string  `json:"profile"`
	ServiceMS float64 `json:"service_ms"`
	QueueMS   float64 `json:"queue_ms"`
	Output    string  `json:"output"`
}

func (r *Reader) infer(w http.ResponseWriter, req *http.Request) int {
	_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, 16<<20))
	if !r.Loaded() {
		return fail(w, http.StatusServiceUnavailable, "loading model")
	}
	r.mu.Lock()
	if len(r.slots) == cap(r.slots) && r.waiting >= r.o.MaxQueue {
		r.mu.Unlock()
		return fail(w, http.StatusServiceUnavailable, "queue full")
	}
	r.waiting++
	r.mu.Unlock()
	qStart := r.o.Now()
	select {
	case r.slots <- struct{}{}:
	case <-req.Context().Done():
		r.mu.Lock()
		r.waiting--
		r.mu.Unlock()
		return 499
	}
	queued := r.o.Now().Sub(qStart)
	r.mu.Lock()
	r.waiting--
	r.serving++
	r.updateMemoryLocked()
	st := r.sampleLocked()
	failNow := r.o.ErrorRate > 0 && r.rng.Float64() < r.o.ErrorRate
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.serving--
		r.updateMemoryLocked()
		r.mu.Unlock()
		<-r.slots
	}()
	if err := sleep(req.Context(), st); err != nil {
		return 499
	}
	if failNow {
		return fail(w, http.StatusInternalServerError, "injected failure")
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answer{Model: r.o.Class, Version: r.o.Version, Profile: r.o.Profile,
		ServiceMS: float64(st) / 1e6, QueueMS: float64(queued) / 1e6, Output: "emulated"})
	return http.StatusOK
}

func (r *Reader) sampleLocked() time.Duration {
	if r.konst {
		return r.o.ServiceMean
	}
	return r.dist.Sample(r.rng)
}

func fail(w http.ResponseWriter, code int, msg string) int {
	w.Header().Set("Content-Type", "application/json")
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(code)
	_, _ = fmt.Fprintf(w, "{\"error\":{\"code\":%q,\"message\":%q}}\n", http.StatusText(code), msg)
	return code
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
