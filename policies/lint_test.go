package policies

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
