package policies

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// minimal is testdata/lint/valid-minimal: one nodegroup, one class.
func minimal(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/lint/valid-minimal/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, src string) *Policy {
	t.Helper()
	p, err := Parse("policy.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func findingsText(err error) string {
	var lines []string
	for _, f := range FindingsOf(err) {
		lines = append(lines, f.String())
	}
	return strings.Join(lines, "\n")
}

func TestLimits(t *testing.T) {
	src := minimal(t)
	tests := []struct {
		name   string
		limits Limits
		data   string
		want   string
	}{
		{"file too large", Limits{MaxFileBytes: 100}, string(src), "larger than 100 bytes"},
		{"too many documents", Limits{MaxDocuments: 2}, string(src), "more than 2 documents"},
		{"alias expansion", Limits{MaxNodes: 50}, aliasBomb(), "too many alias expansions"},
		{"within limits", Limits{}, string(src), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Loader{Limits: tt.limits}.Parse("policy.yaml", []byte(tt.data))
			got := findingsText(err)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want no error, got %v", err)
				}
				return
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("want a finding containing %q, got:\n%s", tt.want, got)
			}
		})
	}
}

// aliasBomb is a "billion laughs" document: each level of tenants aliases
// the previous one nine times.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("apiVersion: headroom.dev/v1alpha1\nkind: ModelClass\nmetadata: {name: bomb}\nspec:\n  x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	return b.String() + "  tenants: [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\n"
}

func TestLoadFileSizeLimitOnDisk(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("# padding\n", 200)
	if err := os.WriteFile(filepath.Join(dir, "big.yaml"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Loader{Limits: Limits{MaxFileBytes: 1000}}.Load(dir)
	if got := findingsText(err); !strings.Contains(got, "big.yaml:1:1: file is larger than 1000 bytes") {
		t.Fatalf("got %q", got)
	}
}

func TestLoadDirectories(t *testing.T) {
	t.Run("missing directory is an error, not a finding", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope"))
		if err == nil || IsFindings(err) || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("empty directory", func(t *testing.T) {
		_, err := Load(t.TempDir())
		if !strings.Contains(findingsText(err), "no *.yaml or *.yml policy files") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("subdirectories and hidden files are not read", func(t *testing.T) {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, "policy.yml"), minimal(t), 0o644))
		must(t, os.Mkdir(filepath.Join(dir, "old"), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "old", "broken.yaml"), []byte("{{{"), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, ".draft.yaml"), []byte("{{{"), 0o644))
		p, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Classes) != 1 {
			t.Fatalf("got %d classes", len(p.Classes))
		}
	})
	t.Run("a file path loads that file", func(t *testing.T) {
		p, err := Load("testdata/lint/valid-minimal/policy.yaml")
		if err != nil || len(p.NodeGroups) != 1 {
			t.Fatalf("got %v, %v", p, err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestDefaults checks the defaults written in types.go's doc comments on
// the minimal policy, which sets almost nothing.
func TestDefaults(t *testing.T) {
	p := mustParse(t, string(minimal(t)))
	c := p.Classes[0].Spec
	ng := p.NodeGroups[0].Spec
	cl := p.Cluster.Spec
	tests := []struct {
		name      string
		got, want any
	}{
		{"tenancy", cl.Tenancy, TenancyShared},
		{"maxNodesDraining", cl.Disruption.MaxNodesDraining, 1},
		{"cluster maxUnavailable", cl.Disruption.MaxUnavailable, "25%"},
		{"class maxUnavailable from cluster", c.Disruption.MaxUnavailable, "25%"},
		{"model source", c.Model.Source, ModelSourceEFS},
		{"loadTime", c.Model.LoadTime.Duration, 60 * time.Second},
		{"concurrency", c.Profiles[0].Concurrency, 1},
		{"p95 = 2 x mean", c.Profiles[0].ServiceTime.P95.Duration, 76 * time.Millisecond},
		{"percentile", c.SLO.Percentile, 95.0},
		{"errorBudget", c.SLO.ErrorBudget, 0.001},
		{"minReplicas", c.Scaling.MinReplicas, 1},
		{"maxReplicas", c.Scaling.MaxReplicas, 100},
		{"scaleUp window", c.Scaling.ScaleUp.StabilizationWindow.Duration, time.Duration(0)},
		{"scaleUp percent", *c.Scaling.ScaleUp.Percent, 100},
		{"scaleUp pods", *c.Scaling.ScaleUp.Pods, 4},
		{"scaleUp period", c.Scaling.ScaleUp.Period.Duration, 15 * time.Second},
		{"scaleUp select", c.Scaling.ScaleUp.Select, SelectMax},
		{"scaleDown window", c.Scaling.ScaleDown.StabilizationWindow.Duration, 300 * time.Second},
		{"scaleDown percent", *c.Scaling.ScaleDown.Percent, 100},
		{"scaleDown pods unset", c.Scaling.ScaleDown.Pods == nil, true},
		{"tolerance", *c.Scaling.Tolerance, 0.1},
		{"panic threshold", c.Scaling.Panic.Threshold, 2.0},
		{"panic window", c.Scaling.Panic.Window.Duration, 6 * time.Second},
		{"panic stable", c.Scaling.Panic.StableWindow.Duration, 60 * time.Second},
		{"forecast quantile", c.Scaling.Forecast.Quantile, 0.95},
		{"spot", c.Placement.Spot, SpotAllowed},
		{"minOnDemandFraction", c.Placement.MinOnDemandFraction, 0.0},
		{"nodegroup kind", ng.Kind, NodeGroupEKSManaged},
		{"cloudName", ng.CloudName, "gpu-p5"},
		{"capacityType", ng.CapacityType, CapacityOnDemand},
		{"bootTime GPU", ng.BootTime.Duration, 5 * time.Minute},
		{"repartitionTime", ng.GPU.RepartitionTime.Duration, 2 * time.Minute},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestDefaultsDependOnContext(t *testing.T) {
	src := string(minimal(t)) + `---
apiVersion: headroom.dev/v1alpha1
kind: NodeGroup
metadata: {name: cpu}
spec: {instanceType: m6i.2xlarge, size: {max: 20}}
---
apiVersion: headroom.dev/v1alpha1
kind: ModelClass
metadata: {name: store}
spec:
  image: store:1
  model: {path: s3://bucket/store}
  resources: {cpu: "1", memory: 2Gi}
  profiles: [{profile: cpu, serviceTime: {mean: 5ms}}]
  slo: {latency: 50ms}
  scaling: {minReplicas: 150, scaleUp: {pods: 2}}
  placement: {spot: never}
`
	p := mustParse(t, src)
	ng, _ := p.NodeGroup("cpu")
	c, _ := p.Class("store")
	if ng.Spec.GPU.Mode != GPUModeNone || ng.Spec.BootTime.Duration != 2*time.Minute || ng.Spec.GPU.RepartitionTime.Duration != 0 {
		t.Errorf("CPU nodegroup: mode %q boot %s repartition %s", ng.Spec.GPU.Mode, ng.Spec.BootTime, ng.Spec.GPU.RepartitionTime)
	}
	if c.Spec.Model.Source != ModelSourceS3 {
		t.Errorf("source %q, want s3 from the s3:// path", c.Spec.Model.Source)
	}
	if c.Spec.Scaling.MaxReplicas != 150 {
		t.Errorf("maxReplicas %d, want it raised to minReplicas 150", c.Spec.Scaling.MaxReplicas)
	}
	if c.Spec.Scaling.ScaleUp.Percent != nil || *c.Spec.Scaling.ScaleUp.Pods != 2 {
		t.Errorf("a rule that names pods keeps only pods, as HPA does")
	}
	if c.Spec.Placement.MinOnDemandFraction != 1 {
		t.Errorf("spot never: minOnDemandFraction %g, want 1", c.Spec.Placement.MinOnDemandFraction)
	}
}

// TestDefaultIdempotent: defaulting a loaded policy again changes nothing.
func TestDefaultIdempotent(t *testing.T) {
	p, err := Load("../examples/reference")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(p)
	Default(p)
	after, _ := json.Marshal(p)
	if string(before) != string(after) {
		t.Fatal("Default changed an already defaulted policy")
	}
	if f := Validate(p); len(f) > 0 {
		t.Fatalf("Validate of a loaded policy: %v", f)
	}
}

func TestFindingString(t *testing.T) {
	tests := []struct {
		f    Finding
		want string
	}{
		{Finding{File: "a.yaml", Line: 3, Column: 5, Field: "spec.x", Message: "bad"}, "a.yaml:3:5: spec.x: bad"},
		{Finding{File: "dir", Message: "empty"}, "dir: empty"},
		{Finding{Object: "ModelClass/r", Field: "spec.y", Message: "bad"}, "ModelClass/r: spec.y: bad"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestValidateBuiltInCode: a Policy built in code (no files) validates
// with findings that name the object instead of a file.
func TestValidateBuiltInCode(t *testing.T) {
	p := &Policy{
		NodeGroups: []NodeGroup{{Name: "g", Spec: NodeGroupSpec{InstanceType: "p5.48xlarge", Size: Size{Max: 2}}}},
		Classes: []ModelClass{{Name: "r", Spec: ModelClassSpec{
			Image: "r:1", Model: ModelArtifact{Path: "/m"},
			Profiles: []ServiceProfile{{GPU: "H100-80GB", Profile: "whole", ServiceTime: ServiceTime{Mean: D(time.Millisecond)}}},
			SLO:      SLO{Latency: D(time.Second)},
		}}},
	}
	Default(p)
	f := Validate(p)
	if len(f) != 1 || f[0].String() != "ModelClass/r: spec.gpuMemory: missing; set the GPU memory one replica needs, e.g. 14Gi" {
		t.Fatalf("got %v", f)
	}
}

func replaceOnce(t testing.TB, s, old, new string) string {
	t.Helper()
	if strings.Count(s, old) != 1 {
		t.Fatalf("%q occurs %d times", old, strings.Count(s, old))
	}
	return strings.Replace(s, old, new, 1)
}
