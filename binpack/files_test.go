package binpack

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestParseFilesFromTestdata(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	d, err := ParseDemand("demand.yaml", read("demand.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Classes) != 3 || d.Classes[0].Line == 0 || d.Classes[2].Capacity[0].Rate != 60 {
		t.Fatalf("demand: %+v", d)
	}
	st, err := ParseState("current.yaml", read("current.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != 1 || len(st.Nodes[0].GPUs) != 2 || st.Nodes[0].GPUs[0].Layout.String() != "3g.40gb@0+3g.40gb@4" {
		t.Fatalf("state: %+v", st)
	}
	p, err := ParseProblem("problem.yaml", read("problem.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.NodeGroups[2].Layout.String(); got == "" {
		t.Fatal("mig-fixed layout not placed")
	}
}

func TestFileErrorsHaveLines(t *testing.T) {
	cases := []struct {
		name, kind, text, want string
	}{
		{"unknown field", KindDemand, "apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - name: a\n    rat: 3\n", "line 5"},
		{"negative rate", KindDemand, "apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - name: a\n    rate: 3\n  - name: b\n    rate: -1\n", "demand.yaml:6: class \"b\": rate must be"},
		{"NaN rate", KindDemand, "apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - name: a\n    rate: .nan\n", ":4: class \"a\": rate must be"},
		{"both", KindDemand, "apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - {name: a, rate: 1, replicas: 2}\n", "not both"},
		{"twice", KindDemand, "apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - {name: a, rate: 1}\n  - {name: a, rate: 2}\n", "listed twice (first at line 4)"},
		{"wrong kind", KindDemand, "apiVersion: headroom.dev/v1alpha1\nkind: Demands\nclasses: []\n", "kind \"Demands\""},
		{"bad yaml", KindDemand, "apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses: [\n", "line"},
		{"json", KindDemand, `{"apiVersion": "headroom.dev/v1alpha1", "kind": "Demand", "classes": [{"name": "a", "rate": -2}]}`, "rate must be"},
		{"capacity without rate", KindDemand, "apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - name: a\n    rate: 3\n    capacity: [{gpu: A100-80GB, profile: 1g.10gb}]\n", "demand.yaml:4: class \"a\": capacity for A100-80GB 1g.10gb: rate must be a positive"},
		{"fits false with a rate", KindDemand, "apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - name: a\n    rate: 3\n    capacity: [{gpu: A100-80GB, profile: 1g.10gb, fits: false, rate: 4}]\n", "fits: false takes no rate or memoryGiB"},
		{"bad memory", KindDemand, "apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - name: a\n    rate: 3\n    capacity: [{gpu: A100-80GB, profile: 1g.10gb, memoryGiB: -2}]\n", "memoryGiB must be a positive number of GiB, got -2"},
		{"record twice", KindDemand, "apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - name: a\n    rate: 3\n    capacity: [{gpu: A100-80GB, profile: 1g.10gb, rate: 1}, {gpu: A100-80GB, profile: 1g.10gb, fits: false}]\n", "capacity for A100-80GB 1g.10gb listed twice"},
		{"record without profile", KindDemand, "apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - name: a\n    rate: 3\n    capacity: [{gpu: A100-80GB, rate: 1}]\n", "gpu and profile are required"},
		{"state slot without class", KindClusterState, "apiVersion: headroom.dev/v1alpha1\nkind: ClusterState\nnodes:\n  - name: n1\n    nodeGroup: g\n    gpus:\n      - index: 0\n        slots: [{profile: whole, start: 0}]\n", "demand.yaml:4: node \"n1\": GPU 0: a slot has no class"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.kind == KindDemand {
				_, err = ParseDemand("demand.yaml", []byte(tc.text))
			} else {
				_, err = ParseState("demand.yaml", []byte(tc.text))
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestGoldenPlan solves testdata/problem.yaml with and without
// testdata/current.yaml and compares the plan's JSON with the golden files
// (go test -run TestGoldenPlan -update rewrites them).
func TestGoldenPlan(t *testing.T) {
	data, err := os.ReadFile("testdata/problem.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile("testdata/current.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, withCurrent := range []bool{false, true} {
		name := "plan.golden.json"
		p, err := ParseProblem("problem.yaml", data, nil)
		if err != nil {
			t.Fatal(err)
		}
		if withCurrent {
			name = "plan-from-current.golden.json"
			if p.Current, err = ParseState("current.yaml", cur); err != nil {
				t.Fatal(err)
			}
		}
		plan, err := Solve(p)
		if err != nil {
			t.Fatal(err)
		}
		if bad := checkPlan(p, plan); len(bad) > 0 {
			t.Fatalf("violates:\n%s", strings.Join(bad, "\n"))
		}
		got := []byte(planJSON(t, plan))
		var buf bytes.Buffer
		buf.Write(got)
		buf.WriteByte('\n')
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if !bytes.Equal(want, buf.Bytes()) {
			t.Errorf("%s differs from the plan; rerun with -update if the change is intended:\n%s", path, firstDiff(string(want), buf.String()))
		}
	}
}

// TestProblemFits: an option marked fits: false is left out with a note
// that reaches the plan's reasons; with a capacity too it is an error that
// names the class, option and field, at the class's line.
func TestProblemFits(t *testing.T) {
	head := "apiVersion: headroom.dev/v1alpha1\nkind: PackingProblem\nnodeGroups:\n  - {name: a100, instanceType: p4de.24xlarge, mode: mig-dynamic, max: 1}\nclasses:\n"
	p, err := ParseProblem("p.yaml", []byte(head+"  - name: bert\n    rate: 10\n    options:\n      - {gpu: A100-80GB, profile: 1g.10gb, fits: false}\n      - {gpu: A100-80GB, profile: 2g.20gb, capacity: 44, memoryGiB: 6.7}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Classes[0]; len(c.Options) != 1 || c.Options[0].Profile != "2g.20gb" || len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "1g.10gb: the model does not fit") {
		t.Fatalf("class: %+v", c)
	}
	plan, err := Solve(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range plan.Allocations {
		if a.Profile == "1g.10gb" {
			t.Errorf("placed on a profile marked fits: false: %+v", a)
		}
	}
	_, err = ParseProblem("p.yaml", []byte(head+"  - name: ok\n    rate: 1\n    options: [{gpu: A100-80GB, profile: 1g.10gb, capacity: 3}]\n  - name: bert\n    rate: 10\n    options:\n      - {gpu: A100-80GB, profile: 1g.10gb, fits: false, capacity: 3}\n"), nil)
	if err == nil || !strings.Contains(err.Error(), `p.yaml:9: class "bert": option 0 (A100-80GB 1g.10gb): fits: false takes no capacity`) {
		t.Fatalf("got %v", err)
	}
}

func firstDiff(a, b string) string {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			lo := max(0, i-80)
			return fmt.Sprintf("want ...%s...\ngot  ...%s...", a[lo:min(len(a), i+80)], b[lo:min(len(b), i+80)])
		}
	}
	return "lengths differ"
}

func FuzzParseDemand(f *testing.F) {
	if b, err := os.ReadFile("testdata/demand.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - {name: a, rate: .nan}\n"))
	f.Add([]byte(`{"apiVersion":"headroom.dev/v1alpha1","kind":"Demand","classes":[{"name":"x","replicas":-1}]}`))
	f.Add([]byte("apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - name: a\n    rate: 3\n    capacity:\n      - {gpu: A100-80GB, profile: 1g.10gb, fits: false}\n      - {gpu: A100-80GB, profile: 3g.40gb, memoryGiB: 22.5}\n      - {gpu: A100-80GB, profile: 7g.80gb, rate: 9, memoryGiB: 30}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDemand("fuzz.yaml", data)
		if err == nil {
			for _, c := range d.Classes {
				if c.Name == "" || (c.Rate == nil) == (c.Replicas == nil) {
					t.Fatalf("accepted a bad class: %+v", c)
				}
				for _, cr := range c.Capacity {
					switch {
					case cr.NoFit() && (cr.Rate != 0 || cr.MemoryGiB != nil):
						t.Fatalf("accepted fits: false with figures: %+v", cr)
					case cr.MemoryGiB != nil && !(*cr.MemoryGiB > 0 && !math.IsInf(*cr.MemoryGiB, 0)):
						t.Fatalf("accepted memoryGiB %v", *cr.MemoryGiB)
					case !cr.NoFit() && cr.MemoryGiB == nil && !(cr.Rate > 0 && !math.IsInf(cr.Rate, 0)):
						t.Fatalf("accepted a record without a usable rate: %+v", cr)
					}
				}
			}
		}
	})
}

func FuzzParseState(f *testing.F) {
	if b, err := os.ReadFile("testdata/current.yaml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseState("fuzz.yaml", data)
		if err != nil {
			return
		}
		// A parsed state never crashes the solver.
		p := smallProblem()
		p.Current = st
		p.Options = fuzzOptions
		_, _ = Solve(p)
	})
}

// fuzzOptions keep a fuzzed solve to milliseconds: the fuzzers look for
// crashes and broken plans, which a short search finds as well as a long
// one. The size limits are low so that any demand is cheap: the solver's
// own bounds (boundDemand) are what keeps hostile numbers in check.
var fuzzOptions = Options{BoundIterations: 20, RepairRounds: 3, ImprovePasses: 1, Workers: 1, MaxReplicas: 3000, MaxGPUs: 1000}

func FuzzParseProblem(f *testing.F) {
	for _, name := range []string{"testdata/problem.yaml", "testdata/mig/scenario-1.yaml"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProblem("fuzz.yaml", data, nil)
		if err != nil || len(p.Classes) > 8 || len(p.NodeGroups) > 8 {
			return
		}
		// No bound on the numbers: demand, sizes and time slices of any
		// size must come back as a plan or an error, in bounded work.
		p.Options = fuzzOptions
		plan, err := Solve(p)
		if err != nil && !IsInvalid(err) && !IsInfeasible(err) {
			t.Fatalf("untyped error: %v", err)
		}
		if plan != nil {
			if bad := checkPlan(p, plan); len(bad) > 0 {
				t.Fatalf("violates:\n%s", strings.Join(bad, "\n"))
			}
		}
	})
}
