package prom

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestDefaults(t *testing.T) {
	c := mustNew(t, Options{Address: "http://prom:9090"})
	o := c.o
	if o.Timeout != 10*time.Second || o.Staleness != 90*time.Second || o.MinRange != 30*time.Second {
		t.Errorf("durations %v %v %v", o.Timeout, o.Staleness, o.MinRange)
	}
	if o.Names != DefaultNames() || o.Logger == nil {
		t.Errorf("names %+v", o.Names)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		o    Options
		want []string // substrings of the error; all must appear
	}{
		{"no address", Options{}, []string{"address is required"}},
		{"no scheme", Options{Address: "prom:9090"}, []string{"want http(s)://"}},
		{"other scheme", Options{Address: "ftp://prom"}, []string{"want http(s)://"}},
		{"negative durations", Options{Address: "http://p", Timeout: -1, Staleness: -1, MinRange: -1},
			[]string{"timeout -1ns must not be negative", "staleness -1ns", "min range -1ns"}},
		{"min range below a second", Options{Address: "http://p", MinRange: 500 * time.Millisecond}, []string{"below one second"}},
		{"bad names", Options{Address: "http://p", Names: Names{Class: "model-class", FBUsed: "DCGM FB"}},
			[]string{`class label "model-class"`, `FB used metric "DCGM FB"`}},
		{"bad error codes", Options{Address: "http://p", Names: Names{ErrorCodes: "5(("}}, []string{"error codes"}},
		{"bad matchers", Options{Address: "http://p", RouterMatchers: []Matcher{{"ns", "==", "x"}},
			GPUMatchers: []Matcher{{"1ns", "=", "x"}}}, []string{"router matcher 0", "GPU matcher 0"}},
		{"token and basic auth", Options{Address: "http://p", Auth: Auth{BearerTokenFile: "/t", Username: "u", PasswordFile: "/p"}},
			[]string{"at most one of basic_auth"}},
		{"password without user", Options{Address: "http://p", Auth: Auth{PasswordFile: "/p"}}, []string{"needs a username"}},
		{"cert without key", Options{Address: "http://p", Auth: Auth{CertFile: "/c"}}, []string{"both a cert file and a key file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			o.PodClass = noPods
			_, err := New(o)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := New(Options{Address: "http://p"}); err == nil || !strings.Contains(err.Error(), "PodClass") {
		t.Errorf("no resolver: %v", err)
	}
	// A CA file that does not exist fails at New, not at the first tick.
	_, err := New(Options{Address: "https://p", PodClass: noPods, Auth: Auth{CAFile: filepath.Join(dir, "none.pem")}})
	if err == nil || !strings.Contains(err.Error(), "none.pem") {
		t.Errorf("missing CA file: %v", err)
	}
	// A path prefix is kept (Thanos, a proxy).
	if _, err := New(Options{Address: "https://thanos.example/prometheus/", PodClass: noPods}); err != nil {
		t.Error(err)
	}
}

func TestAddFlags(t *testing.T) {
	var o Options
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	o.AddFlags(fs)
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := fs.Parse([]string{"--prometheus-url", "http://prom:9090", "--prometheus-timeout", "3s",
		"--prometheus-min-range", "1m", "--prometheus-router-matchers", `namespace="inference", job=~"router.*"`,
		"--prometheus-gpu-matchers", `{exported_namespace="ml"}`, "--prometheus-bearer-token-file", tok})
	if err != nil {
		t.Fatal(err)
	}
	if o.Address != "http://prom:9090" || o.Timeout != 3*time.Second || o.MinRange != time.Minute ||
		o.Staleness != 90*time.Second || o.Auth.BearerTokenFile != tok {
		t.Errorf("options %+v", o)
	}
	if want := []Matcher{{"namespace", "=", "inference"}, {"job", "=~", "router.*"}}; !slices.Equal(o.RouterMatchers, want) {
		t.Errorf("router matchers %v", o.RouterMatchers)
	}
	if f := fs.Lookup("prometheus-router-matchers"); f.Value.String() != `namespace="inference",job=~"router.*"` {
		t.Errorf("flag value %q", f.Value.String())
	}
	if len(o.GPUMatchers) != 1 || o.GPUMatchers[0].Name != "exported_namespace" {
		t.Errorf("gpu matchers %v", o.GPUMatchers)
	}
	o.PodClass = noPods
	if _, err := New(o); err != nil {
		t.Error(err)
	}
	bad := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	bad.SetOutput(&strings.Builder{})
	(&Options{}).AddFlags(bad)
	if err := bad.Parse([]string{"--prometheus-gpu-matchers", `namespace=ml`}); err == nil || !strings.Contains(err.Error(), "quoted value") {
		t.Errorf("bad matcher flag: %v", err)
	}
}

func TestParseMatchers(t *testing.T) {
	tests := []struct {
		in   string
		want []Matcher
		err  string
	}{
		{"", nil, ""},
		{"  {}  ", nil, ""},
		{`a="x"`, []Matcher{{"a", "=", "x"}}, ""},
		{`{a!="", b=~"x|y" ,c!~ ` + "`z.*`" + `}`, []Matcher{{"a", "!=", ""}, {"b", "=~", "x|y"}, {"c", "!~", "z.*"}}, ""},
		{`a="with \"quotes\", and a comma"`, []Matcher{{"a", "=", `with "quotes", and a comma`}}, ""},
		{`a="x",`, []Matcher{{"a", "=", "x"}}, ""},
		{`a=x`, nil, "quoted value"},
		{`a="x" b="y"`, nil, "want a comma"},
		{`a=="x"`, nil, "quoted value"},
		{`a<"x"`, nil, "want one of"},
		{`1a="x"`, nil, "want a label name"},
		{`a=~"("`, nil, "missing closing"},
		{`a="\xff"`, nil, "not UTF-8"},
		{`a="unterminated`, nil, "bad quoted value"},
		{`{a="x"`, nil, "unbalanced"},
		{`a='x'`, nil, "quoted value"},
	}
	for _, tt := range tests {
		got, err := ParseMatchers(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if s := FormatMatchers([]Matcher{{"a", "=", "x\ny"}, {"b", "!~", `\d+`}}); s != `a="x\ny",b!~"\\d+"` {
		t.Errorf("format %s", s)
	}
}
