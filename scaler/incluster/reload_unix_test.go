//go:build unix

package incluster

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestDirHashFIFO: a named pipe in the policy directory changes the hash
// (so the reload runs and reports it) instead of blocking the open.
func TestDirHashFIFO(t *testing.T) {
	dir := copyPolicy(t)
	before, err := dirHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() { h, _ := dirHash(dir); done <- h }()
	select {
	case after := <-done:
		if after == before {
			t.Error("a named pipe did not change the hash")
		}
	case <-time.After(time.Minute): // a watchdog, not a wait: dirHash returns at once when fixed
		t.Fatal("dirHash blocked on the named pipe")
	}
}
