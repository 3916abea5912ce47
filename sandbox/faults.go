package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Faults the e2e tests inject (docs/reliability.md, "Faults").

// Steps is a load of constant rates, one after the other: rate req/s for
// each step's duration, evenly spaced.
func Steps(class string, steps ...Step) []Send {
	var out []Send
	at := time.Duration(0)
	for _, st := range steps {
		n := int(st.Rate * st.For.Seconds())
		for i := range n {
			out = append(out, Send{At: at + time.Duration(float64(st.For)*float64(i)/float64(n)), Class: class})
		}
		at += st.For
	}
	return out
}

// Step is one constant rate of Steps.
type Step struct {
	Rate float64
	For  time.Duration
}

// RestartAPIServer stops kube-apiserver (SIGTERM; SIGKILL when it has not
// exited after 15s: its graceful shutdown drains watches for longer) and
// starts it again
// with the same command line, in the same directory, as a process of the
// sandbox (kwokctl's PID file is pointed at it, so kwokctl delete stops it
// too). It returns when the new process has started, not when it serves.
func (s *Sandbox) RestartAPIServer(ctx context.Context) error {
	cdir := filepath.Join(s.Opts.Dir, "kwok", "clusters", s.Opts.Name)
	pidFile := filepath.Join(cdir, "pids", "kube-apiserver.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("kube-apiserver pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("kube-apiserver pid: %w", err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return fmt.Errorf("kube-apiserver %d: %w", pid, err)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping kube-apiserver %d: %w", pid, err)
	}
	if err := waitGone(ctx, pid, 15*time.Second); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if err := waitGone(ctx, pid, 10*time.Second); err != nil {
			return err
		}
	}
	p, err := s.procs.startIn(cdir, "kube-apiserver", args[0], args[1:], nil, nil)
	if err != nil {
		return err
	}
	return os.WriteFile(pidFile, []byte(strconv.Itoa(p.cmd.Process.Pid)), 0o644)
}

func waitGone(ctx context.Context, pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		// A child of kwokctl's, reparented: once it exits it is gone (or a
		// zombie, whose /proc stat says Z).
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || bytes.Contains(st, []byte(") Z ")) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d still there after %s", pid, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// APIReady reports whether the API server answers /readyz.
func (s *Sandbox) APIReady(ctx context.Context) bool {
	var code int
	s.Kube.Discovery().RESTClient().Get().AbsPath("/readyz").Timeout(time.Second).Do(ctx).StatusCode(&code)
	return code == http.StatusOK
}

// Writes are the cloud's write actions, the ones a throttle fault refuses.
var Writes = []string{"UpdateNodegroupConfig", "SetDesiredCapacity", "TerminateInstanceInAutoScalingGroup"}

// Metric reads one series from a /metrics endpoint: the sum of the
// samples of name whose labels include match. ok is false when nothing
// matched or the endpoint did not answer.
func Metric(ctx context.Context, url, name string, match map[string]string) (float64, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	tp := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := tp.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, false
	}
	f := fams[name]
	if f == nil {
		return 0, false
	}
	sum, found := 0.0, false
	for _, m := range f.GetMetric() {
		ok := true
		for k, v := range match {
			if label(m, k) != v {
				ok = false
			}
		}
		if !ok {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, found
}

// ControllerURLOf is the base URL of a controller started on port.
func ControllerURLOf(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }

// FreePort is a free loopback port, for a second controller.
func FreePort() (int, error) { return freePort() }
