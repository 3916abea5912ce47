package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// policyRepo makes a Git repository in a temporary directory whose
// policy/ is examples/reference, committed once; it returns the repo and
// the policy directory.
func policyRepo(t *testing.T) (repo, dir string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no git CLI")
		}
		t.Skip("no git CLI")
	}
	repo = t.TempDir()
	dir = filepath.Join(repo, "policy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../examples/reference/*.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644)
	}
	gitT(t, repo, "init", "-q")
	commitAll(t, repo, "the reference fleet")
	return repo, dir
}

func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func commitAll(t *testing.T, repo, msg string) {
	t.Helper()
	gitT(t, repo, "add", "-A")
	gitT(t, repo, "commit", "-q", "-m", msg)
}

// edit replaces old by new once in the policy file name.
func edit(t *testing.T, dir, name, old, new string) {
	t.Helper()
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	if err != nil || !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q (%v)", p, old, err)
	}
	os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644)
}

const reLargeMax = "    minReplicas: 3\n    maxReplicas: 40\n"

// Five minutes of the Azure trace x1000, all on reader-en-large: about
// 5,000 requests/s, which needs far more than 8 replicas.
var whatifLoad = []string{"--trace", azureConv, "--scale", "1000", "--duration", "5m", "--mix", "reader-en-large=1"}

func TestWhatifBreakingChangeExits1(t *testing.T) {
	repo, dir := policyRepo(t)
	edit(t, dir, "readers.yaml", reLargeMax, "    minReplicas: 3\n    maxReplicas: 8\n")
	commitAll(t, repo, "cap reader-en-large at 8 replicas")
	code, out, errOut := runSimCLI(t, append([]string{"whatif", "--base", "HEAD~1", "--head", "HEAD", "--policy-dir", dir, "-o", "markdown"}, whatifLoad...)...)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (head breaks reader-en-large's SLO):\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"### headroom what-if: HEAD~1 (", "❌ **FAIL: head breaks the SLO of 1 class(es) that base met: reader-en-large",
		"| within SLO (all requests) |", "| cost $/week |", "|---|---:|---:|---:|",
		"| reader-en-large | 400 ms | 95% |", "❌ broken", "| hpa-ca |", "| clairvoyant |",
		"reader-en-large: spec.scaling.maxReplicas 40 -> 8",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("comment lacks %q:\n%s", want, out)
		}
	}
	if len(out) >= 64<<10 {
		t.Errorf("comment is %d bytes, over GitHub's 64 KiB", len(out))
	}
}

func TestWhatifHarmlessChangeExits0(t *testing.T) {
	repo, dir := policyRepo(t)
	edit(t, dir, "readers.yaml", reLargeMax, "    minReplicas: 3\n    maxReplicas: 60\n")
	commitAll(t, repo, "let reader-en-large grow to 60")
	report := filepath.Join(t.TempDir(), "whatif.html")
	code, out, errOut := runSimCLI(t, append([]string{"whatif", "--base", "HEAD~1", "--policy-dir", dir, "--baseline", "none", "--no-bound", "-o", "json", "--report", report}, whatifLoad...)...)
	if code != 0 {
		t.Fatalf("exit %d, want 0:\n%s\n%s", code, out, errOut)
	}
	if b, err := os.ReadFile(report); err != nil || !strings.Contains(string(b), `<table id="runs">`) {
		t.Errorf("report %s: %v", report, err)
	}
	var wi struct {
		Pass    bool   `json:"pass"`
		Verdict string `json:"verdict"`
		Head    struct {
			Ref   string `json:"ref"`
			Dirty bool   `json:"dirty"`
		} `json:"head"`
		Changes []struct{ Name, Field, Old, New string } `json:"policyChanges"`
		Others  []any                                    `json:"others"`
		Classes []struct {
			Class string `json:"class"`
			Head  struct {
				MaxReplicas int `json:"maxReplicas"`
			} `json:"head"`
		} `json:"classes"`
	}
	if err := json.Unmarshal([]byte(out), &wi); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if !wi.Pass || !strings.HasPrefix(wi.Verdict, "PASS") || wi.Head.Ref != "HEAD" || wi.Head.Dirty || len(wi.Others) != 0 {
		t.Errorf("verdict %+v", wi)
	}
	if len(wi.Changes) != 1 || wi.Changes[0].Field != "spec.scaling.maxReplicas" || wi.Changes[0].New != "60" {
		t.Errorf("changes %+v", wi.Changes)
	}
}

// Uncommitted changes on the checked-out HEAD are head.
func TestWhatifDirtyWorkTreeIsHead(t *testing.T) {
	repo, dir := policyRepo(t)
	edit(t, dir, "readers.yaml", reLargeMax, "    minReplicas: 3\n    maxReplicas: 8\n")
	code, out, errOut := runSimCLI(t, append([]string{"whatif", "--base", "HEAD", "--policy-dir", dir, "--baseline", "none", "--no-bound"}, whatifLoad...)...)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "+ uncommitted changes") || !strings.Contains(out, "maxReplicas 40 -> 8") {
		t.Errorf("head is not the work tree:\n%s", out)
	}
	_ = repo
}

func TestWhatifCannotRun(t *testing.T) {
	repo, dir := policyRepo(t)
	edit(t, dir, "readers.yaml", reLargeMax, "    minReplicas: 3\n    maxReplicas: 2\n")
	commitAll(t, repo, "a policy that does not lint")
	args := append([]string{"--policy-dir", dir, "--baseline", "none", "--no-bound"}, whatifLoad...)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"head has findings", []string{"--base", "HEAD~1"}, "HEAD:policy/readers.yaml:25:18: spec.scaling.maxReplicas"},
		{"unknown revision", []string{"--base", "no-such-branch"}, `revision "no-such-branch": not a commit`},
		{"no base", nil, "--base is required"},
		{"not a repository", []string{"--base", "HEAD", "--policy-dir", t.TempDir()}, "not in a Git work tree"},
		{"bad format", []string{"--base", "HEAD~1", "-o", "yaml"}, "unknown output format"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runSimCLI(t, append(append([]string{"whatif"}, args...), c.args...)...)
			if code != 2 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr lacks %q:\n%s%s", code, c.want, errOut, out)
			}
		})
	}
}

func TestPolicyFiles(t *testing.T) {
	ls := "100644 blob aaa\tcluster.yaml\x00100644 blob bbb\tnotes.md\x00040000 tree ccc\tsub.yaml\x00100644 blob ddd\tx.yml\x00"
	got := policyFiles(ls)
	if len(got) != 2 || got[0] != (treeEntry{"aaa", "cluster.yaml"}) || got[1] != (treeEntry{"ddd", "x.yml"}) {
		t.Errorf("got %+v", got)
	}
}

// Whatever git prints, the files to write are plain names in the
// directory: no path escapes the temporary checkout.
func FuzzPolicyFiles(f *testing.F) {
	f.Add("100644 blob aaa\tcluster.yaml\x00")
	f.Add("100644 blob aaa\t../../etc/x.yaml\x00100644 blob b\t.yaml\x00")
	f.Fuzz(func(t *testing.T, ls string) {
		for _, e := range policyFiles(ls) {
			if e.name != filepath.Base(e.name) || strings.ContainsAny(e.name, "/\\") || e.name == ".." || e.object == "" {
				t.Fatalf("entry %+v", e)
			}
			if ext := filepath.Ext(e.name); ext != ".yaml" && ext != ".yml" {
				t.Fatalf("entry %+v", e)
			}
		}
	})
}
