package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/headroom-dev/headroom/internal/envtest"
	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/router"
)

// kustomizeDirs are the folders applied with kubectl apply -k.
var kustomizeDirs = []string{"router", "readers"}

// manifest is one decoded object and where it came from.
type manifest struct {
	file string
	kind string
	obj  any // pointer to the k8s.io/api type
}

// newObject returns an empty typed object for kind, or nil for a kind these
// manifests do not use (the test then fails: add it here).
func newObject(kind string) any {
	switch kind {
	case "Deployment":
		return &appsv1.Deployment{}
	case "Service":
		return &corev1.Service{}
	case "ServiceAccount":
		return &corev1.ServiceAccount{}
	case "ConfigMap":
		return &corev1.ConfigMap{}
	case "Role":
		return &rbacv1.Role{}
	case "RoleBinding":
		return &rbacv1.RoleBinding{}
	case "PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "ClusterRole":
		return &rbacv1.ClusterRole{}
	case "ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}
	case "PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}
	}
	return nil
}

// splitDocs splits a multi-document YAML file, dropping empty documents.
func splitDocs(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// kustomization is the part of kustomization.yaml the test reads.
type kustomization struct {
	Resources []string `json:"resources"`
}

// loadDir decodes every resource its kustomization.yaml lists, strictly.
func loadDir(t *testing.T, dir string) []manifest {
	t.Helper()
	kb, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.Unmarshal(kb, &k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	// Every YAML file in the folder is listed, so none is silently left out.
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var onDisk []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			onDisk = append(onDisk, b)
		}
	}
	listed := slices.Clone(k.Resources)
	sort.Strings(listed)
	if !slices.Equal(listed, onDisk) {
		t.Errorf("%s: kustomization resources %v, files %v", dir, listed, onDisk)
	}
	var out []manifest
	for _, r := range k.Resources {
		b, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range splitDocs(b) {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s/%s doc %d: %v", dir, r, i, err)
			}
			obj := newObject(tm.Kind)
			if obj == nil {
				t.Fatalf("%s/%s doc %d: kind %q has no type in this test", dir, r, i, tm.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Errorf("%s/%s doc %d (%s): %v", dir, r, i, tm.Kind, err)
				continue
			}
			out = append(out, manifest{file: filepath.Join(dir, r), kind: tm.Kind, obj: obj})
		}
	}
	return out
}

func loadAll(t *testing.T) []manifest {
	var all []manifest
	for _, d := range kustomizeDirs {
		all = append(all, loadDir(t, d)...)
	}
	return all
}

func TestManifestsDecodeStrictly(t *testing.T) {
	all := loadAll(t)
	kinds := map[string]int{}
	for _, m := range all {
		kinds[m.kind]++
	}
	// The pieces the router and the reader need; losing one is a regression.
	want := map[string]int{"Deployment": 2, "Service": 2, "ServiceAccount": 1, "ConfigMap": 1,
		"Role": 1, "RoleBinding": 1, "PodDisruptionBudget": 2}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s objects, want %d", kinds[k], k, n)
		}
	}
}

func TestStrictDecodeCatchesTypos(t *testing.T) {
	doc := []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {prots: []}\n")
	if err := yaml.UnmarshalStrict(doc, &corev1.Service{}); err == nil {
		t.Fatal("a misspelt field decoded without error")
	}
}

func find[T any](t *testing.T, all []manifest, file string) T {
	t.Helper()
	for _, m := range all {
		if o, ok := m.obj.(T); ok && strings.HasSuffix(m.file, file) {
			return o
		}
	}
	var zero T
	t.Fatalf("no %T in %s", zero, file)
	return zero
}

// TestRouterDeployment checks what docs/deploy.md promises of the pod.
func TestRouterDeployment(t *testing.T) {
	all := loadAll(t)
	d := find[*appsv1.Deployment](t, all, "router/deployment.yaml")
	ps := d.Spec.Template.Spec
	c := ps.Containers[0]
	if got := strings.Join(c.Args, " "); got != "router --config /etc/headroom/router.yaml" {
		t.Errorf("args %q", got)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("readiness probe is not /readyz")
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("liveness probe is not /healthz")
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container is not read-only root without privilege escalation")
	}
	if ps.SecurityContext == nil || ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot {
		t.Error("pod does not run as non-root")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Error("router has no resources")
	}
	// The config's drainDelay + shutdownGrace must fit the grace period.
	cfg := routerConfig(t, all)
	need := cfg.Server.DrainDelay.D() + cfg.Server.ShutdownGrace.D()
	if grace := ps.TerminationGracePeriodSeconds; grace == nil || float64(*grace) < need.Seconds() {
		t.Errorf("terminationGracePeriodSeconds %v < drainDelay + shutdownGrace %v", grace, need)
	}
}

func routerConfig(t *testing.T, all []manifest) *router.Config {
	t.Helper()
	cm := find[*corev1.ConfigMap](t, all, "router/configmap.yaml")
	cfg, err := router.Parse([]byte(cm.Data["router.yaml"]))
	if err != nil {
		t.Fatalf("router config in the ConfigMap: %v", err)
	}
	return cfg
}

// TestRouterConfigServesReferenceFleet loads the ConfigMap's config with the
// router's own loader and checks its classes are the reference fleet's
// readers, each behind a Service on the port the reader Service names.
func TestRouterConfigServesReferenceFleet(t *testing.T) {
	all := loadAll(t)
	cfg := routerConfig(t, all)
	b, err := os.ReadFile("../examples/reference/readers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, doc := range splitDocs(b) {
		var o struct {
			Kind     string            `json:"kind"`
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatal(err)
		}
		if o.Kind == "ModelClass" {
			want = append(want, o.Metadata.Name)
		}
	}
	var got []string
	for _, m := range cfg.Models {
		got = append(got, m.Class)
		for _, v := range m.Versions {
			if v.Service == nil || v.Service.Name != m.Class || v.Service.Port != "http" {
				t.Errorf("%s/%s: service %+v, want the class's Service, port http", m.Class, v.Name, v.Service)
			}
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("router classes %v, reference readers %v", got, want)
	}
	svc := find[*corev1.Service](t, all, "readers/reader-en-large.yaml")
	if svc.Spec.Ports[0].Name != "http" {
		t.Errorf("reader Service port %q, the router config names http", svc.Spec.Ports[0].Name)
	}
}

func TestReaderOnMIGSlice(t *testing.T) {
	all := loadAll(t)
	d := find[*appsv1.Deployment](t, all, "readers/reader-en-large.yaml")
	ps := d.Spec.Template.Spec
	if q := ps.Containers[0].Resources.Limits["nvidia.com/mig-3g.40gb"]; q.Value() != 1 {
		t.Errorf("nvidia.com/mig-3g.40gb limit %v, want 1", q.String())
	}
	// examples/reference/nodegroups.yaml: the MIG pools carry
	// headroom.dev/pool=readers and the nvidia.com/gpu NoSchedule taint.
	if ps.NodeSelector["headroom.dev/pool"] != "readers" {
		t.Errorf("nodeSelector %v", ps.NodeSelector)
	}
	if !slices.ContainsFunc(ps.Tolerations, func(tl corev1.Toleration) bool {
		return tl.Key == "nvidia.com/gpu" && tl.Effect == corev1.TaintEffectNoSchedule
	}) {
		t.Errorf("no toleration for nvidia.com/gpu:NoSchedule: %v", ps.Tolerations)
	}
}

// TestAPIServerAcceptsManifests creates every object in a namespace of a
// real kube-apiserver (envtest), so server-side validation runs.
func TestAPIServerAcceptsManifests(t *testing.T) {
	all := loadAll(t)
	env := envtest.Start(t)
	ns := env.Namespace(t, "headroom")
	// The server does reject a bad object: a selector that does not
	// match the template's labels.
	bad := find[*appsv1.Deployment](t, all, "router/deployment.yaml").DeepCopy()
	bad.Name = "bad-selector"
	bad.Spec.Selector.MatchLabels = map[string]string{"app.kubernetes.io/name": "other"}
	if err := create(t.Context(), env.Client, ns, bad); err == nil {
		t.Error("the API server accepted a Deployment whose selector misses its pods")
	}
	for _, m := range all {
		name := m.obj.(metav1.Object).GetName()
		t.Run(m.kind+"/"+name, func(t *testing.T) {
			if err := create(t.Context(), env.Client, ns, m.obj); err != nil {
				t.Errorf("%s: %v", m.file, err)
			}
		})
	}
}

func create(ctx context.Context, c kubernetes.Interface, ns string, obj any) error {
	o := metav1.CreateOptions{FieldValidation: "Strict"}
	var err error
	switch v := obj.(type) {
	case *appsv1.Deployment:
		_, err = c.AppsV1().Deployments(ns).Create(ctx, v, o)
	case *corev1.Service:
		_, err = c.CoreV1().Services(ns).Create(ctx, v, o)
	case *corev1.ServiceAccount:
		_, err = c.CoreV1().ServiceAccounts(ns).Create(ctx, v, o)
	case *corev1.ConfigMap:
		_, err = c.CoreV1().ConfigMaps(ns).Create(ctx, v, o)
	case *rbacv1.Role:
		_, err = c.RbacV1().Roles(ns).Create(ctx, v, o)
	case *rbacv1.RoleBinding:
		_, err = c.RbacV1().RoleBindings(ns).Create(ctx, v, o)
	case *policyv1.PodDisruptionBudget:
		_, err = c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, v, o)
	case *rbacv1.ClusterRole:
		_, err = c.RbacV1().ClusterRoles().Create(ctx, v, o)
	case *rbacv1.ClusterRoleBinding:
		_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, v, o)
	case *corev1.PersistentVolumeClaim:
		_, err = c.CoreV1().PersistentVolumeClaims(ns).Create(ctx, v, o)
	default:
		err = fmt.Errorf("no create for %T", obj)
	}
	return err
}

// promtool returns the promtool binary, skipping (failing under CI=true)
// when it is missing, as internal/promtest does for prometheus.
func promtool(t *testing.T) string {
	t.Helper()
	for _, c := range []string{os.Getenv("PROMTOOL_BIN"), "promtool"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := "promtool not found (Debian package prometheus; scripts/install-test-deps.sh)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), promtool(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	runPromtool(t, "check", "rules", "prometheus/rules.yaml")
}

// TestPromtoolTestRules runs the rules' unit tests (series in, alerts out).
func TestPromtoolTestRules(t *testing.T) {
	runPromtool(t, "test", "rules", "prometheus/rules_test.yaml")
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Record string `json:"record"`
			Alert  string `json:"alert"`
			Expr   string `json:"expr"`
		} `json:"rules"`
	} `json:"groups"`
}

var (
	// Strings, label matchers and range selectors hold no series names.
	reQuoted   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	reMatchers = regexp.MustCompile(`\{[^}]*\}`)
	reRange    = regexp.MustCompile(`\[[^\]]*\]`)
	reGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	reIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
	keywords   = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"inf": true, "nan": true, "by": true, "without": true, "on": true, "ignoring": true,
		"group_left": true, "group_right": true}
)

// exprNames returns the series names and the grouping labels of a PromQL
// expression. A small lexer, not a parser: enough for these rules, and
// TestExprNamesCatchesTypo shows it catches a misspelt name.
func exprNames(expr string) (series, labels []string) {
	e := reQuoted.ReplaceAllString(expr, `""`)
	for _, m := range reGrouping.FindAllStringSubmatch(e, -1) {
		for _, l := range strings.Split(m[2], ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
	}
	e = reGrouping.ReplaceAllString(e, " ")
	// Matcher label names are labels too.
	for _, m := range reMatchers.FindAllString(e, -1) {
		for _, part := range strings.Split(strings.Trim(m, "{}"), ",") {
			if n, _, ok := strings.Cut(part, "="); ok {
				labels = append(labels, strings.TrimRight(strings.TrimSpace(n), "!~"))
			}
		}
	}
	e = reMatchers.ReplaceAllString(e, " ")
	e = reRange.ReplaceAllString(e, " ")
	for _, m := range reIdent.FindAllString(e, -1) {
		if strings.HasSuffix(m, "(") || keywords[strings.ToLower(m)] {
			continue // a function call or an operator
		}
		series = append(series, m)
	}
	return series, labels
}

// contract is the router's metric contract (router/metrics.go) expanded to
// the series a Prometheus scrape has: histograms add _bucket, _sum, _count.
func contract() map[string]bool {
	c := map[string]bool{}
	for _, n := range []string{router.MetricRequests, router.MetricInFlight, router.MetricRetries,
		router.MetricShed, router.MetricEjections, router.MetricEndpointsReady} {
		c[n] = true
	}
	for _, h := range []string{router.MetricRequestDuration, router.MetricQueueDuration} {
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			c[h+s] = true
		}
	}
	return c
}

// contractLabels are the labels docs/router.md gives the metrics, plus le.
var contractLabels = map[string]bool{"class": true, "tenant": true, "code": true, "reason": true,
	"version": true, "le": true}

// loadRules reads the router's rules. Not strict: ruleFile holds only
// what the tests read; promtool checks the whole file.
func loadRules(t *testing.T) ruleFile { return loadRuleFile(t, "prometheus/rules.yaml") }

// TestRulesUseContractNames: every series a rule reads is a contract name or
// a series recorded in the same file, and every label is a contract label.
func TestRulesUseContractNames(t *testing.T) {
	rf := loadRules(t)
	known := contract()
	recorded := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
		}
	}
	used := map[string]bool{}
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			n++
			series, labels := exprNames(r.Expr)
			if len(series) == 0 {
				t.Errorf("%s%s: no series found in %q", r.Record, r.Alert, r.Expr)
			}
			for _, s := range series {
				used[s] = true
				if !known[s] && !recorded[s] {
					t.Errorf("%s%s reads %q: not in the router's metric contract nor recorded here", r.Record, r.Alert, s)
				}
			}
			for _, l := range labels {
				if !contractLabels[l] {
					t.Errorf("%s%s uses label %q, not a contract label", r.Record, r.Alert, l)
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d rules", n)
	}
	for _, m := range []string{router.MetricRequests, router.MetricRequestDuration + "_bucket", router.MetricShed} {
		if !used[m] {
			t.Errorf("no rule reads %s", m)
		}
	}
}

func TestExprNamesCatchesTypo(t *testing.T) {
	series, labels := exprNames(`sum by (class, le) (rate(headroom_router_request_duraton_seconds_bucket{class!="none", code=~"5.."}[5m])) / on (class) group_left foo:bar > 0.1 and bool x`)
	want := []string{"headroom_router_request_duraton_seconds_bucket", "foo:bar", "x"}
	if !slices.Equal(series, want) {
		t.Errorf("series %v, want %v", series, want)
	}
	if known := contract(); known[series[0]] {
		t.Error("the misspelt name is in the contract")
	}
	wantLabels := []string{"class", "le", "class", "class", "code"}
	if !slices.Equal(labels, wantLabels) {
		t.Errorf("labels %v, want %v", labels, wantLabels)
	}
}

// TestLatencyAlertMatchesReferenceSLOs: the per-class thresholds written
// into HeadroomLatencyAboveSLO are the reference ModelClasses' spec.slo
// (latency and percentile), and the burn-rate alerts use their error budget.
func TestLatencyAlertMatchesReferenceSLOs(t *testing.T) {
	b, err := os.ReadFile("../examples/reference/readers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	budgets := map[float64]bool{}
	for _, doc := range splitDocs(b) {
		var o struct {
			Kind     string            `json:"kind"`
			Metadata metav1.ObjectMeta `json:"metadata"`
			Spec     struct {
				SLO struct {
					Latency     string  `json:"latency"`
					Percentile  float64 `json:"percentile"`
					ErrorBudget float64 `json:"errorBudget"`
				} `json:"slo"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatal(err)
		}
		if o.Kind != "ModelClass" {
			continue
		}
		d, err := time.ParseDuration(o.Spec.SLO.Latency)
		if err != nil {
			t.Fatalf("%s: %v", o.Metadata.Name, err)
		}
		want[o.Metadata.Name] = fmt.Sprintf("p%g %g", o.Spec.SLO.Percentile, d.Seconds())
		budgets[o.Spec.SLO.ErrorBudget] = true
	}
	got := map[string]string{}
	re := regexp.MustCompile(`:(p\d+)_rate5m\{class="([^"]+)"\} > ([0-9.]+)`)
	var burn []string
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			switch r.Alert {
			case "HeadroomLatencyAboveSLO":
				for _, m := range re.FindAllStringSubmatch(r.Expr, -1) {
					v, _ := strconv.ParseFloat(m[3], 64)
					got[m[2]] = fmt.Sprintf("%s %g", m[1], v)
				}
			case "HeadroomErrorBudgetBurnFast", "HeadroomErrorBudgetBurnSlow":
				burn = append(burn, r.Expr)
			}
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("latency alert thresholds %v, reference SLOs %v", got, want)
	}
	// 0 is the policy default, 0.001 (policies.DefaultErrorBudget).
	delete(budgets, 0)
	budgets[policies.DefaultErrorBudget] = true
	if len(budgets) != 1 {
		t.Fatalf("reference classes have several error budgets %v; the burn alerts assume one", budgets)
	}
	for budget := range budgets {
		for _, e := range burn {
			if !strings.Contains(e, fmt.Sprintf("* %g)", budget)) {
				t.Errorf("burn alert does not use the budget %g: %s", budget, e)
			}
		}
	}
	if len(burn) != 2 {
		t.Errorf("%d burn-rate alerts, want 2", len(burn))
	}
}

// TestDashboardUsesRulesAndContract: the Grafana dashboard is valid JSON and
// each panel's query reads only contract names or series recorded in
// rules.yaml (which it needs loaded).
func TestDashboardUsesRulesAndContract(t *testing.T) {
	b, err := os.ReadFile("grafana/headroom-router.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	known := contract()
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}
	if len(d.Panels) == 0 {
		t.Fatal("no panels")
	}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			series, labels := exprNames(tg.Expr)
			for _, s := range series {
				if !known[s] {
					t.Errorf("panel %q reads %q: neither a contract name nor recorded", p.Title, s)
				}
			}
			for _, l := range labels {
				if !contractLabels[l] {
					t.Errorf("panel %q uses label %q", p.Title, l)
				}
			}
		}
	}
}
