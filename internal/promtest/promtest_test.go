package promtest

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func TestConfig(t *testing.T) {
	got := Config(Options{Targets: []string{"127.0.0.1:1", "127.0.0.1:2"}, Job: "j", ScrapeInterval: 500 * time.Millisecond})
	want := `global:
  scrape_interval: 500ms
  evaluation_interval: 500ms
scrape_configs:
  - job_name: "j"
    scrape_timeout: 500ms
    static_configs:
      - targets: ["127.0.0.1:1", "127.0.0.1:2"]
`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// TestStartAndQuery runs the real server against a one-gauge target.
func TestStartAndQuery(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "promtest_answer"})
	g.Set(42)
	reg.MustRegister(g)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	p := Start(t, Options{Targets: []string{srv.Listener.Addr().String()}})
	v, ok := p.WaitFor(t, "promtest_answer", 20*time.Second, func(_ float64, ok bool) bool { return ok })
	if !ok || v != 42 {
		t.Fatalf("promtest_answer = %v (found %v), want 42\n%s", v, ok, p.Logs())
	}
	if _, ok, err := p.Scalar(t.Context(), "absent_metric"); err != nil || ok {
		t.Fatalf("absent metric: ok %v err %v", ok, err)
	}
	p.Stop()
	if _, _, err := p.Scalar(t.Context(), "promtest_answer"); err == nil {
		t.Fatal("a query after Stop must fail")
	}
	p.Stop() // twice is fine
}

func TestMissingBinarySkips(t *testing.T) {
	if Binary("/nonexistent/prometheus") == "" && Binary("") == "" {
		t.Skip("no prometheus here at all")
	}
	if got := Binary("/nonexistent/prometheus"); got == "/nonexistent/prometheus" {
		t.Fatal("a missing override must not be returned")
	}
}
