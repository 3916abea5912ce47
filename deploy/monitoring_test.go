package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/scaler/fake"
	"github.com/headroom-dev/headroom/scaler/incluster"
	"github.com/headroom-dev/headroom/scaler/prom"
)

// chartCopies: the chart cannot read files outside its folder, so it holds
// copies of the rules and dashboards; they must stay equal.
var chartCopies = map[string]string{
	"prometheus/rules.yaml":            "chart/headroom/files/rules/router.yaml",
	"prometheus/controller-rules.yaml": "chart/headroom/files/rules/controller.yaml",
	"grafana/headroom-router.json":     "chart/headroom/files/dashboards/headroom-router.json",
	"grafana/headroom-controller.json": "chart/headroom/files/dashboards/headroom-controller.json",
}

func TestChartCopiesInStep(t *testing.T) {
	for src, dst := range chartCopies {
		a, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: cp deploy/%s deploy/%s", dst, src, src, dst)
		}
	}
	dashboards, _ := filepath.Glob("grafana/*.json")
	for _, d := range dashboards {
		if _, ok := chartCopies[d]; !ok {
			t.Errorf("%s has no copy in the chart", d)
		}
	}
}

// describer records the metric names a collector describes.
type describer struct{ names map[string]bool }

var reFQName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := reFQName.FindStringSubmatch(desc.String()); m != nil {
			d.names[m[1]] = true
		}
	}
	return nil
}

func (d *describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d *describer) Unregister(prometheus.Collector) bool { return false }

// controllerSeries are the series `headroom controller` exports from its
// own packages: the core's (scaler.New, described through a recording
// Registerer, since its vectors have no series before a tick) and the
// in-cluster shell's (incluster.New, gathered). Histograms expand to
// _bucket, _sum and _count.
func controllerSeries(t *testing.T) map[string]bool {
	t.Helper()
	pol, err := policies.Load("../examples/reference")
	if err != nil {
		t.Fatal(err)
	}
	w := fake.New()
	d := &describer{names: map[string]bool{}}
	if _, err := scaler.New(scaler.Options{}, pol, w, w, w, nil, d); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if _, err := incluster.New(incluster.Options{PolicyDir: "../examples/reference", Listen: "-"},
		incluster.Deps{Metrics: w, Cluster: w, Cloud: w, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for n := range d.names {
		out[n] = true
	}
	for _, mf := range mfs {
		out[mf.GetName()] = true
		if mf.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				out[mf.GetName()+s] = true
			}
		}
	}
	for _, n := range []string{"headroom_scaler_data_age_seconds", "headroom_scaler_actions_total",
		"headroom_controller_leader", "headroom_controller_policy_stale", "headroom_controller_tick_duration_seconds_bucket"} {
		if !out[n] {
			t.Fatalf("the controller does not export %s (found %v)", n, out)
		}
	}
	return out
}

// controllerLabels are the labels of the controller's series
// (scaler/controller.go) and dcgmLabels dcgm-exporter's that headroom reads
// (scaler/prom.DefaultNames).
var (
	controllerLabels = map[string]bool{"class": true, "kind": true, "status": true, "source": true, "le": true}
	dcgm             = prom.DefaultNames()
	dcgmLabels       = map[string]bool{dcgm.Profile: true, dcgm.Pod: true, dcgm.Namespace: true, dcgm.Node: true}
)

func loadRuleFile(t *testing.T, path string) ruleFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	return rf
}

func TestPromtoolControllerRules(t *testing.T) {
	runPromtool(t, "check", "rules", "prometheus/controller-rules.yaml")
	runPromtool(t, "test", "rules", "prometheus/controller-rules_test.yaml")
}

// TestControllerRulesUseControllerMetrics: the controller alerts read only
// series the controller registers, with its labels, and the five alerts of
// docs/deploy.md are there.
func TestControllerRulesUseControllerMetrics(t *testing.T) {
	known := controllerSeries(t)
	var alerts []string
	for _, g := range loadRuleFile(t, "prometheus/controller-rules.yaml").Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			series, labels := exprNames(r.Expr)
			if len(series) == 0 {
				t.Errorf("%s: no series in %q", r.Alert, r.Expr)
			}
			for _, s := range series {
				if !known[s] {
					t.Errorf("%s reads %q, which the controller does not export", r.Alert, s)
				}
			}
			for _, l := range labels {
				if !controllerLabels[l] {
					t.Errorf("%s uses label %q, not one of the controller's", r.Alert, l)
				}
			}
		}
	}
	sort.Strings(alerts)
	want := []string{"HeadroomControllerActionsFailing", "HeadroomControllerDataStale", "HeadroomControllerNoLeader",
		"HeadroomForecastMiss", "HeadroomPolicyStale"}
	if !slices.Equal(alerts, want) {
		t.Errorf("alerts %v, want %v", alerts, want)
	}
}

type dashboard struct {
	UID    string `json:"uid"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob("grafana/*.json")
	if err != nil || len(files) < 2 {
		t.Fatalf("dashboards %v: %v", files, err)
	}
	out := map[string]dashboard{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[f] = d
	}
	return out
}

// TestDashboardExpressionsParse wraps every panel query of every dashboard
// into a recording rule and has promtool check the file: each one parses.
func TestDashboardExpressionsParse(t *testing.T) {
	type rule struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	var rules []rule
	for f, d := range loadDashboards(t) {
		for i, p := range d.Panels {
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", f, p.Title)
			}
			for j, tg := range p.Targets {
				rules = append(rules, rule{Record: fmt.Sprintf("dashboard:%s:p%d_t%d", strings.ReplaceAll(d.UID, "-", "_"), i, j), Expr: tg.Expr})
			}
		}
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboards.rules.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, "check", "rules", path)
}

// TestDashboardsUseExportedSeries: every series a dashboard reads is the
// router's contract, recorded by rules.yaml, the controller's own, or
// dcgm-exporter's GPU memory, with their labels; and the controller
// dashboard shows what docs/deploy.md says it does.
func TestDashboardsUseExportedSeries(t *testing.T) {
	known := contract()
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}
	for n := range controllerSeries(t) {
		known[n] = true
	}
	known[dcgm.FBUsed], known[dcgm.FBFree] = true, true
	labels := map[string]bool{}
	for _, set := range []map[string]bool{contractLabels, controllerLabels, dcgmLabels} {
		for l := range set {
			labels[l] = true
		}
	}
	read := map[string]bool{}
	for f, d := range loadDashboards(t) {
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				series, ls := exprNames(tg.Expr)
				for _, s := range series {
					read[s] = true
					if !known[s] {
						t.Errorf("%s: panel %q reads %q, which neither the router, the controller nor dcgm-exporter exports", f, p.Title, s)
					}
				}
				for _, l := range ls {
					if !labels[l] {
						t.Errorf("%s: panel %q uses label %q", f, p.Title, l)
					}
				}
			}
		}
	}
	for _, s := range []string{"headroom_scaler_actions_total", "headroom_scaler_observed_rate", "headroom_scaler_forecast_rate",
		"headroom_scaler_desired_replicas", "headroom_scaler_ready_replicas", "headroom_scaler_data_age_seconds", dcgm.FBUsed} {
		if !read[s] {
			t.Errorf("no dashboard panel reads %s", s)
		}
	}
}

// TestChartPrometheusRules: the chart's PrometheusRules carry the rule
// files' groups unchanged, and the dashboard ConfigMaps the dashboards,
// labelled for the Grafana sidecar.
func TestChartPrometheusRules(t *testing.T) {
	ms := renderChart(t, chartCases[1])
	got := map[string]string{}
	for _, m := range ms {
		if u, ok := m.obj.(*unstructured.Unstructured); ok && u.GetKind() == "PrometheusRule" {
			b, err := json.Marshal(u.Object["spec"])
			if err != nil {
				t.Fatal(err)
			}
			got[u.GetName()] = string(b)
		}
	}
	for name, file := range map[string]string{"headroom-router": "prometheus/rules.yaml", "headroom-controller": "prometheus/controller-rules.yaml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want, err := yaml.YAMLToJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		if got[name] != string(want) {
			t.Errorf("PrometheusRule %s is not %s", name, file)
		}
	}
	for _, name := range []string{"headroom-dashboard-router", "headroom-dashboard-controller"} {
		cm := byName[*corev1.ConfigMap](t, ms, name)
		if cm.Labels["grafana_dashboard"] != "1" || len(cm.Data) != 1 {
			t.Errorf("dashboard ConfigMap %s: labels %v, %d keys", name, cm.Labels, len(cm.Data))
		}
		for _, v := range cm.Data {
			if !json.Valid([]byte(v)) {
				t.Errorf("%s holds invalid JSON", name)
			}
		}
	}
}
