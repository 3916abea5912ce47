package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs starts child processes, records each PID under dir/pids (so that
// `headroom sandbox down` from another shell stops them), and stops them
// by PID: SIGTERM, then SIGKILL after a grace period.
type procs struct {
	dir string
	mu  sync.Mutex
	run map[string]*proc
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func newProcs(dir string) (*procs, error) {
	if err := os.MkdirAll(filepath.Join(dir, "pids"), 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	return &procs{dir: dir, run: map[string]*proc{}}, nil
}

// start runs bin with args as name; its output goes to dir/logs/<name>.log
// and, when tee is set, through tee too.
func (p *procs) start(name, bin string, args []string, env []string, tee io.Writer) (*proc, error) {
	return p.startIn("", name, bin, args, env, tee)
}

// startIn is start with the working directory wd ("" is the sandbox's).
func (p *procs) startIn(wd, name, bin string, args []string, env []string, tee io.Writer) (*proc, error) {
	f, err := os.OpenFile(filepath.Join(p.dir, "logs", safeName(name)+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = wd
	var out io.Writer = f
	if tee != nil {
		out = io.MultiWriter(f, tee)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: a Ctrl-C at the terminal reaches the sandbox,
	// which stops its children in order; if the sandbox dies, they get
	// SIGTERM (Pdeathsig).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	pr := &proc{cmd: cmd, done: make(chan struct{})}
	pidFile := filepath.Join(p.dir, "pids", safeName(name)+".pid")
	// The PID and the binary: StopRecorded signals a PID only while it
	// still runs that binary (a PID the kernel reused is left alone).
	exe, _ := filepath.EvalSymlinks(cmd.Path)
	_ = os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"+exe+"\n"), 0o644)
	go func() {
		pr.err = cmd.Wait()
		f.Close()
		_ = os.Remove(pidFile)
		close(pr.done)
	}()
	p.mu.Lock()
	p.run[name] = pr
	p.mu.Unlock()
	return pr, nil
}

// owns reports whether pr is still name's process (not stopped or killed
// by the sandbox).
func (p *procs) owns(name string, pr *proc) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.run[name] == pr
}

// restart starts name again if old is still its (exited) process; nil
// when the sandbox stopped it meanwhile.
func (p *procs) restart(name string, old *proc, bin string, args, env []string, tee io.Writer) (*proc, error) {
	if !p.owns(name, old) {
		return nil, nil
	}
	return p.start(name, bin, args, env, tee)
}

// stop ends name's process: SIGTERM, SIGKILL after grace. Unknown or
// exited: nothing.
func (p *procs) stop(name string, grace time.Duration) {
	p.mu.Lock()
	pr := p.run[name]
	delete(p.run, name)
	p.mu.Unlock()
	if pr == nil {
		return
	}
	pr.terminate(grace)
}

// kill ends name's process at once (a fault: SIGKILL, no shutdown).
func (p *procs) kill(name string) {
	p.mu.Lock()
	pr := p.run[name]
	delete(p.run, name)
	p.mu.Unlock()
	if pr == nil {
		return
	}
	_ = pr.cmd.Process.Kill()
	<-pr.done
}

func (pr *proc) terminate(grace time.Duration) {
	select {
	case <-pr.done:
		return
	default:
	}
	_ = pr.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-pr.done:
	case <-t.C:
		_ = pr.cmd.Process.Kill()
		<-pr.done
	}
}

// names lists the running processes whose names start with prefix.
func (p *procs) names(prefix string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for n := range p.run {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

// stopAll stops every process, in parallel.
func (p *procs) stopAll(grace time.Duration) {
	var wg sync.WaitGroup
	for _, n := range p.names("") {
		wg.Go(func() { p.stop(n, grace) })
	}
	wg.Wait()
}

// StopRecorded stops the processes a sandbox in dir recorded (pids/*.pid),
// for `headroom sandbox down` run from another shell: SIGTERM to each PID,
// then SIGKILL to those still there after grace.
func StopRecorded(ctx context.Context, dir string, grace time.Duration) ([]int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "pids", "*.pid"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		_ = os.Remove(f)
		pidStr, exe, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 1 {
			continue
		}
		if got, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || got != exe {
			continue // gone, or another program now
		}
		if err := syscall.Kill(pid, syscall.SIGTERM); err == nil {
			pids = append(pids, pid)
		}
	}
	deadline := time.Now().Add(grace)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return pids, ctx.Err()
			case <-tick.C:
			}
		}
		if syscall.Kill(pid, 0) != nil {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return pids, fmt.Errorf("killing %d: %w", pid, err)
		}
	}
	return pids, nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, s)
}
