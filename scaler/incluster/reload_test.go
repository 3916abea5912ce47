package incluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
)

// copyPolicy copies the reference policy into a temporary directory.
func copyPolicy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob("../../examples/reference/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("reference policy: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A change that does not load keeps the last good policy and says so once;
// the next good change is taken; an unchanged directory is not reloaded.
func TestReloaderKeepsTheLastGoodPolicy(t *testing.T) {
	dir := copyPolicy(t)
	r, err := NewReloader(dir, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Load(); err != nil {
		t.Fatal(err)
	}
	if p := r.Check(); p != nil {
		t.Fatal("reloaded an unchanged directory")
	}
	bad := filepath.Join(dir, "zz-bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: headroom.dev/v1alpha1\nkind: ModelClass\nmetadata: {name: x}\nspec: {bogus: 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p := r.Check(); p != nil {
		t.Fatal("a policy that does not lint was put in force")
	}
	r.Check() // the same bad content: reported once
	if got := testutil.ToFloat64(r.errors); got != 1 {
		t.Errorf("reload errors %v, want 1", got)
	}
	if testutil.ToFloat64(r.stale) != 1 || r.LastError == nil || !strings.Contains(r.LastError.Error(), "bogus") {
		t.Errorf("stale %v, last error %v", testutil.ToFloat64(r.stale), r.LastError)
	}
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	p := r.Check()
	if p == nil || testutil.ToFloat64(r.stale) != 0 || r.LastError != nil {
		t.Fatalf("fixed policy not taken: %v, stale %v", r.LastError, testutil.ToFloat64(r.stale))
	}
	if testutil.ToFloat64(r.reloads) != 1 {
		t.Errorf("reloads %v, want 1", testutil.ToFloat64(r.reloads))
	}
}

// A ConfigMap mount keeps old data in hidden ..<timestamp> directories;
// they are not part of the policy.
func TestDirHashSkipsHiddenDirs(t *testing.T) {
	dir := copyPolicy(t)
	before, err := dirHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "..2026_12_07_10_00_00.123")
	if err := os.Mkdir(old, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "x.yaml"), []byte("junk: ["), 0o644); err != nil {
		t.Fatal(err)
	}
	if after, _ := dirHash(dir); after != before {
		t.Error("a hidden directory changed the hash")
	}
}
