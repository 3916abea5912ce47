package prom

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/prometheus/common/config"
	"go.uber.org/zap"
)

// Options configure a Client. Zero fields take the defaults of
// withDefaults; validate checks the result. Both live here, in one place.
type Options struct {
	// Address is the Prometheus base URL (required), e.g.
	// http://prometheus-operated.monitoring:9090. A path prefix (a Thanos
	// Query or a proxy serving /prometheus/api/v1) is kept.
	Address string
	// Auth says how to reach a secured Prometheus (default: no auth, the
	// system's CA pool).
	Auth Auth
	// Timeout bounds each query, on the client and as the query's
	// `timeout` parameter on the server (default 10s).
	Timeout time.Duration
	// Staleness is how old the newest raw sample behind a class's stats or
	// a GPU instance's memory may be at now; older is missing (default
	// 90s, the core's own default).
	Staleness time.Duration
	// MinRange is the shortest range given to rate(). A window at least
	// this long is read with rate() over the window; a shorter one (the
	// panic window) with irate() over MinRange, i.e. from the newest two
	// samples. rate() needs two samples in its range, so MinRange must be
	// at least twice the scrape interval; the default 30s fits the usual
	// 15s.
	MinRange time.Duration
	// RouterMatchers are added to every router series selector, e.g.
	// job="headroom-router" or namespace="inference". The queries always
	// leave out class="none" (requests of no configured class).
	RouterMatchers []Matcher
	// GPUMatchers are added to the dcgm-exporter selectors, e.g.
	// namespace="inference" (with dcgm-exporter's Kubernetes labels, the
	// reader pod's namespace).
	GPUMatchers []Matcher
	// Names are the metric and label names; zero fields take the router's
	// contract (docs/router.md) and dcgm-exporter's names.
	Names Names
	// PodClass maps a reader pod to its model class (required; the
	// controller feeds it from its Kubernetes cache). GPU rows of pods it
	// does not know are dropped.
	PodClass func(namespace, pod string) (class string, ok bool)
	// Logger receives debug lines about dropped series (default: no-op).
	Logger *zap.Logger
}

// Auth is the client side of a secured Prometheus. Files are read on every
// request (tokens, passwords) or when they change (TLS), so a projected
// ServiceAccount token or a rotated certificate is picked up without a
// restart. It is turned into a prometheus/common HTTPClientConfig.
type Auth struct {
	// BearerTokenFile holds a bearer token, e.g.
	// /var/run/secrets/kubernetes.io/serviceaccount/token behind
	// kube-rbac-proxy. Exclusive with basic auth.
	BearerTokenFile string
	// Username and PasswordFile are HTTP basic auth.
	Username, PasswordFile string
	// CAFile verifies the server's certificate (default: system roots).
	CAFile string
	// CertFile and KeyFile are an optional client certificate (mTLS).
	CertFile, KeyFile string
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
}

// Names are the metric and label names the queries use.
type Names struct {
	// The router's metric contract (docs/router.md, "Metrics (a contract)").
	RequestDuration string // histogram; the queries read its _bucket series
	Requests        string // counter with Class and Code labels
	InFlight        string // gauge with the Class label
	Class, Code     string // label names
	// NoneClass is the class label value of requests of no configured
	// class; those series are left out.
	NoneClass string
	// ErrorCodes is the regular expression on Code that counts as an
	// error (default "5..": 5xx, the router's own refusals included).
	ErrorCodes string

	// dcgm-exporter (values in MiB) and its Kubernetes labels. With the
	// exporter scraped through a ServiceMonitor without honorLabels,
	// Prometheus renames pod and namespace to exported_pod and
	// exported_namespace; set Pod and Namespace to match.
	FBUsed, FBFree                string
	Profile, Node, Pod, Namespace string
}

// DefaultNames returns the names headroom's router and dcgm-exporter ship.
func DefaultNames() Names {
	return Names{
		RequestDuration: "headroom_router_request_duration_seconds",
		Requests:        "headroom_router_requests_total",
		InFlight:        "headroom_router_in_flight_requests",
		Class:           "class",
		Code:            "code",
		NoneClass:       "none",
		ErrorCodes:      "5..",
		FBUsed:          "DCGM_FI_DEV_FB_USED",
		FBFree:          "DCGM_FI_DEV_FB_FREE",
		Profile:         "GPU_I_PROFILE",
		Node:            "Hostname",
		Pod:             "pod",
		Namespace:       "namespace",
	}
}

func (o Options) withDefaults() Options {
	dur := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	dur(&o.Timeout, 10*time.Second)
	dur(&o.Staleness, 90*time.Second)
	dur(&o.MinRange, 30*time.Second)
	def := DefaultNames()
	str := func(p *string, d string) {
		if *p == "" {
			*p = d
		}
	}
	n := &o.Names
	str(&n.RequestDuration, def.RequestDuration)
	str(&n.Requests, def.Requests)
	str(&n.InFlight, def.InFlight)
	str(&n.Class, def.Class)
	str(&n.Code, def.Code)
	str(&n.NoneClass, def.NoneClass)
	str(&n.ErrorCodes, def.ErrorCodes)
	str(&n.FBUsed, def.FBUsed)
	str(&n.FBFree, def.FBFree)
	str(&n.Profile, def.Profile)
	str(&n.Node, def.Node)
	str(&n.Pod, def.Pod)
	str(&n.Namespace, def.Namespace)
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o
}

// validate checks defaulted options; every problem is reported at once.
func (o Options) validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if o.Address == "" {
		add("address is required")
	} else if u, err := url.Parse(o.Address); err != nil {
		add("address: %w", err)
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("address %q: want http(s)://host[:port][/prefix]", o.Address)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"timeout", o.Timeout}, {"staleness", o.Staleness}, {"min range", o.MinRange}} {
		if d.v < 0 {
			add("%s %v must not be negative", d.name, d.v)
		}
	}
	if o.MinRange > 0 && o.MinRange < time.Second {
		add("min range %v is below one second (it must span two scrapes)", o.MinRange)
	}
	if o.PodClass == nil {
		add("a pod class resolver (PodClass) is required")
	}
	n := o.Names
	for _, l := range []struct{ what, v string }{
		{"class label", n.Class}, {"code label", n.Code}, {"profile label", n.Profile},
		{"node label", n.Node}, {"pod label", n.Pod}, {"namespace label", n.Namespace},
	} {
		if !validLabelName(l.v) {
			add("%s %q is not a label name", l.what, l.v)
		}
	}
	for _, m := range []struct{ what, v string }{
		{"request duration metric", n.RequestDuration}, {"requests metric", n.Requests},
		{"in-flight metric", n.InFlight}, {"FB used metric", n.FBUsed}, {"FB free metric", n.FBFree},
	} {
		if !validMetricName(m.v) {
			add("%s %q is not a metric name", m.what, m.v)
		}
	}
	if err := (Matcher{Name: n.Code, Op: MatchRegexp, Value: n.ErrorCodes}).validate(); err != nil {
		add("error codes: %w", err)
	}
	for i, m := range o.RouterMatchers {
		if err := m.validate(); err != nil {
			add("router matcher %d: %w", i, err)
		}
	}
	for i, m := range o.GPUMatchers {
		if err := m.validate(); err != nil {
			add("GPU matcher %d: %w", i, err)
		}
	}
	if _, err := o.Auth.httpConfig(); err != nil {
		add("auth: %w", err)
	}
	return errors.Join(errs...)
}

// httpConfig turns Auth into prometheus/common's client config, validated
// there (it refuses a bearer token together with basic auth).
func (a Auth) httpConfig() (config.HTTPClientConfig, error) {
	c := config.DefaultHTTPClientConfig
	if a.BearerTokenFile != "" {
		c.Authorization = &config.Authorization{Type: "Bearer", CredentialsFile: a.BearerTokenFile}
	}
	if a.Username != "" || a.PasswordFile != "" {
		if a.Username == "" {
			return c, errors.New("a password file needs a username")
		}
		c.BasicAuth = &config.BasicAuth{Username: a.Username, PasswordFile: a.PasswordFile}
	}
	if (a.CertFile == "") != (a.KeyFile == "") {
		return c, errors.New("a client certificate needs both a cert file and a key file")
	}
	c.TLSConfig = config.TLSConfig{CAFile: a.CAFile, CertFile: a.CertFile, KeyFile: a.KeyFile, ServerName: a.ServerName}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}
