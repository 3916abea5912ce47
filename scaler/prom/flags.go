package prom

import (
	"github.com/spf13/pflag"
)

// AddFlags binds the connection options to fs as --prometheus-*, with the
// defaults as flag defaults. Names and PodClass stay Options fields: the
// first rarely changes, the second is wiring.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	d := o.withDefaults()
	fs.StringVar(&o.Address, "prometheus-url", o.Address, "Prometheus base URL, e.g. http://prometheus-operated.monitoring:9090")
	fs.DurationVar(&o.Timeout, "prometheus-timeout", d.Timeout, "timeout of each Prometheus query")
	fs.DurationVar(&o.Staleness, "prometheus-staleness", d.Staleness, "a series whose newest sample is older is missing")
	fs.DurationVar(&o.MinRange, "prometheus-min-range", d.MinRange,
		"shortest rate() range (at least 2 scrape intervals); shorter windows use irate() over it")
	fs.Var(&matchersValue{&o.RouterMatchers}, "prometheus-router-matchers",
		`label matchers added to the router's series, e.g. 'namespace="inference"'`)
	fs.Var(&matchersValue{&o.GPUMatchers}, "prometheus-gpu-matchers",
		`label matchers added to dcgm-exporter's series, e.g. 'namespace="inference"'`)
	fs.StringVar(&o.Auth.BearerTokenFile, "prometheus-bearer-token-file", o.Auth.BearerTokenFile,
		"file holding a bearer token, re-read on every request (e.g. a projected ServiceAccount token)")
	fs.StringVar(&o.Auth.Username, "prometheus-username", o.Auth.Username, "basic auth user")
	fs.StringVar(&o.Auth.PasswordFile, "prometheus-password-file", o.Auth.PasswordFile, "file holding the basic auth password")
	fs.StringVar(&o.Auth.CAFile, "prometheus-ca-file", o.Auth.CAFile, "CA certificates that verify Prometheus's TLS certificate")
	fs.StringVar(&o.Auth.CertFile, "prometheus-cert-file", o.Auth.CertFile, "client certificate (mTLS), with --prometheus-key-file")
	fs.StringVar(&o.Auth.KeyFile, "prometheus-key-file", o.Auth.KeyFile, "client certificate's key")
	fs.StringVar(&o.Auth.ServerName, "prometheus-server-name", o.Auth.ServerName, "name expected in Prometheus's certificate")
}

// matchersValue is a flag holding a matcher list (ParseMatchers syntax).
type matchersValue struct{ ms *[]Matcher }

func (v *matchersValue) String() string {
	if v.ms == nil {
		return ""
	}
	return FormatMatchers(*v.ms)
}

func (v *matchersValue) Set(s string) error {
	ms, err := ParseMatchers(s)
	if err != nil {
		return err
	}
	*v.ms = ms
	return nil
}

func (*matchersValue) Type() string { return "matchers" }
