package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updatePolicy = flag.Bool("update-policy", false, "rewrite cmd/headroom/testdata/policy-*.golden")

func runPolicyCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func policyGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updatePolicy {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/headroom -run %s -update-policy)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update-policy if intended)\n--- got\n%s", path, got)
	}
}

const (
	refPolicy = "../../examples/reference"
	badPolicy = "../../policies/testdata/lint/missing-nodegroup"
)

func TestPolicyLint(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		code      int
		stdoutHas string
		stderrHas string
	}{
		{"clean", []string{"policy", "lint", refPolicy}, 0, "reference: ok (9 classes, 6 nodegroups)", ""},
		{"findings", []string{"policy", "lint", badPolicy}, 1,
			`policy.yaml:24:36: spec.placement.nodeGroups[1]: nodegroup "gpu-p5-spott" does not exist`, "2 finding(s)"},
		{"several dirs: all reported", []string{"policy", "lint", badPolicy, refPolicy}, 1, "reference: ok", "2 finding(s)"},
		{"missing dir", []string{"policy", "lint", "no/such/dir"}, 2, "", "reading policy directory"},
		{"bad format", []string{"policy", "lint", "-o", "xml", refPolicy}, 2, "", "unknown output format"},
		{"github annotations", []string{"policy", "lint", "-o", "github", badPolicy}, 1,
			"::error file=../../policies/testdata/lint/missing-nodegroup/policy.yaml,line=24,col=36::spec.placement.nodeGroups[1]: nodegroup \"gpu-p5-spott\" does not exist", ""},
		{"no args", []string{"policy", "lint"}, 2, "", "requires at least 1 arg"},
		{"unknown flag", []string{"policy", "lint", "--strict", refPolicy}, 2, "", "unknown flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runPolicyCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.stdoutHas) || !strings.Contains(errOut, tt.stderrHas) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
		})
	}
}

func TestPolicyLintJSON(t *testing.T) {
	code, out, _ := runPolicyCLI(t, "policy", "lint", "-o", "json", badPolicy, refPolicy)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var res []struct {
		Dir      string
		OK       bool
		Findings []struct {
			File    string
			Line    int
			Column  int
			Field   string
			Message string
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(res) != 2 || res[0].OK || len(res[0].Findings) != 2 || !res[1].OK || res[1].Findings == nil {
		t.Fatalf("got %+v", res)
	}
	f := res[0].Findings[0]
	if f.Line != 24 || f.Column != 36 || f.Field != "spec.placement.nodeGroups[1]" {
		t.Fatalf("first finding %+v", f)
	}
}

func TestPolicyExplain(t *testing.T) {
	code, out, errOut := runPolicyCLI(t, "policy", "explain", refPolicy)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	policyGolden(t, "policy-explain-reference.golden", out)

	code, out, _ = runPolicyCLI(t, "policy", "explain", "-o", "json", refPolicy)
	var e struct {
		Classes []struct {
			Name    string
			Horizon string
			Options []struct{ NodeGroup, Profile string }
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &e) != nil || len(e.Classes) != 9 {
		t.Fatalf("exit %d, json:\n%.500s", code, out)
	}
	if e.Classes[0].Name != "document-store" || e.Classes[0].Horizon != "2m30s" || e.Classes[0].Options[0].Profile != "cpu" {
		t.Errorf("first class %+v", e.Classes[0])
	}

	code, out, _ = runPolicyCLI(t, "policy", "explain", "-o", "yaml", refPolicy)
	if code != 0 || !strings.Contains(out, "horizon: 9m30s") {
		t.Errorf("yaml: exit %d\n%.300s", code, out)
	}

	code, _, errOut = runPolicyCLI(t, "policy", "explain", badPolicy)
	if code != 1 || !strings.Contains(errOut, "gpu-p5-spott") || !strings.Contains(errOut, "has findings") {
		t.Errorf("explain of a bad policy: exit %d, stderr %s", code, errOut)
	}
}

func TestPolicyDiff(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"cluster.yaml", "nodegroups.yaml", "readers.yaml", "retrieval.yaml"} {
		b, err := os.ReadFile(filepath.Join(refPolicy, f))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		s = strings.Replace(s, "scaling: {minReplicas: 2, maxReplicas: 20}", "scaling: {minReplicas: 4, maxReplicas: 20}", 1)
		s = strings.Replace(s, "costCeiling: 400", "costCeiling: 450", 1)
		if err := os.WriteFile(filepath.Join(dir, f), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"no change", []string{"policy", "diff", refPolicy, refPolicy}, 0, ""},
		{"changed", []string{"policy", "diff", refPolicy, dir}, 1,
			"cluster: spec.costCeiling 400 -> 450\nreader-de-small: spec.scaling.minReplicas 2 -> 4\n"},
		{"bad policy", []string{"policy", "diff", refPolicy, badPolicy}, 2, ""},
		{"missing dir", []string{"policy", "diff", refPolicy, "no/such"}, 2, ""},
		{"one dir", []string{"policy", "diff", refPolicy}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runPolicyCLI(t, tt.args...)
			if code != tt.code || out != tt.out {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nwant:\n%s\nstderr: %s", code, tt.code, out, tt.out, errOut)
			}
		})
	}
	code, out, _ := runPolicyCLI(t, "policy", "diff", "-o", "json", refPolicy, dir)
	var res struct {
		Changed bool
		Changes []struct{ Kind, Name, Op, Field, Old, New string }
	}
	if code != 1 || json.Unmarshal([]byte(out), &res) != nil || !res.Changed || len(res.Changes) != 2 {
		t.Fatalf("json: exit %d\n%s", code, out)
	}
	if c := res.Changes[1]; c.Kind != "ModelClass" || c.Name != "reader-de-small" || c.Old != "2" || c.New != "4" {
		t.Errorf("got %+v", c)
	}
}

func TestCatalogWithPolicy(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(refPolicy, "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "  dryRun: false\n", `  dryRun: false
  catalog:
    prices: [{instanceType: p5.48xlarge, onDemand: 50.5, spot: 21.25, date: "2026-10-01"}]
`, 1)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "cluster.yaml"), []byte(s), 0o644))
	for _, f := range []string{"nodegroups.yaml", "readers.yaml", "retrieval.yaml"} {
		b, err := os.ReadFile(filepath.Join(refPolicy, f))
		must(err)
		must(os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	code, out, errOut := runPolicyCLI(t, "catalog", "--policy", dir)
	if code != 0 || !strings.Contains(out, "50.500") || !strings.Contains(out, "21.250") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runPolicyCLI(t, "catalog")
	if code != 0 || strings.Contains(out, "50.500") || !strings.Contains(out, "55.040") {
		t.Fatalf("built-in catalog changed: exit %d", code)
	}
	code, _, errOut = runPolicyCLI(t, "catalog", "--policy", badPolicy)
	if code != 1 || !strings.Contains(errOut, "has findings") {
		t.Fatalf("bad policy: exit %d %s", code, errOut)
	}
}

// TestPolicyLintHostileDirectory: a pull request that adds a link to a
// file outside the policy directory gets one finding per output format and
// never the file's content in the CI log; a file name or value that holds
// a line break cannot start a workflow command of its own.
func TestPolicyLintHostileDirectory(t *testing.T) {
	base := t.TempDir()
	secret := filepath.Join(base, "passwd")
	if err := os.WriteFile(secret, []byte("root:x:0:0:hunter2:/root:/bin/bash\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "policy")
	src, err := os.ReadFile(filepath.Join(badPolicy, "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		os.Mkdir(dir, 0o755),
		os.WriteFile(filepath.Join(dir, "policy.yaml"), src, 0o644),
		os.Symlink(secret, filepath.Join(dir, "zz.yaml")),
		os.WriteFile(filepath.Join(dir, "x\n::error::pwned.yaml"), []byte("kind: \"a\\n::error::pwned\"\n"), 0o644),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, format := range []string{"text", "json", "github"} {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := runPolicyCLI(t, "policy", "lint", "-o", format, dir)
			if code != 1 {
				t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if strings.Contains(out+errOut, "hunter2") {
				t.Fatalf("the linked file's content is in the output:\n%s", out)
			}
			if !strings.Contains(out, "symbolic link leads outside the policy directory") {
				t.Fatalf("no finding for the link:\n%s", out)
			}
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, "::") && !strings.HasPrefix(line, "::error file=") || strings.Contains(line, "pwned") && strings.HasPrefix(line, "::error::") {
					t.Fatalf("a workflow command the file wrote: %q", line)
				}
			}
		})
	}
}
