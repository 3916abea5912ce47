package emulator

import (
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/headroom-dev/headroom/policies"
)

func TestFitLogNormal(t *testing.T) {
	tests := []struct {
		mean, p95 time.Duration
		wantErr   bool
	}{
		{38 * time.Millisecond, 70 * time.Millisecond, false},
		{26 * time.Millisecond, 48 * time.Millisecond, false},
		{100 * time.Millisecond, 101 * time.Millisecond, false},
		{10 * time.Millisecond, 38 * time.Millisecond, false}, // 3.8x: near the limit
		{10 * time.Millisecond, 40 * time.Millisecond, true},  // 4x: no fit
		{10 * time.Millisecond, 5 * time.Millisecond, true},
		{0, time.Millisecond, true},
	}
	for _, tc := range tests {
		d, err := FitLogNormal(tc.mean, tc.p95)
		if (err != nil) != tc.wantErr {
			t.Errorf("FitLogNormal(%v, %v) error %v, wantErr %v", tc.mean, tc.p95, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if got := d.Mean(); relErr(got, tc.mean) > 1e-6 {
			t.Errorf("mean %v, want %v", got, tc.mean)
		}
		if got := d.Quantile(0.95); relErr(got, tc.p95) > 1e-6 {
			t.Errorf("p95 %v, want %v", got, tc.p95)
		}
	}
	// The worked example in FitLogNormal's comment.
	d, _ := FitLogNormal(38*time.Millisecond, 70*time.Millisecond)
	if math.Abs(d.Sigma-0.4269) > 5e-4 || math.Abs(d.Mu-(-3.3613)) > 5e-4 {
		t.Errorf("mean 38ms p95 70ms: sigma %.4f mu %.4f", d.Sigma, d.Mu)
	}
}

func TestSampleMatchesFit(t *testing.T) {
	d, err := FitLogNormal(38*time.Millisecond, 70*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	const n = 200000
	xs := make([]float64, n)
	sum := 0.0
	for i := range xs {
		xs[i] = float64(d.Sample(r))
		sum += xs[i]
	}
	sort.Float64s(xs)
	if m := time.Duration(sum / n); relErr(m, 38*time.Millisecond) > 0.01 {
		t.Errorf("sample mean %v, want 38ms within 1%%", m)
	}
	if q := time.Duration(xs[n*95/100]); relErr(q, 70*time.Millisecond) > 0.01 {
		t.Errorf("sample p95 %v, want 70ms within 1%%", q)
	}
}

func relErr(got, want time.Duration) float64 {
	return math.Abs(float64(got-want)) / float64(want)
}

func TestProfileMemory(t *testing.T) {
	for p, want := range map[string]float64{"2g.20gb": 20480, "1g.10gb": 10240, "7g.141gb": 144384, "whole": 0, "2g": 0} {
		if got := ProfileMemoryMiB(p); got != want {
			t.Errorf("%s: %v MiB, want %v", p, got, want)
		}
	}
}

// fakeClock is a settable clock for the load delay.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestLoadDelayAndMemory(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0)}
	reg := prometheus.NewRegistry()
	r, err := New(Options{Class: "reader-de", Profile: "2g.20gb", GPUInstanceID: "3", Pod: "reader-0",
		Namespace: "ml", Container: "reader", LoadDelay: 90 * time.Second, ServiceMean: time.Millisecond,
		ServiceP95: time.Millisecond, ModelMemoryMiB: 14000, Now: clk.Now, Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	defer srv.Close()
	if code := get(t, srv.URL+"/readyz"); code != 503 {
		t.Fatalf("readyz before load: %d, want 503", code)
	}
	if code := post(t, srv.URL+"/infer", `{}`); code != 503 {
		t.Fatalf("infer before load: %d, want 503", code)
	}
	if got := testutil.ToFloat64(r.used); got != 0 {
		t.Fatalf("memory used before load %v, want 0", got)
	}
	clk.Add(90 * time.Second)
	if code := get(t, srv.URL+"/readyz"); code != 200 {
		t.Fatalf("readyz after load: %d, want 200", code)
	}
	if code := post(t, srv.URL+"/infer", `{}`); code != 200 {
		t.Fatalf("infer after load: %d", code)
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`DCGM_FI_DEV_FB_USED{GPU_I_ID="3",GPU_I_PROFILE="2g.20gb",Hostname="",UUID="GPU-emulated-0",container="reader",device="nvidia0",gpu="0",modelName="emulated",namespace="ml",pod="reader-0"} 14000`,
		`DCGM_FI_DEV_FB_FREE{GPU_I_ID="3",GPU_I_PROFILE="2g.20gb",Hostname="",UUID="GPU-emulated-0",container="reader",device="nvidia0",gpu="0",modelName="emulated",namespace="ml",pod="reader-0"} 6480`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s\n%s", want, body)
		}
	}
}

func TestConcurrencyQueueAndAnswer(t *testing.T) {
	r, err := New(Options{Class: "c", Version: "v7", Concurrency: 2, MaxQueue: 2,
		ServiceMean: 200 * time.Millisecond, ServiceP95: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	defer srv.Close()
	var wg sync.WaitGroup
	codes := make([]int, 6)
	for i := range codes {
		wg.Go(func() { codes[i] = post(t, srv.URL+"/v1/infer", `{"x":1}`) })
	}
	wg.Wait()
	ok, full := 0, 0
	for _, c := range codes {
		switch c {
		case 200:
			ok++
		case 503:
			full++
		}
	}
	if ok != 4 || full != 2 {
		t.Fatalf("codes %v: want 4 served (2 slots + 2 queued) and 2 refused", codes)
	}
	resp, err := http.Post(srv.URL+"/x", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	if a.Model != "c" || a.Version != "v7" || a.ServiceMS != 200 {
		t.Fatalf("answer %+v", a)
	}
}

func TestErrorRate(t *testing.T) {
	r, err := New(Options{ErrorRate: 0.5, ServiceMean: time.Microsecond, ServiceP95: time.Microsecond, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	defer srv.Close()
	fails := 0
	for range 200 {
		if post(t, srv.URL+"/x", "{}") == 500 {
			fails++
		}
	}
	if fails < 70 || fails > 130 {
		t.Fatalf("%d of 200 failed at error rate 0.5", fails)
	}
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func post(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestFromClass(t *testing.T) {
	p, err := policies.Load("../../examples/reference")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := p.Class("reader-en-large")
	if !ok {
		t.Fatal("reader-en-large not in examples/reference")
	}
	o, err := FromClass(Options{}, c, "H100-80GB", "3g.40gb")
	if err != nil {
		t.Fatal(err)
	}
	if o.ServiceMean != 45*time.Millisecond || o.ServiceP95 != 85*time.Millisecond || o.Concurrency != 8 ||
		o.LoadDelay != 90*time.Second || o.ModelMemoryMiB != 30*1024 || o.Class != "reader-en-large" {
		t.Fatalf("options %+v", o)
	}
	if _, err := New(o); err != nil {
		t.Fatalf("the class's profile does not give a valid emulator: %v", err)
	}
	// Every profile of every reference class makes a valid emulator.
	for _, cl := range p.Classes {
		for _, pr := range cl.Spec.Profiles {
			o, err := FromClass(Options{}, &cl, pr.GPU, pr.Profile)
			if err == nil {
				_, err = New(o)
			}
			if err != nil {
				t.Errorf("%s %s/%s: %v", cl.Name, pr.GPU, pr.Profile, err)
			}
		}
	}
	if _, err := FromClass(Options{}, c, "", "3g.40gb"); err == nil || !strings.Contains(err.Error(), "several GPUs") {
		t.Fatalf("ambiguous profile: %v", err)
	}
	if _, err := FromClass(Options{}, c, "H100-80GB", "1g.10gb"); err == nil || !strings.Contains(err.Error(), "has no profile") {
		t.Fatalf("missing profile: %v", err)
	}
}
