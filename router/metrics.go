package router

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names: a contract. The controller's PromQL queries use them
// verbatim; docs/router.md documents names, labels and buckets. Change them
// only together with the controller.
const (
	MetricRequestDuration = "headroom_router_request_duration_seconds"
	MetricRequests        = "headroom_router_requests_total"
	MetricInFlight        = "headroom_router_in_flight_requests"
	MetricQueueDuration   = "headroom_router_queue_duration_seconds"
	MetricRetries         = "headroom_router_retries_total"
	MetricShed            = "headroom_router_shed_total"
	MetricEjections       = "headroom_router_endpoint_ejections_total"
	MetricEndpointsReady  = "headroom_router_endpoints_ready"
)

// Label values used when the real value is unknown: raw request values never
// become labels, so label cardinality is bounded by the config.
const (
	LabelNone = "none"
)

// DurationBuckets are the request-duration histogram buckets in seconds:
// dense between 25 ms and 1 s, where reader SLOs (e.g. p95 <= 300 ms) sit,
// so histogram_quantile interpolates within ~25 ms there.
var DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3,
	0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30}

// QueueBuckets are the queue-duration histogram buckets in seconds.
var QueueBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10}

// Metrics holds the router's collectors.
type Metrics struct {
	Duration  *prometheus.HistogramVec
	Requests  *prometheus.CounterVec
	InFlight  *prometheus.GaugeVec
	Queue     *prometheus.HistogramVec
	Retries   *prometheus.CounterVec
	Shed      *prometheus.CounterVec
	Ejections *prometheus.CounterVec
	Ready     *prometheus.GaugeVec
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricRequestDuration,
			Help:    "Time from the router receiving a request to finishing its response, by model class, tenant and status code.",
			Buckets: DurationBuckets,
		}, []string{"class", "tenant", "code"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRequests,
			Help: "Requests answered, by model class, tenant and status code.",
		}, []string{"class", "tenant", "code"}),
		InFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricInFlight,
			Help: "Requests in the router (queued or forwarded), by model class.",
		}, []string{"class"}),
		Queue: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricQueueDuration,
			Help:    "Time requests waited in the fair queue before being forwarded, by model class.",
			Buckets: QueueBuckets,
		}, []string{"class"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRetries,
			Help: "Retried attempts, by model class.",
		}, []string{"class"}),
		Shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricShed,
			Help: "Requests refused for load or limits, by model class and reason.",
		}, []string{"class", "reason"}),
		Ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricEjections,
			Help: "Outlier ejections of endpoints, by model class and version.",
		}, []string{"class", "version"}),
		Ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricEndpointsReady,
			Help: "Ready endpoints, by model class and version.",
		}, []string{"class", "version"}),
	}
	if reg != nil {
		reg.MustRegister(m.Duration, m.Requests, m.InFlight, m.Queue, m.Retries, m.Shed, m.Ejections, m.Ready)
	}
	return m
}

// codeMetrics are the per-request series of one class, tenant and status.
type codeMetrics struct {
	duration prometheus.Observer
	requests prometheus.Counter
}

type codeKey struct {
	class, tenant string
	status        int
}

// codeMetricsCache keeps each (class, tenant, status)'s series once looked
// up, so a request costs a map read instead of two label hashes and
// lookups in the vectors. Its size is bounded as the labels are: configured
// classes and tenants (or none) times the status codes seen.
type codeMetricsCache struct {
	mu sync.RWMutex
	m  map[codeKey]codeMetrics
}

func (c *codeMetricsCache) get(ms *Metrics, class, tenant string, status int) codeMetrics {
	k := codeKey{class, tenant, status}
	c.mu.RLock()
	cm, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return cm
	}
	code := strconv.Itoa(status)
	cm = codeMetrics{duration: ms.Duration.WithLabelValues(class, tenant, code),
		requests: ms.Requests.WithLabelValues(class, tenant, code)}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[codeKey]codeMetrics{}
	}
	c.m[k] = cm
	c.mu.Unlock()
	return cm
}
