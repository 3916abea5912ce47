package policies

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes to the loader. It must never panic, and a
// policy it accepts must be consistent: valid again after re-defaulting,
// explainable, and equal to itself under Diff. Seeds: the example fleet
// and every lint case.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../examples/*/*.yaml")
	cases, _ := filepath.Glob("testdata/lint/*/*.yaml")
	var all []string
	for _, s := range append(seeds, cases...) {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		all = append(all, string(b))
	}
	// The whole reference fleet as one file, so seeds can pass validation.
	f.Add([]byte(strings.Join(all[:len(seeds)], "\n---\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !IsFindings(err) {
				t.Fatalf("Parse returned a non-findings error: %v", err)
			}
			for _, fd := range FindingsOf(err) {
				if fd.Message == "" {
					t.Fatalf("finding without message: %+v", fd)
				}
			}
			return
		}
		Default(p)
		if fs := Validate(p); len(fs) > 0 {
			t.Fatalf("accepted policy fails validation after re-defaulting: %v", fs)
		}
		if ch := Diff(p, p); len(ch) > 0 {
			t.Fatalf("policy differs from itself: %v", ch)
		}
		e := Explain(p)
		if err := e.WriteText(new(strings.Builder)); err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(e); err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC) // a DST change in Europe
		for i := range p.Classes {
			c := &p.Classes[i]
			if m := c.MinReplicasAt(now); m < c.Spec.Scaling.MinReplicas || m > c.Spec.Scaling.MaxReplicas {
				t.Fatalf("%s: MinReplicasAt %d outside [%d, %d]", c.Name, m, c.Spec.Scaling.MinReplicas, c.Spec.Scaling.MaxReplicas)
			}
			p.Horizon(c)
		}
	})
}
