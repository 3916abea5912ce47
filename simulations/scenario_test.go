package simulations

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the scenarios' golden files")

// TestScenarios runs every scenario file in testdata/scenarios and
// compares its outcome with <name>.golden.json (go test -update rewrites
// them), then checks the scenario's own expectations.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			var got []byte
			var cmp *Comparison
			sc, err := LoadScenario(f)
			if err == nil {
				cmp, err = sc.Run(context.Background())
			}
			if err != nil {
				got, _ = json.MarshalIndent(map[string]string{"error": err.Error()}, "", "  ")
			} else {
				got, _ = json.MarshalIndent(Summarize(cmp), "", "  ")
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(f, ".yaml") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./simulations -run TestScenarios -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("outcome differs from %s (rerun with -update if intended):\ngot:\n%s", golden, got)
			}
			if cmp != nil {
				for _, miss := range sc.Check(cmp) {
					t.Errorf("expectation: %s", miss)
				}
				var tbl bytes.Buffer
				_ = WriteTable(&tbl, cmp)
				t.Logf("\n%s", tbl.String())
			}
		})
	}
}

// TestDeterministic: the same seed gives byte-identical JSON, timelines
// included (wall seconds aside); another seed gives another result.
func TestDeterministic(t *testing.T) {
	sc, err := LoadScenario("testdata/scenarios/reference-azure-conv.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc.Duration = "5m"
	sc.Baselines = []string{"hpa-ca"}
	run := func() []byte {
		cmp, err := sc.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range cmp.Runs {
			r.WallSeconds = 0 // the machine's time, not the simulation's
		}
		b, _ := json.Marshal(cmp)
		return b
	}
	a, b := run(), run()
	if !bytes.Equal(a, b) {
		t.Fatal("two runs with the same seed differ")
	}
	sc.Seed = 2
	if c := run(); bytes.Equal(a, c) {
		t.Error("a different seed gave the same result")
	}
}
