package policies

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExamplesLintClean keeps every bundled example policy valid: the
// reference fleet is what new users read first.
func TestExamplesLintClean(t *testing.T) {
	dirs, err := filepath.Glob("../examples/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		n++
		t.Run(filepath.Base(dir), func(t *testing.T) {
			p, err := Load(dir)
			if err != nil {
				t.Fatalf("policy lint %s: %v", dir, err)
			}
			if len(p.Classes) == 0 || len(p.NodeGroups) == 0 {
				t.Fatalf("%s: %d classes, %d nodegroups; want some of each", dir, len(p.Classes), len(p.NodeGroups))
			}
		})
	}
	if n == 0 {
		t.Fatal("no example directories found")
	}
}
