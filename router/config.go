package router

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Duration is a time.Duration that reads and writes as a Go duration string
// ("250ms", "2s") in YAML and JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "1.5s"; a bare number is
// rejected because its unit would be a guess.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"250ms\": %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// Config is the router's configuration file (docs/router.md describes every
// field). Load reads it strictly, fills defaults and validates it.
type Config struct {
	// Listen is the address the router serves on, e.g. ":8080".
	Listen string `json:"listen"`
	// MetricsListen, when set (":9090"), serves /metrics (and /healthz,
	// /readyz) on an address of its own, and the traffic port no longer
	// answers /metrics: the metrics name tenants and classes, and need not
	// be reachable by whoever can reach the router. Empty: /metrics on
	// Listen.
	MetricsListen string `json:"metricsListen,omitempty"`
	// Server holds the HTTP server's limits and timeouts.
	Server ServerConfig `json:"server"`
	// Classify says where a request's model class and version are read.
	Classify ClassifyConfig `json:"classify"`
	// Auth says how API keys are read from requests.
	Auth AuthConfig `json:"auth"`
	// Tenants maps hashed API keys to tenants and their limits.
	Tenants []TenantConfig `json:"tenants"`
	// Models lists the model classes, their versions and endpoints.
	Models []ModelConfig `json:"models"`
	// Retry bounds retries of failed requests.
	Retry RetryConfig `json:"retry"`
	// Outlier configures outlier ejection of failing endpoints.
	Outlier OutlierConfig `json:"outlier"`
	// HealthCheck configures active readiness checks of endpoints.
	HealthCheck HealthCheckConfig `json:"healthCheck"`
	// Tracing configures OpenTelemetry tracing; off by default.
	Tracing TracingConfig `json:"tracing"`
}

// ServerConfig holds the HTTP server's limits; they are what stops slow
// clients and oversized requests from holding the router's resources.
type ServerConfig struct {
	MaxBodyBytes      int64    `json:"maxBodyBytes"`
	MaxHeaderBytes    int      `json:"maxHeaderBytes"`
	ReadHeaderTimeout Duration `json:"readHeaderTimeout"`
	ReadTimeout       Duration `json:"readTimeout"`
	WriteTimeout      Duration `json:"writeTimeout"`
	IdleTimeout       Duration `json:"idleTimeout"`
	// ShutdownGrace is how long a shutdown waits for in-flight requests.
	ShutdownGrace Duration `json:"shutdownGrace"`
	// DrainDelay is how long /readyz reports not-ready before the listener
	// closes, so load balancers stop sending new requests first.
	DrainDelay Duration `json:"drainDelay"`
	// DisableAccessLog turns the per-request access log off.
	DisableAccessLog bool `json:"disableAccessLog,omitempty"`
}

// ClassifyConfig lists the sources of the class and of the version, tried in
// order; the first non-empty value wins.
type ClassifyConfig struct {
	Class   []Source `json:"class"`
	Version []Source `json:"version"`
}

// Source is one place a value is read from a request.
type Source struct {
	// From is one of "path", "header", "query", "body".
	From string `json:"from"`
	// Name is the header or query parameter name (header, query).
	Name string `json:"name,omitempty"`
	// Segment is the 0-based index of the path segment (path):
	// in /v1/models/reader-de/infer, segment 2 is "reader-de".
	Segment int `json:"segment,omitempty"`
	// Field is a dotted path into a JSON object body (body), e.g. "model"
	// or "metadata.version".
	Field string `json:"field,omitempty"`
}

// AuthConfig says how API keys are carried.
type AuthConfig struct {
	// Header carries the key; "Authorization" expects "Bearer <key>",
	// any other header carries the bare key. Default "Authorization".
	Header string `json:"header"`
	// AnonymousTenant, when set, is the tenant of requests without a key.
	// When empty, a request without a key is refused with 401.
	AnonymousTenant string `json:"anonymousTenant,omitempty"`
}

// TenantConfig is one tenant: its keys (hashed) and limits.
type TenantConfig struct {
	Name string `json:"name"`
	// KeySHA256 lists hex SHA-256 digests of the tenant's API keys; the keys
	// themselves never appear in the file. `headroom router hash-key` prints one.
	KeySHA256 []string `json:"keySHA256"`
	// RateLimit is requests per second (0: unlimited) with Burst.
	RateLimit float64 `json:"rateLimit,omitempty"`
	Burst     int     `json:"burst,omitempty"`
	// MaxConcurrency caps the tenant's requests in the router at once
	// (queued or forwarded; 0: unlimited).
	MaxConcurrency int `json:"maxConcurrency,omitempty"`
	// Weight is the tenant's share under fair queueing (default 1).
	Weight float64 `json:"weight,omitempty"`
	// Classes restricts the tenant to these classes (empty: all).
	Classes []string `json:"classes,omitempty"`
}

// ModelConfig is one model class.
type ModelConfig struct {
	Class    string          `json:"class"`
	Versions []VersionConfig `json:"versions"`
	// MaxInFlight caps the requests forwarded to this class at once;
	// beyond it requests wait in the fair queue (0: unlimited, no queue).
	MaxInFlight int `json:"maxInFlight,omitempty"`
	// MaxQueue caps the requests waiting; past it the router sheds with 503.
	MaxQueue int `json:"maxQueue,omitempty"`
	// QueueTimeout is the longest a request waits in the queue.
	QueueTimeout Duration `json:"queueTimeout,omitempty"`
	// Timeout is the request's deadline, retries included.
	Timeout Duration `json:"timeout,omitempty"`
	// AttemptTimeout bounds one attempt's wait for the response head; an
	// attempt past it fails, counts against its endpoint and is retried.
	// 0 (default): derived from the class's observed latency (latency.go).
	AttemptTimeout Duration `json:"attemptTimeout,omitempty"`
	// Balancer chooses among a version's ready endpoints:
	// "least-outstanding" (default; ties rotate) or "p2c" (power of two
	// choices).
	Balancer string `json:"balancer,omitempty"`
}

// VersionConfig is one version of a class with its share of traffic that
// names no version (a canary is a version with a small weight).
type VersionConfig struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
	// Endpoints is a static list of host:port; or
	Endpoints []string `json:"endpoints,omitempty"`
	// Service names a Kubernetes Service whose EndpointSlices give the
	// endpoints (in-cluster; `headroom router` watches them).
	Service *ServiceRef `json:"service,omitempty"`
}

// ServiceRef is a Kubernetes Service and the EndpointSlice port to use.
type ServiceRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Port names the port; empty takes the first.
	Port string `json:"port,omitempty"`
}

// RetryConfig bounds retries: a request is retried at most MaxAttempts-1
// times, only within its deadline, and only while the budget allows: retries
// stay below BudgetRatio of requests plus MinPerSecond.
type RetryConfig struct {
	MaxAttempts  int     `json:"maxAttempts"`
	BudgetRatio  float64 `json:"budgetRatio"`
	MinPerSecond float64 `json:"minPerSecond"`
	// OnStatus lists backend status codes that are retried (default 502,
	// 503, 504). Connection errors are always retryable.
	OnStatus []int `json:"onStatus"`
}

// OutlierConfig ejects an endpoint after ConsecutiveFailures failures in a
// row, for BaseEjection times the number of its ejections (capped at
// MaxEjection), never ejecting more than MaxEjectedPercent of a version.
type OutlierConfig struct {
	ConsecutiveFailures int      `json:"consecutiveFailures"`
	BaseEjection        Duration `json:"baseEjection"`
	MaxEjection         Duration `json:"maxEjection"`
	MaxEjectedPercent   int      `json:"maxEjectedPercent"`
}

// HealthCheckConfig polls each endpoint's Path; an endpoint is ready after
// a 2xx answer. Interval 0 disables checks: every endpoint counts as ready.
type HealthCheckConfig struct {
	Path     string   `json:"path"`
	Interval Duration `json:"interval"`
	Timeout  Duration `json:"timeout"`
}

// TracingConfig turns on OpenTelemetry tracing with OTLP/HTTP export.
type TracingConfig struct {
	Enabled bool `json:"enabled"`
	// Endpoint is the OTLP/HTTP collector's host:port (Jaeger: 4318).
	Endpoint    string  `json:"endpoint,omitempty"`
	Insecure    bool    `json:"insecure,omitempty"`
	SampleRatio float64 `json:"sampleRatio,omitempty"`
	ServiceName string  `json:"serviceName,omitempty"`
}

// ConfigError is a configuration that failed to parse or validate.
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string {
	return "invalid router config: " + strings.Join(e.Problems, "; ")
}

// IsConfigError reports whether err is a *ConfigError.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

// LoadFile reads and parses a config file.
func LoadFile(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading router config: %w", err)
	}
	return Parse(b)
}

// Parse reads a YAML config strictly (unknown fields are errors), fills
// defaults and validates it.
func Parse(b []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, &ConfigError{Problems: []string{err.Error()}}
	}
	c.Default()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Default fills every unset field with its default; docs/router.md lists them.
func (c *Config) Default() {
	if c.Listen == "" {
		c.Listen = ":8080"
	}
	s := &c.Server
	setInt64(&s.MaxBodyBytes, 1<<20)
	setInt(&s.MaxHeaderBytes, 64<<10)
	setDur(&s.ReadHeaderTimeout, 5*time.Second)
	setDur(&s.ReadTimeout, 30*time.Second)
	setDur(&s.WriteTimeout, 120*time.Second)
	setDur(&s.IdleTimeout, 120*time.Second)
	setDur(&s.ShutdownGrace, 30*time.Second)
	if len(c.Classify.Class) == 0 {
		c.Classify.Class = []Source{{From: "header", Name: "X-Model-Class"}, {From: "body", Field: "model"}}
	}
	if len(c.Classify.Version) == 0 {
		c.Classify.Version = []Source{{From: "header", Name: "X-Model-Version"}}
	}
	if c.Auth.Header == "" {
		c.Auth.Header = "Authorization"
	}
	for i := range c.Tenants {
		if c.Tenants[i].Weight == 0 {
			c.Tenants[i].Weight = 1
		}
		if c.Tenants[i].RateLimit > 0 && c.Tenants[i].Burst == 0 {
			c.Tenants[i].Burst = max(1, int(c.Tenants[i].RateLimit))
		}
		for j, k := range c.Tenants[i].KeySHA256 {
			c.Tenants[i].KeySHA256[j] = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(k)), "sha256:")
		}
	}
	for i := range c.Models {
		m := &c.Models[i]
		if m.MaxInFlight > 0 && m.MaxQueue == 0 {
			m.MaxQueue = 4 * m.MaxInFlight
		}
		setDur(&m.QueueTimeout, 5*time.Second)
		setDur(&m.Timeout, 60*time.Second)
		if m.Balancer == "" {
			m.Balancer = BalancerLeastOutstanding
		}
		for j := range m.Versions {
			if m.Versions[j].Weight == 0 && len(m.Versions) == 1 {
				m.Versions[j].Weight = 1
			}
		}
	}
	r := &c.Retry
	setInt(&r.MaxAttempts, 2)
	if r.BudgetRatio == 0 {
		r.BudgetRatio = 0.1
	}
	if r.MinPerSecond == 0 {
		r.MinPerSecond = 5
	}
	if len(r.OnStatus) == 0 {
		r.OnStatus = []int{502, 503, 504}
	}
	o := &c.Outlier
	setInt(&o.ConsecutiveFailures, 5)
	setDur(&o.BaseEjection, 10*time.Second)
	setDur(&o.MaxEjection, 5*time.Minute)
	setInt(&o.MaxEjectedPercent, 50)
	if c.HealthCheck.Path == "" {
		c.HealthCheck.Path = "/readyz"
	}
	setDur(&c.HealthCheck.Timeout, time.Second)
	if c.Tracing.SampleRatio == 0 {
		c.Tracing.SampleRatio = 1
	}
	if c.Tracing.ServiceName == "" {
		c.Tracing.ServiceName = "headroom-router"
	}
}

// Validate reports every problem at once, as a *ConfigError.
func (c *Config) Validate() error {
	var p []string
	add := func(f string, a ...any) { p = append(p, fmt.Sprintf(f, a...)) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen %q: %v", c.Listen, err)
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			add("metricsListen %q: %v", c.MetricsListen, err)
		} else if c.MetricsListen == c.Listen {
			add("metricsListen %q is the traffic address; leave it empty to serve /metrics there", c.MetricsListen)
		}
	}
	if c.Server.MaxBodyBytes < 0 || c.Server.MaxBodyBytes > math.MaxInt32 {
		add("server.maxBodyBytes must be positive and under 2 GiB")
	}
	for i, s := range c.Classify.Class {
		validateSource(fmt.Sprintf("classify.class[%d]", i), s, add)
	}
	for i, s := range c.Classify.Version {
		validateSource(fmt.Sprintf("classify.version[%d]", i), s, add)
	}
	classes := map[string]bool{}
	if len(c.Models) == 0 {
		add("models: at least one model class is required")
	}
	for i, m := range c.Models {
		where := fmt.Sprintf("models[%d]", i)
		if !validName(m.Class) {
			add("%s.class %q: want 1-63 characters of a-z, 0-9, '-', '.', '_'", where, m.Class)
		}
		if classes[m.Class] {
			add("%s.class %q: duplicate", where, m.Class)
		}
		if m.Class == LabelNone {
			add("%s.class %q is reserved (the metrics' label for no class)", where, m.Class)
		}
		classes[m.Class] = true
		if m.Balancer != BalancerLeastOutstanding && m.Balancer != BalancerP2C {
			add("%s.balancer %q: want %s or %s", where, m.Balancer, BalancerLeastOutstanding, BalancerP2C)
		}
		if m.MaxInFlight < 0 || m.MaxQueue < 0 {
			add("%s: maxInFlight and maxQueue must not be negative", where)
		}
		if len(m.Versions) == 0 {
			add("%s: at least one version is required", where)
		}
		versions, total := map[string]bool{}, 0
		for j, v := range m.Versions {
			vw := fmt.Sprintf("%s.versions[%d]", where, j)
			if !validName(v.Name) {
				add("%s.name %q: want 1-63 characters of a-z, 0-9, '-', '.', '_'", vw, v.Name)
			}
			if versions[v.Name] {
				add("%s.name %q: duplicate", vw, v.Name)
			}
			versions[v.Name] = true
			if v.Weight < 0 {
				add("%s.weight must not be negative", vw)
			}
			total += v.Weight
			switch {
			case v.Service != nil && len(v.Endpoints) > 0:
				add("%s: give endpoints or service, not both", vw)
			case v.Service != nil:
				if v.Service.Namespace == "" || v.Service.Name == "" {
					add("%s.service: namespace and name are required", vw)
				}
			case len(v.Endpoints) == 0:
				add("%s: at least one endpoint (or a service) is required", vw)
			}
			for _, e := range v.Endpoints {
				if _, port, err := net.SplitHostPort(e); err != nil || port == "" {
					add("%s.endpoints: %q is not host:port", vw, e)
				}
			}
		}
		if len(m.Versions) > 0 && total == 0 {
			add("%s: the version weights add up to 0", where)
		}
	}
	tenants := map[string]bool{}
	keys := map[string]string{}
	for i, t := range c.Tenants {
		where := fmt.Sprintf("tenants[%d]", i)
		if !validName(t.Name) {
			add("%s.name %q: want 1-63 characters of a-z, 0-9, '-', '.', '_'", where, t.Name)
		}
		if tenants[t.Name] {
			add("%s.name %q: duplicate", where, t.Name)
		}
		if t.Name == LabelNone {
			add("%s.name %q is reserved (the metrics' label for no tenant)", where, t.Name)
		}
		tenants[t.Name] = true
		for j, k := range t.KeySHA256 {
			if b, err := hex.DecodeString(k); err != nil || len(b) != 32 {
				add("%s.keySHA256[%d]: want 64 hex digits (a SHA-256 digest)", where, j)
			}
			if other, dup := keys[k]; dup {
				add("%s.keySHA256[%d]: the same key also belongs to tenant %q", where, j, other)
			}
			keys[k] = t.Name
		}
		if t.RateLimit < 0 || t.Burst < 0 || t.MaxConcurrency < 0 || t.Weight < 0 {
			add("%s: limits and weight must not be negative", where)
		}
		for _, cl := range t.Classes {
			if !classes[cl] {
				add("%s.classes: unknown class %q", where, cl)
			}
		}
	}
	if a := c.Auth.AnonymousTenant; a != "" && !tenants[a] {
		add("auth.anonymousTenant %q is not a tenant", a)
	}
	if c.Retry.MaxAttempts < 1 || c.Retry.MaxAttempts > 5 {
		add("retry.maxAttempts must be 1 to 5")
	}
	if c.Retry.BudgetRatio < 0 || c.Retry.BudgetRatio > 1 {
		add("retry.budgetRatio must be between 0 and 1")
	}
	if c.Outlier.MaxEjectedPercent < 0 || c.Outlier.MaxEjectedPercent > 100 {
		add("outlier.maxEjectedPercent must be 0 to 100")
	}
	if c.Tracing.Enabled && c.Tracing.Endpoint == "" {
		add("tracing.endpoint is required when tracing is enabled")
	}
	if c.Tracing.SampleRatio < 0 || c.Tracing.SampleRatio > 1 {
		add("tracing.sampleRatio must be between 0 and 1")
	}
	if len(p) > 0 {
		return &ConfigError{Problems: p}
	}
	return nil
}

func validateSource(where string, s Source, add func(string, ...any)) {
	switch s.From {
	case "header", "query":
		if s.Name == "" {
			add("%s: %s source needs a name", where, s.From)
		}
	case "path":
		if s.Segment < 0 || s.Segment > 16 {
			add("%s: path segment must be 0 to 16", where)
		}
	case "body":
		if s.Field == "" {
			add("%s: body source needs a field", where)
		}
	default:
		add("%s: from %q: want path, header, query or body", where, s.From)
	}
}

// validName accepts the names used as metric label values: bounded, and
// safe to print.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setInt64(p *int64, v int64) {
	if *p == 0 {
		*p = v
	}
}

func setDur(p *Duration, v time.Duration) {
	if *p == 0 {
		*p = Duration(v)
	}
}

// retryableStatus returns the set of retryable status codes.
func (r RetryConfig) retryableStatus() map[int]bool {
	m := make(map[int]bool, len(r.OnStatus))
	for _, s := range r.OnStatus {
		m[s] = true
	}
	return m
}
