package policies

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secret is what a hostile pull request wants to see in the CI log.
const secret = "root:x:0:0:hunter2:/root:/bin/bash"

// hostileDir is a policy directory with a valid policy.yaml beside the
// entries add makes; outside is a file out of it holding the secret.
func hostileDir(t *testing.T, add func(dir, outside string)) string {
	t.Helper()
	base := t.TempDir()
	outside := filepath.Join(base, "passwd")
	must(t, os.WriteFile(outside, []byte(secret+"\n"+secret+"\n"), 0o644))
	dir := filepath.Join(base, "policy")
	must(t, os.Mkdir(dir, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "policy.yaml"), minimal(t), 0o644))
	add(dir, outside)
	return dir
}

// TestLoadRefusesLinksOut: a symlink out of the policy directory, by
// absolute or relative target, or through a linked subdirectory, is a
// finding at the link, and the linked file's content appears nowhere.
func TestLoadRefusesLinksOut(t *testing.T) {
	cases := map[string]func(dir, outside string){
		"absolute": func(dir, outside string) { must(t, os.Symlink(outside, filepath.Join(dir, "zz.yaml"))) },
		"relative": func(dir, _ string) { must(t, os.Symlink("../passwd", filepath.Join(dir, "zz.yaml"))) },
		"via a link in the directory": func(dir, _ string) {
			must(t, os.Symlink("../passwd", filepath.Join(dir, ".up")))
			must(t, os.Symlink(".up", filepath.Join(dir, "zz.yaml")))
		},
	}
	for name, add := range cases {
		t.Run(name, func(t *testing.T) {
			dir := hostileDir(t, add)
			_, err := Load(dir)
			got := findingsText(err)
			if strings.Contains(got, "hunter2") || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the linked file's content leaked:\n%s", got)
			}
			want := filepath.Join(dir, "zz.yaml") + ":1:1: symbolic link leads outside the policy directory"
			if !strings.Contains(got, want) {
				t.Fatalf("want a finding %q, got:\n%s", want, got)
			}
		})
	}
}

// TestLoadFollowsLinksInside: links that stay in the directory load, as
// a Kubernetes ConfigMap mount lays them out (file -> ..data/file).
func TestLoadFollowsLinksInside(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "..2026_01_01", "x"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "..2026_01_01", "policy.yaml"), minimal(t), 0o644))
	must(t, os.Symlink("..2026_01_01", filepath.Join(dir, "..data")))
	must(t, os.Symlink("..data/policy.yaml", filepath.Join(dir, "policy.yaml")))
	p, err := Load(dir)
	if err != nil || len(p.Classes) != 1 {
		t.Fatalf("got %v, %v", p, err)
	}
}

// TestLoadBadEntriesAreFindings: a symlink loop, a dangling link and a
// linked directory are each one finding, and the rest of the directory is
// still checked (the valid policy.yaml loads, so no other finding).
func TestLoadBadEntriesAreFindings(t *testing.T) {
	dir := hostileDir(t, func(dir, _ string) {
		must(t, os.Symlink("b.yaml", filepath.Join(dir, "a.yaml")))
		must(t, os.Symlink("a.yaml", filepath.Join(dir, "b.yaml")))
		must(t, os.Symlink("gone.txt", filepath.Join(dir, "dangling.yaml")))
		must(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
		must(t, os.Symlink("sub", filepath.Join(dir, "dir.yaml")))
	})
	_, err := Load(dir)
	if !IsFindings(err) {
		t.Fatalf("want findings, got %v", err)
	}
	got := findingsText(err)
	for _, want := range []string{
		"a.yaml:1:1: symbolic link loop",
		"b.yaml:1:1: symbolic link loop",
		"dangling.yaml:1:1: symbolic link to a file that does not exist",
		"dir.yaml:1:1: not a regular file (a directory)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want a finding %q, got:\n%s", want, got)
		}
	}
	if n := len(FindingsOf(err)); n != 4 {
		t.Errorf("want 4 findings, got %d:\n%s", n, got)
	}
}

// TestFindingsQuoteShortExcerpts: a file that parses as one long YAML
// string (as /etc/passwd does) is named by a short, escaped excerpt, never
// echoed whole; control characters stay escaped.
func TestFindingsQuoteShortExcerpts(t *testing.T) {
	long := strings.Repeat(secret+"\n", 50)
	for name, src := range map[string]string{
		"whole document":   long,
		"field value":      "apiVersion: headroom.dev/v1alpha1\nkind: ModelClass\nmetadata: {name: a}\nspec:\n  tenants: \"" + strings.Repeat("x", 5000) + "\"\n",
		"unknown key":      "apiVersion: headroom.dev/v1alpha1\nkind: ModelClass\nmetadata: {name: a}\nspec:\n  ? " + strings.Repeat("k", 5000) + "\n  : 1\n",
		"kind":             "apiVersion: headroom.dev/v1alpha1\nkind: \"" + strings.Repeat("K", 5000) + "\\n::error::x\"\n",
		"control in value": "apiVersion: headroom.dev/v1alpha1\nkind: ModelClass\nmetadata: {name: a}\nspec:\n  image: \"a\\nb\\r::error file=x::pwned\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(src))
			if !IsFindings(err) {
				t.Fatalf("want findings, got %v", err)
			}
			for _, f := range FindingsOf(err) {
				if len(f.Message) > 400 {
					t.Errorf("message of %d bytes: %.120s...", len(f.Message), f.Message)
				}
				if strings.ContainsAny(f.String(), "\n\r") {
					t.Errorf("finding with a raw line break: %q", f.String())
				}
			}
		})
	}
}

// TestParseHostileYAML: inputs that attack the YAML parser or the decoder
// end as findings, fast.
func TestParseHostileYAML(t *testing.T) {
	head := "apiVersion: headroom.dev/v1alpha1\nkind: ModelClass\nmetadata: {name: a}\nspec:\n"
	for _, tc := range []struct{ name, src, want string }{
		{"deep nesting", head + "  tenants: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n", "exceeded max depth"},
		{"nesting within the parser's depth", head + "  tenants: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n", "spec.tenants[0]: want a string, got a list"},
		{"billion laughs", billionLaughs(), "spec.tenants[8]: want a string, got a list"},
		{"NUL and invalid UTF-8", head + "  image: \"a\x00b\xff\"\n", "invalid YAML"},
		{"merge key", head + "  <<: {image: x}\n", `unknown field "<<"`},
		{"NaN", head + "  slo: {latency: 300ms, percentile: .nan}\n", "want a finite number"},
		{"negative duration", head + "  slo: {latency: -300ms}\n", "spec.slo.latency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tc.src))
			if got := findingsText(err); !strings.Contains(got, tc.want) {
				t.Fatalf("want a finding containing %q, got:\n%s", tc.want, got)
			}
		})
	}
}

// billionLaughs nests nine levels of nine aliases: 9^9 strings if
// expanded.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("apiVersion: headroom.dev/v1alpha1\nkind: ModelClass\nmetadata: {name: a}\nspec:\n  image: &l0 lol\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "  x%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 9), ", "))
	}
	b.WriteString("  tenants: *l9\n")
	return b.String()
}
