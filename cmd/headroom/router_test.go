package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/router"
)

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestRouterHashKey(t *testing.T) {
	code, out, errs := runCLI(t, "acme-key-1\n", "router", "hash-key")
	if code != 0 || strings.TrimSpace(out) != router.HashKey("acme-key-1") {
		t.Fatalf("code %d out %q err %q", code, out, errs)
	}
	if code, _, _ := runCLI(t, "", "router", "hash-key"); code == 0 {
		t.Fatal("an empty key must fail")
	}
}

func TestRouterCheck(t *testing.T) {
	code, out, errs := runCLI(t, "", "router", "check", "--config", "../../router/testdata/router.yaml")
	if code != 0 || !strings.HasPrefix(out, "ok: 2 classes, 3 versions, 2 tenants") {
		t.Fatalf("code %d out %q err %q", code, out, errs)
	}
	code, out, _ = runCLI(t, "", "router", "check", "--config", "../../router/testdata/router.yaml", "-o", "json")
	if code != 0 || !strings.Contains(out, `"maxBodyBytes": 1048576`) {
		t.Fatalf("json: code %d out %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("models: []\nbogus: 1\n"), 0o644)
	code, _, errs = runCLI(t, "", "router", "check", "--config", bad)
	if code != 1 || !strings.Contains(errs, "unknown field") {
		t.Fatalf("bad config: code %d err %q", code, errs)
	}
	if code, _, errs := runCLI(t, "", "router"); code != 1 || !strings.Contains(errs, "--config is required") {
		t.Fatalf("no config: code %d err %q", code, errs)
	}
}

// TestRouterAndEmulatorCommands runs both servers in-process on loopback
// and sends one request through.
func TestRouterAndEmulatorCommands(t *testing.T) {
	eaddr, raddr := freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "router.yaml")
	_ = os.WriteFile(cfg, []byte(fmt.Sprintf(`
listen: %q
server: {drainDelay: 10ms}
healthCheck: {interval: 100ms}
models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]
tenants: [{name: acme, keySHA256: [%s]}]
`, raddr, eaddr, router.HashKey("k"))), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 2)
	for _, args := range [][]string{
		{"emulate-reader", "--listen", eaddr, "--class", "a", "--service-mean", "1ms", "--service-p95", "1ms", "--load-delay", "200ms"},
		{"router", "--config", cfg},
	} {
		a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
		root := newRootCmd(a)
		root.SetArgs(args)
		go func() {
			if err := root.ExecuteContext(ctx); err != nil {
				t.Errorf("%v: %v", args[0], err)
			}
			done <- 0
		}()
	}
	defer func() {
		cancel()
		<-done
		<-done
	}()
	// Ready once both listen, the emulator's 200 ms load delay passed and
	// a health check saw it.
	pollUntil(t, "the router becoming ready", func() bool {
		resp, err := http.Get("http://" + raddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	req, _ := http.NewRequest("POST", "http://"+raddr+"/infer", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set("X-Model-Class", "a")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"model":"a"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, err = http.Get("http://" + raddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `headroom_router_requests_total{class="a",code="200",tenant="acme"} 1`) {
		t.Fatalf("metrics lack the request:\n%s", body)
	}
}

// pollUntil checks cond every 10 ms until it holds and fails the test
// after 10 s. The servers here run behind the commands, with no hook to
// wait on: their state over HTTP is the readiness signal.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s never happened", what)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestEmulateReaderFromPolicy: the class's measured profile sets the
// emulator up; an explicit flag still wins.
func TestEmulateReaderFromPolicy(t *testing.T) {
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	root := newRootCmd(&app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
	root.SetArgs([]string{"emulate-reader", "--listen", addr, "--policy", "../../examples/reference",
		"--class", "reader-en-large", "--profile", "3g.40gb", "--gpu-model", "H100-80GB", "--load-delay", "0s",
		"--service-mean", "2ms", "--service-p95", "3ms"})
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var body []byte
	pollUntil(t, "the emulator answering", func() bool {
		resp, err := http.Post("http://"+addr+"/infer", "application/json", strings.NewReader("{}"))
		if err != nil {
			return false
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	var ans struct {
		Model, Profile string
		ServiceMS      float64 `json:"service_ms"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || ans.Model != "reader-en-large" || ans.Profile != "3g.40gb" {
		t.Fatalf("answer %s (%v)", body, err)
	}
	if ans.ServiceMS > 20 {
		t.Fatalf("service time %.1f ms: the explicit --service-mean 2ms should win over the policy's 45 ms", ans.ServiceMS)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Free = the catalog's usable 39.5 GiB of an H100 3g.40gb - the class's 30 GiB.
	if !strings.Contains(string(m), `DCGM_FI_DEV_FB_FREE{GPU_I_ID="",GPU_I_PROFILE="3g.40gb"`) ||
		!strings.Contains(string(m), `pod=""} 9728`) {
		t.Fatalf("metrics:\n%s", m)
	}
}
