package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/headroom-dev/headroom/binpack"
)

func runPack(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"pack"}, args...), strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestPackReferencePolicy(t *testing.T) {
	code, out, errOut := runPack(t, "--policy", "../../examples/reference", "--demand", "../../binpack/testdata/demand.yaml",
		"--now", "2026-11-30T10:00:00Z", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var plan binpack.Plan
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatal(err)
	}
	if plan.CostPerHour < plan.LowerBound || plan.LowerBound <= 0 || len(plan.Allocations) == 0 {
		t.Fatalf("plan: cost %.2f bound %.2f allocations %d", plan.CostPerHour, plan.LowerBound, len(plan.Allocations))
	}
	for _, a := range plan.Allocations {
		if !strings.HasPrefix(a.Resource, "nvidia.com/") {
			t.Errorf("allocation %+v: resource %q", a, a.Resource)
		}
	}
}

func TestPackTableAndCurrent(t *testing.T) {
	code, out, errOut := runPack(t, "--problem", "../../binpack/testdata/problem.yaml", "--current", "../../binpack/testdata/current.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"lower bound", "NODEGROUP", "nvidia.com/mig.config", "MIG CONFIG", "CHANGES", "WHY", "nvidia.com/mig-3g.40gb: 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestPackErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "demand.yaml")
	os.WriteFile(bad, []byte("apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - name: reader-en-large\n    rate: -3\n"), 0o644)
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - name: reader-xx\n    rate: 3\n"), 0o644)
	huge := filepath.Join(dir, "huge.yaml")
	os.WriteFile(huge, []byte("apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - name: reader-en-large\n    rate: 1e7\n"), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--policy", "../../examples/reference"}, 1, "--demand FILE are required"},
		{[]string{"--policy", "../../examples/reference", "--demand", bad}, 1, "demand.yaml:4: class \"reader-en-large\": rate must be"},
		{[]string{"--policy", "../../examples/reference", "--demand", unknown}, 1, "\"reader-xx\""},
		{[]string{"--policy", "../../examples/reference", "--demand", huge, "--now", "2026-11-30T10:00:00Z"}, 3, "reader-en-large"},
		{[]string{"--problem", "../../binpack/testdata/problem.yaml", "-o", "csv"}, 1, "unknown output format"},
	}
	for _, tc := range cases {
		code, out, errOut := runPack(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q (stdout %d bytes)", tc.args, code, errOut, tc.code, tc.want, len(out))
		}
	}
}

// TestPackHostileDemand: demand the fleet could never hold is a partial
// plan (exit 3) that says so, fast; an endless or huge input file is an
// error, not an out-of-memory crash.
func TestPackHostileDemand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("apiVersion: headroom.dev/v1alpha1\nkind: Demand\nclasses:\n  - name: reader-en-large\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, append([]byte("apiVersion: headroom.dev/v1alpha1\nkind: Demand\n"), bytes.Repeat([]byte("# padding\n"), binpack.MaxFileBytes/10+1)...), 0o644); err != nil {
		t.Fatal(err)
	}
	pol := "../../examples/reference"
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--policy", pol, "--demand", write("r.yaml", "    rate: 1e300\n")}, 3, "more than its nodegroups could ever serve at their max sizes"},
		{[]string{"--policy", pol, "--demand", write("n.yaml", "    replicas: 99999999999\n")}, 3, "at most 192 replicas"},
		{[]string{"--policy", pol, "--demand", big}, 1, "larger than"},
		{[]string{"--policy", pol, "--demand", "/dev/zero"}, 1, "larger than"},
		{[]string{"--problem", "/dev/zero"}, 1, "larger than"},
		{[]string{"--policy", pol, "--demand", write("ok.yaml", "    rate: 10\n"), "--current", "/dev/zero"}, 1, "larger than"},
	} {
		code, _, errOut := runPack(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}
