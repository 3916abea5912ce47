package prom

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/headroom-dev/headroom/router"
)

func noPods(string, string) (string, bool) { return "", false }

func mustNew(t testing.TB, o Options) *Client {
	t.Helper()
	if o.PodClass == nil {
		o.PodClass = noPods
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClassQueries pins the exact queries, which docs/controller.md and
// doc.go quote: rate() over a window of at least MinRange, irate() over
// MinRange below it.
func TestClassQueries(t *testing.T) {
	c := mustNew(t, Options{Address: "http://prom:9090"})
	stable, err := c.ClassQueries(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := ClassQueries{
		Rate:       `sum by (class) (rate(headroom_router_requests_total{class!="none"}[1m]))`,
		P50:        `histogram_quantile(0.5, sum by (class, le) (rate(headroom_router_request_duration_seconds_bucket{class!="none"}[1m])))`,
		P95:        `histogram_quantile(0.95, sum by (class, le) (rate(headroom_router_request_duration_seconds_bucket{class!="none"}[1m])))`,
		P99:        `histogram_quantile(0.99, sum by (class, le) (rate(headroom_router_request_duration_seconds_bucket{class!="none"}[1m])))`,
		InFlight:   `sum by (class) (avg_over_time(headroom_router_in_flight_requests{class!="none"}[1m]))`,
		ErrorShare: `(sum by (class) (rate(headroom_router_requests_total{class!="none",code=~"5.."}[1m])) or 0 * sum by (class) (rate(headroom_router_requests_total{class!="none"}[1m]))) / sum by (class) (rate(headroom_router_requests_total{class!="none"}[1m]))`,
		At:         `max by (class) (timestamp(headroom_router_requests_total{class!="none"}))`,
	}
	if stable != want {
		t.Errorf("60s window:\n got %+v\nwant %+v", stable, want)
	}
	short, _ := c.ClassQueries(6 * time.Second)
	wantPanic := ClassQueries{
		Rate:       `sum by (class) (irate(headroom_router_requests_total{class!="none"}[30s]))`,
		P50:        `histogram_quantile(0.5, sum by (class, le) (irate(headroom_router_request_duration_seconds_bucket{class!="none"}[30s])))`,
		P95:        `histogram_quantile(0.95, sum by (class, le) (irate(headroom_router_request_duration_seconds_bucket{class!="none"}[30s])))`,
		P99:        `histogram_quantile(0.99, sum by (class, le) (irate(headroom_router_request_duration_seconds_bucket{class!="none"}[30s])))`,
		InFlight:   `sum by (class) (last_over_time(headroom_router_in_flight_requests{class!="none"}[30s]))`,
		ErrorShare: `(sum by (class) (irate(headroom_router_requests_total{class!="none",code=~"5.."}[30s])) or 0 * sum by (class) (irate(headroom_router_requests_total{class!="none"}[30s]))) / sum by (class) (irate(headroom_router_requests_total{class!="none"}[30s]))`,
		At:         want.At,
	}
	if short != wantPanic {
		t.Errorf("6s window:\n got %+v\nwant %+v", short, wantPanic)
	}
	// The boundary: a window of exactly MinRange is rate() over it.
	if q, _ := c.ClassQueries(30 * time.Second); !strings.HasPrefix(q.Rate, "sum by (class) (rate(") || !strings.Contains(q.Rate, "[30s]") {
		t.Errorf("30s window: %s", q.Rate)
	}
	if q, _ := c.ClassQueries(90*time.Second + 500*time.Millisecond); !strings.Contains(q.Rate, "[1m30s500ms]") {
		t.Errorf("90.5s window: %s", q.Rate)
	}
	for _, w := range []time.Duration{0, -time.Second, 100 * time.Microsecond} {
		if _, err := c.ClassQueries(w); err == nil {
			t.Errorf("window %v must be refused", w)
		}
		if _, err := c.ClassStats(t.Context(), t0, w); err == nil {
			t.Errorf("ClassStats with window %v must fail", w)
		}
	}
}

func TestQueriesWithMatchersAndNames(t *testing.T) {
	n := DefaultNames()
	n.Class, n.Pod, n.Namespace = "model_class", "exported_pod", "exported_namespace"
	c := mustNew(t, Options{Address: "http://prom:9090", Names: n, Staleness: 45 * time.Second, MinRange: 20 * time.Second,
		RouterMatchers: []Matcher{{"namespace", MatchEqual, "inference"}},
		GPUMatchers:    []Matcher{{"exported_namespace", MatchRegexp, `ml|ml-"canary"`}}})
	q, _ := c.ClassQueries(10 * time.Second)
	if want := `sum by (model_class) (irate(headroom_router_requests_total{model_class!="none",namespace="inference"}[20s]))`; q.Rate != want {
		t.Errorf("rate:\n got %s\nwant %s", q.Rate, want)
	}
	g := c.GPUQueries()
	if want := `DCGM_FI_DEV_FB_USED{exported_pod!="",exported_namespace=~"ml|ml-\"canary\""} and (timestamp(DCGM_FI_DEV_FB_USED{exported_pod!="",exported_namespace=~"ml|ml-\"canary\""}) >= time() - 45)`; g.Used != want {
		t.Errorf("used:\n got %s\nwant %s", g.Used, want)
	}
	d := mustNew(t, Options{Address: "http://prom:9090"}).GPUQueries()
	if want := `DCGM_FI_DEV_FB_FREE{pod!=""} and (timestamp(DCGM_FI_DEV_FB_FREE{pod!=""}) >= time() - 90)`; d.Free != want {
		t.Errorf("free:\n got %s\nwant %s", d.Free, want)
	}
}

// TestDefaultsAreTheRouterContract: the default names are the router's
// metric contract verbatim, as docs/router.md and the shipped rules have it.
func TestDefaultsAreTheRouterContract(t *testing.T) {
	n := DefaultNames()
	for _, p := range [][2]string{
		{n.RequestDuration, router.MetricRequestDuration},
		{n.Requests, router.MetricRequests},
		{n.InFlight, router.MetricInFlight},
		{n.NoneClass, router.LabelNone},
	} {
		if p[0] != p[1] {
			t.Errorf("default %q, router %q", p[0], p[1])
		}
	}
	doc, err := os.ReadFile("../../docs/router.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{
		"| `" + n.RequestDuration + "` | histogram | `" + n.Class + "`, `tenant`, `" + n.Code + "` |",
		"| `" + n.Requests + "` | counter | `" + n.Class + "`, `tenant`, `" + n.Code + "` |",
		"| `" + n.InFlight + "` | gauge | `" + n.Class + "` |",
	} {
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/router.md has no row starting %s", row)
		}
	}
	rules, err := os.ReadFile("../../deploy/prometheus/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{n.Class + `!="` + n.NoneClass + `"`, n.Code + `=~"` + n.ErrorCodes + `"`} {
		if !strings.Contains(string(rules), m) {
			t.Errorf("deploy/prometheus/rules.yaml does not use %s", m)
		}
	}
}

// TestDocsQuoteTheQueries: docs/controller.md quotes the default queries
// exactly as they run.
func TestDocsQuoteTheQueries(t *testing.T) {
	doc, err := os.ReadFile("../../docs/controller.md")
	if err != nil {
		t.Fatal(err)
	}
	c := mustNew(t, Options{Address: "http://prom:9090"})
	q, _ := c.ClassQueries(time.Minute)
	for _, s := range []string{q.Rate, q.P95, q.InFlight, q.ErrorShare, q.At, c.GPUQueries().Used} {
		if !strings.Contains(string(doc), "`"+s+"`") {
			t.Errorf("docs/controller.md does not quote %s", s)
		}
	}
	for _, s := range []string{"irate(...[30s])", "last_over_time(...[30s])"} {
		if !strings.Contains(string(doc), s) {
			t.Errorf("docs/controller.md does not mention %s", s)
		}
	}
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	(&Options{}).AddFlags(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(string(doc), "`--"+f.Name+"`") {
			t.Errorf("docs/controller.md does not document --%s", f.Name)
		}
	})
}
