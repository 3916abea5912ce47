package router

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected files in testdata")

// TestExampleConfig parses the documented example and compares the
// defaulted result with testdata/router.defaults.json (-update rewrites it).
func TestExampleConfig(t *testing.T) {
	c, err := LoadFile("testdata/router.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "router.defaults.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./router -run TestExampleConfig -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("defaulted config differs from %s (rerun with -update if intended):\n%s", golden, got)
	}
}

func TestConfigErrors(t *testing.T) {
	const base = `
models:
  - class: a
    versions: [{name: v1, endpoints: ["127.0.0.1:1"]}]
`
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", base + "bogus: 1\n", "unknown field"},
		{"no models", "listen: ':1'\n", "at least one model class"},
		{"bad class name", strings.Replace(base, "class: a", "class: A B", 1), "want 1-63 characters"},
		{"bad endpoint", strings.Replace(base, "127.0.0.1:1", "nohost", 1), "not host:port"},
		{"zero weights", strings.Replace(base, "name: v1,", "name: v1, weight: 0,", 1) +
			"  - class: b\n    versions: [{name: v1, weight: 0, endpoints: ['h:1']}, {name: v2, weight: 0, endpoints: ['h:2']}]\n", "add up to 0"},
		{"duplicate class", base + "  - class: a\n    versions: [{name: v1, endpoints: ['h:1']}]\n", "duplicate"},
		{"bad key digest", base + "tenants: [{name: t, keySHA256: [abc]}]\n", "64 hex digits"},
		{"unknown tenant class", base + "tenants: [{name: t, classes: [zzz]}]\n", "unknown class"},
		{"bad source", base + "classify: {class: [{from: cookie}]}\n", "want path, header, query or body"},
		{"bad balancer", strings.Replace(base, "- class: a", "- class: a\n    balancer: round-robin", 1), "balancer \"round-robin\": want least-outstanding or p2c"},
		{"bare duration", base + "server: {readTimeout: 5}\n", "duration must be a string"},
		{"negative duration", base + "server: {readTimeout: -5s}\n", "negative"},
		{"anonymous not a tenant", base + "auth: {anonymousTenant: nobody}\n", "not a tenant"},
		{"tracing without endpoint", base + "tracing: {enabled: true}\n", "tracing.endpoint"},
		{"retry attempts", base + "retry: {maxAttempts: 9}\n", "maxAttempts"},
		{"endpoints and service", strings.Replace(base, `endpoints: ["127.0.0.1:1"]`, `endpoints: ["127.0.0.1:1"], service: {namespace: ml, name: r}`, 1), "not both"},
		{"service without name", strings.Replace(base, `endpoints: ["127.0.0.1:1"]`, `service: {namespace: ml}`, 1), "namespace and name are required"},
		{"reserved class", strings.Replace(base, "class: a", "class: none", 1), "reserved"},
		{"reserved tenant", base + "tenants: [{name: none}]\n", "reserved"},
		{"duplicate key", base + "tenants:\n  - {name: t, keySHA256: [" + HashKey("k") + "]}\n  - {name: u, keySHA256: [" + HashKey("k") + "]}\n", "also belongs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("want an error containing %q", tc.want)
			}
			if !IsConfigError(err) {
				t.Errorf("want a *ConfigError, got %T", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Parse([]byte("models: [{class: a, maxInFlight: 8, versions: [{name: v1, endpoints: ['h:1']}]}]\n" +
		"tenants: [{name: t, keySHA256: ['SHA256:" + strings.ToUpper(HashKey("k")) + "'], rateLimit: 50}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Models[0].MaxQueue; got != 32 {
		t.Errorf("maxQueue default = %d, want 4 x maxInFlight = 32", got)
	}
	if got := c.Tenants[0].KeySHA256[0]; got != HashKey("k") {
		t.Errorf("key digest not normalised: %q", got)
	}
	if got := c.Tenants[0].Burst; got != 50 {
		t.Errorf("burst default = %d, want the rate, 50", got)
	}
	if c.Tracing.Enabled {
		t.Error("tracing must be off by default")
	}
	if _, err := Parse([]byte("models: [{class: a, versions: [{name: v1, service: {namespace: ml, name: reader-a, port: http}}]}]")); err != nil {
		t.Errorf("a service-backed version: %v", err)
	}
}

// FuzzParseConfig: any bytes either parse into a config that validates
// and reads back the same from its JSON (the -o json of router check), or
// give a *ConfigError; never a panic. Inputs over maxFuzzConfig bytes are
// skipped: the YAML decoder's cost grows with the input, and the fuzzer,
// left alone, grows inputs until a worker spends seconds on each (5 runs
// in 60 s before this bound; thousands a second with it).
func FuzzParseConfig(f *testing.F) {
	if b, err := os.ReadFile("testdata/router.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("models: [{class: a, versions: [{name: v1, endpoints: ['h:1']}]}]"))
	f.Add([]byte("listen: ':1'\nmetricsListen: ':2'\nmodels: [{class: a, timeout: 1s, attemptTimeout: 50ms, versions: [{name: v1, weight: 2, endpoints: ['h:1', 'h:2']}, {name: v2, service: {namespace: n, name: s}}]}]\n"))
	f.Add([]byte("tenants: [{name: t, keySHA256: ['sha256:" + strings.Repeat("ab", 32) + "'], rateLimit: 5, classes: [a]}]\nauth: {anonymousTenant: t}\n"))
	f.Add([]byte("classify: {class: [{from: path, segment: 2}, {from: body, field: a.b}, {from: query, name: m}]}\n"))
	f.Add([]byte("server: {readTimeout: 5}\n"))
	f.Add([]byte("{{{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzConfig {
			return
		}
		c, err := Parse(b)
		if err != nil {
			if !IsConfigError(err) {
				t.Fatalf("error %v is not a *ConfigError", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("a parsed config does not validate: %v", err)
		}
		j, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(j)
		if err != nil {
			t.Fatalf("its JSON does not parse: %v\n%s", err, j)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("its JSON reads back otherwise:\n%+v\n%+v", c, again)
		}
	})
}

// maxFuzzConfig bounds FuzzParseConfig's inputs: the example config
// (testdata/router.yaml) is about 2 KiB.
const maxFuzzConfig = 4 << 10
