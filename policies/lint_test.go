package policies

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

var update = flag.Bool("update", false, "rewrite the expected outputs in testdata")

// golden compares got with testdata file path, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./policies -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update if the change is intended)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestLintCases loads every directory under testdata/lint and compares
// its findings with the directory's expected.txt. Each directory is one
// class of bad input; valid-minimal is the clean baseline the others bend.
func TestLintCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/lint/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no lint cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			p, err := Load(dir)
			var b strings.Builder
			switch {
			case IsFindings(err):
				for _, f := range FindingsOf(err) {
					b.WriteString(f.String() + "\n")
					if f.File == "" || f.Line == 0 {
						t.Errorf("finding without a position: %s", f)
					}
					if f.Message == "" {
						t.Errorf("finding without a message: %+v", f)
					}
				}
				if p != nil {
					t.Error("Load returned a policy along with findings")
				}
			case err != nil:
				t.Fatalf("Load: %v", err)
			default:
				b.WriteString("ok\n")
			}
			golden(t, filepath.Join(dir, "expected.txt"), b.String())
		})
	}
}

// TestAllFindingsInOneRun: a typo in any subset of the reference classes
// gives exactly one finding per typo, each at its own line, in one run.
func TestAllFindingsInOneRun(t *testing.T) {
	readers, err := os.ReadFile("../examples/reference/readers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var others []string
	for _, f := range []string{"cluster.yaml", "nodegroups.yaml", "retrieval.yaml"} {
		b, err := os.ReadFile(filepath.Join("../examples/reference", f))
		if err != nil {
			t.Fatal(err)
		}
		others = append(others, string(b))
	}
	docs := strings.Split(string(readers), "\n---\n")
	rapid.Check(t, func(t *rapid.T) {
		mutated := 0
		out := make([]string, len(docs))
		for i, d := range docs {
			out[i] = d
			if rapid.Bool().Draw(t, fmt.Sprintf("typo%d", i)) {
				out[i] = strings.Replace(d, "\nspec:\n", "\nspec:\n  minReplica: 3\n", 1)
				mutated++
			}
		}
		src := strings.Join(append(others, strings.Join(out, "\n---\n")), "\n---\n")
		_, err := Parse("fleet.yaml", []byte(src))
		fs := FindingsOf(err)
		if len(fs) != mutated {
			t.Fatalf("%d typos, %d findings: %v", mutated, len(fs), fs)
		}
		lines := map[int]bool{}
		for _, f := range fs {
			if !strings.Contains(f.Message, `unknown field "minReplica"`) || lines[f.Line] {
				t.Fatalf("unexpected finding %s", f)
			}
			lines[f.Line] = true
		}
	})
}
