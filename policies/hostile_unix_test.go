//go:build unix

package policies

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadFIFOIsAFinding: a named pipe in the policy directory would block
// a read forever; it is a finding instead, and nothing opens it.
func TestLoadFIFOIsAFinding(t *testing.T) {
	dir := hostileDir(t, func(dir, _ string) {
		must(t, syscall.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o644))
		must(t, os.Symlink("pipe.yaml", filepath.Join(dir, "link.yaml")))
	})
	done := make(chan error, 1)
	go func() { _, err := Load(dir); done <- err }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute): // a watchdog, not a wait: Load returns at once when fixed
		t.Fatal("Load blocked on the FIFO")
	}
	got := findingsText(err)
	for _, f := range []string{"pipe.yaml", "link.yaml"} {
		if want := f + ":1:1: not a regular file (a named pipe)"; !strings.Contains(got, want) {
			t.Errorf("want %q, got:\n%s", want, got)
		}
	}
}
