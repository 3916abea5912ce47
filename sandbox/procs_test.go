package sandbox

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// StopRecorded stops what a sandbox recorded, by PID, and leaves alone a
// PID that now runs another program.
func TestStopRecorded(t *testing.T) {
	dir := t.TempDir()
	ps, err := newProcs(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ps.start("sleeper", "/bin/sleep", []string{"60"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A record naming this test's own PID with another binary: not ours.
	if err := os.WriteFile(filepath.Join(dir, "pids", "stale.pid"), []byte(strconv.Itoa(os.Getpid())+"\n/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pids, err := StopRecorded(t.Context(), dir, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) != 1 || pids[0] != p.cmd.Process.Pid {
		t.Fatalf("stopped %v, want only the sleeper %d", pids, p.cmd.Process.Pid)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the sleeper still runs")
	}
}
