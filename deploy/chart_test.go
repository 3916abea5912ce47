package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"text/template"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/deploy/render"
	"github.com/headroom-dev/headroom/internal/envtest"
	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/router"
	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/scaler/kube"
)

const (
	chartDir = "chart/headroom"
	// referenceValues is built from examples/reference; -update rewrites it.
	referenceValues = "chart/headroom/examples/reference-values.yaml"
	// helmVersion is the helm scripts/helm-bin.sh builds (tools/helm/go.mod);
	// TestHelmVersionsAgree keeps the three in step.
	helmVersion = "4.3.2"
)

var update = flag.Bool("update", false, "rewrite chart/headroom/examples/reference-values.yaml from examples/reference")

// helm returns the helm binary: $HELM_BIN, else the one scripts/helm-bin.sh
// caches. A helm on PATH is not used: its version would be a guess. Missing,
// the test skips, and fails under CI=true (internal/envtest's convention).
func helm(t *testing.T) string {
	t.Helper()
	p := os.Getenv("HELM_BIN")
	if p == "" {
		cache := os.Getenv("HEADROOM_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "headroom")
		}
		p = filepath.Join(cache, "helm", "v"+helmVersion, "helm")
	}
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return p
	}
	msg := "helm not found (HELM_BIN or " + p + "); build it with scripts/helm-bin.sh (about 2 minutes once) or scripts/install-test-deps.sh"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// runHelm runs helm with its own empty config and cache folders, so no
// repository or plugin of the machine's user takes part.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.CommandContext(t.Context(), helm(t), args...)
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home+"/config", "HELM_CACHE_HOME="+home+"/cache",
		"HELM_DATA_HOME="+home+"/data")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), nil
}

// chartCase is one way of installing the chart.
type chartCase struct {
	name, release, namespace string
	args                     []string
}

// chartCases: the defaults (in their own namespaces, so both fit one API
// server) and the reference fleet's values with the Prometheus Operator's
// API present.
var chartCases = []chartCase{
	{name: "default", release: "hr", namespace: "hr-default", args: []string{"--set", "migParted.namespace=hr-default-gpu"}},
	{name: "reference", release: "headroom", namespace: "headroom",
		args: []string{"-f", referenceValues, "--api-versions", "monitoring.coreos.com/v1"}},
}

// renderChart runs helm template and decodes every object strictly: a
// field the k8s.io/api type lacks is an error. Prometheus Operator objects
// are kept unstructured; the API server checks them against their CRD.
func renderChart(t *testing.T, c chartCase) []manifest {
	t.Helper()
	args := append([]string{"template", c.release, chartDir, "--namespace", c.namespace}, c.args...)
	out, err := runHelm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	var ms []manifest
	for i, doc := range splitDocs([]byte(out)) {
		src := fmt.Sprintf("%s doc %d", c.name, i)
		if m := regexp.MustCompile(`(?m)^# Source: (\S+)`).FindSubmatch(doc); m != nil {
			src = c.name + ":" + string(m[1])
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if strings.HasPrefix(tm.APIVersion, "monitoring.coreos.com/") {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &u.Object); err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			ms = append(ms, manifest{file: src, kind: tm.Kind, obj: u})
			continue
		}
		obj := newObject(tm.Kind)
		if obj == nil {
			t.Fatalf("%s: kind %q not known to the test (add it to newObject)", src, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Errorf("%s (%s): %v", src, tm.Kind, err)
			continue
		}
		ms = append(ms, manifest{file: src, kind: tm.Kind, obj: obj})
	}
	return ms
}

func kinds(ms []manifest) map[string]int {
	k := map[string]int{}
	for _, m := range ms {
		k[m.kind]++
	}
	return k
}

func TestHelmVersionsAgree(t *testing.T) {
	for _, c := range []struct{ file, re string }{
		{"../scripts/helm-bin.sh", `(?m)^HELM_VERSION=(\S+)`},
		{"../tools/helm/go.mod", `helm.sh/helm/v4 v(\S+)`},
	} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(c.re).FindSubmatch(b)
		if m == nil || string(m[1]) != helmVersion {
			t.Errorf("%s: helm version %q, the test looks for %s", c.file, m, helmVersion)
		}
	}
}

// TestChartLint: helm lint passes with the defaults and with the reference
// values, and the schema turns a misspelt key into a lint error, at the top,
// nested, and in a values file.
func TestChartLint(t *testing.T) {
	for _, args := range [][]string{nil, {"-f", referenceValues}} {
		if out, err := runHelm(t, append([]string{"lint", "--strict", chartDir}, args...)...); err != nil {
			t.Errorf("helm lint %v: %v", args, err)
		} else if !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("helm lint %v: %s", args, out)
		}
	}
	bad := filepath.Join(t.TempDir(), "typo.yaml")
	if err := os.WriteFile(bad, []byte("controller:\n  prometheusUrl: http://prometheus:9090\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "controler.replicas=3"}, "controler"},
		{[]string{"--set", "controller.replica=3"}, "replica"},
		{[]string{"--set", "controller.resources.request.cpu=1"}, "request"},
		{[]string{"--set", "router.config.tenant=x"}, "tenant"},
		{[]string{"--set", "monitoring.prometheusOperator=yes"}, "prometheusOperator"},
		{[]string{"-f", bad}, "prometheusUrl"},
	} {
		out, err := runHelm(t, append([]string{"lint", chartDir}, c.args...)...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("helm lint %v: err %v, want a schema error naming %q; output:\n%s", c.args, err, c.want, out)
		}
	}
}

// TestChartTemplate renders both cases and checks what docs/deploy.md
// promises of the objects.
func TestChartTemplate(t *testing.T) {
	def := renderChart(t, chartCases[0])
	ref := renderChart(t, chartCases[1])
	wantDef := map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 1, "ConfigMap": 4,
		"ClusterRole": 2, "ClusterRoleBinding": 1, "Role": 2, "RoleBinding": 3, "PodDisruptionBudget": 1}
	if got := kinds(def); !mapsEqual(got, wantDef) {
		t.Errorf("defaults render %v, want %v", got, wantDef)
	}
	// Reference: + router (Deployment, Service, ConfigMap, ServiceAccount,
	// Role, RoleBinding, PDB), + the rendered readers (9 classes and the
	// EFS claim), + 2 ServiceMonitors and 2 PrometheusRules.
	wantRef := map[string]int{"Deployment": 2 + 9, "Service": 2 + 9, "ServiceAccount": 2, "ConfigMap": 5,
		"ClusterRole": 2, "ClusterRoleBinding": 1, "Role": 3, "RoleBinding": 4, "PodDisruptionBudget": 2 + 9,
		"PersistentVolumeClaim": 1, "ServiceMonitor": 2, "PrometheusRule": 2}
	if got := kinds(ref); !mapsEqual(got, wantRef) {
		t.Errorf("reference render %v, want %v", got, wantRef)
	}
	for _, ms := range [][]manifest{def, ref} {
		for _, m := range ms {
			o := m.obj.(metav1.Object)
			if _, cluster := m.obj.(*rbacv1.ClusterRole); cluster {
				continue
			}
			if _, cluster := m.obj.(*rbacv1.ClusterRoleBinding); !cluster && o.GetNamespace() == "" {
				t.Errorf("%s %s has no namespace", m.kind, o.GetName())
			}
		}
	}
	t.Run("controller", func(t *testing.T) { checkController(t, ref, "headroom", "gpu-operator/headroom-mig-parted-config") })
	t.Run("controller-defaults", func(t *testing.T) { checkController(t, def, "hr-default", "hr-default-gpu/headroom-mig-parted-config") })
	t.Run("router", func(t *testing.T) { checkRouter(t, ref) })
	t.Run("readers", func(t *testing.T) { checkReaders(t, ref) })
	t.Run("mig-parted", func(t *testing.T) { checkMIGParted(t, def) })
	t.Run("rbac-is-the-adapters", func(t *testing.T) { checkRBACRules(t, ref) })
	t.Run("no-monitoring-without-the-api", func(t *testing.T) {
		if n := kinds(def)["ServiceMonitor"] + kinds(def)["PrometheusRule"]; n != 0 {
			t.Errorf("%d Prometheus Operator objects without monitoring.coreos.com/v1", n)
		}
	})
	t.Run("service-account-annotations", func(t *testing.T) {
		ms := renderChart(t, chartCase{name: "irsa", release: "hr", namespace: "hr",
			args: []string{"--set", "controller.serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/headroom"}})
		sa := byName[*corev1.ServiceAccount](t, ms, "hr-headroom-controller")
		if got := sa.Annotations["eks.amazonaws.com/role-arn"]; got != "arn:aws:iam::123456789012:role/headroom" {
			t.Errorf("role-arn annotation %q", got)
		}
	})
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// byName finds the object of type T named name.
func byName[T metav1.Object](t *testing.T, ms []manifest, name string) T {
	t.Helper()
	for _, m := range ms {
		if o, ok := m.obj.(T); ok && o.GetName() == name {
			return o
		}
	}
	var zero T
	t.Fatalf("no %T named %s", zero, name)
	return zero
}

// controllerFlags are the flags `headroom controller` defines, read from its
// source (cmd/headroom is package main, so not importable).
func controllerFlags(t *testing.T) map[string]bool {
	t.Helper()
	flags := map[string]bool{}
	for _, f := range []string{"../cmd/headroom/controller.go", "../scaler/prom/flags.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`\.\w*Var[P]?\([^,]+, "([a-z0-9-]+)"`).FindAllSubmatch(b, -1) {
			flags[string(m[1])] = true
		}
	}
	if !flags["prometheus-url"] || !flags["lease-namespace"] {
		t.Fatalf("flag scan found %v", flags)
	}
	return flags
}

func checkController(t *testing.T, ms []manifest, ns, mig string) {
	var d *appsv1.Deployment
	for _, m := range ms {
		if o, ok := m.obj.(*appsv1.Deployment); ok && o.Labels["app.kubernetes.io/name"] == "headroom-controller" {
			d = o
		}
	}
	if d == nil {
		t.Fatal("no controller Deployment")
	}
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2", *d.Spec.Replicas)
	}
	ps := d.Spec.Template.Spec
	c := ps.Containers[0]
	flags := controllerFlags(t)
	args := map[string]string{}
	for _, a := range c.Args[1:] {
		name, val, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !flags[name] {
			t.Errorf("arg %q: headroom controller has no flag %q", a, name)
		}
		args[name] = val
	}
	want := map[string]string{"policy": "/etc/headroom/policy", "namespace": ns, "leader-elect": "",
		"lease-namespace": ns, "identity": "$(POD_NAME)", "mig-configmap": mig, "listen": ":8080"}
	for k, v := range want {
		if got, ok := args[k]; !ok || got != v {
			t.Errorf("--%s=%q, want %q", k, got, v)
		}
	}
	if c.Args[0] != "controller" || args["prometheus-url"] == "" {
		t.Errorf("args %v", c.Args)
	}
	env := map[string]*corev1.EnvVarSource{}
	for _, e := range c.Env {
		env[e.Name] = e.ValueFrom
	}
	if e := env["POD_NAME"]; e == nil || e.FieldRef == nil || e.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("POD_NAME is not the downward API's metadata.name: %+v", e)
	}
	sc, psc := c.SecurityContext, ps.SecurityContext
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 65532 || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil ||
		*sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		len(sc.Capabilities.Add) != 0 {
		t.Errorf("container security context %+v", sc)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports %+v", c.Ports)
	}
	for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != "metrics" {
			t.Errorf("probe %+v, want %s on metrics", probe, path)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Error("controller has no resources")
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/etc/headroom/policy" || ps.Volumes[0].ConfigMap == nil {
		t.Errorf("policy mount %+v / %+v", c.VolumeMounts, ps.Volumes)
	}
	policyCM := byName[*corev1.ConfigMap](t, ms, ps.Volumes[0].ConfigMap.Name)
	if ps.ServiceAccountName == "" {
		t.Error("no ServiceAccount")
	}
	byName[*corev1.ServiceAccount](t, ms, ps.ServiceAccountName)
	svc := byName[*corev1.Service](t, ms, d.Name)
	if svc.Spec.Ports[0].TargetPort.String() != "metrics" {
		t.Errorf("metrics Service port %+v", svc.Spec.Ports)
	}
	if ns == "headroom" { // the reference values: the policy loads
		dir := t.TempDir()
		for name, body := range policyCM.Data {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := policies.Load(dir); err != nil {
			t.Errorf("the policy ConfigMap does not load: %v", err)
		}
	}
}

func checkRouter(t *testing.T, ms []manifest) {
	cm := byName[*corev1.ConfigMap](t, ms, "headroom-router")
	cfg, err := router.Parse([]byte(cm.Data["router.yaml"]))
	if err != nil {
		t.Fatalf("the router's config: %v", err)
	}
	if cfg.Listen != ":8080" || cfg.MetricsListen != ":9090" {
		t.Errorf("listen %q, metricsListen %q; want :8080 and :9090 (metrics off the traffic port)", cfg.Listen, cfg.MetricsListen)
	}
	d := byName[*appsv1.Deployment](t, ms, "headroom-router")
	ps := d.Spec.Template.Spec
	need := cfg.Server.DrainDelay.D() + cfg.Server.ShutdownGrace.D()
	if g := ps.TerminationGracePeriodSeconds; g == nil || float64(*g) < need.Seconds() {
		t.Errorf("terminationGracePeriodSeconds %v < drainDelay + shutdownGrace %v", g, need)
	}
	c := ps.Containers[0]
	if c.SecurityContext == nil || !*c.SecurityContext.ReadOnlyRootFilesystem || ps.SecurityContext.RunAsUser == nil || *ps.SecurityContext.RunAsUser != 65532 {
		t.Error("router is not non-root with a read-only root")
	}
	// The routes are `headroom render --routes` of the reference policy.
	r := renderReference(t)
	var want struct {
		Models []router.ModelConfig `json:"models"`
	}
	b, err := r.RoutesYAML()
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &want); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range cfg.Models {
		got = append(got, m.Class)
	}
	var wantClasses []string
	for _, m := range want.Models {
		wantClasses = append(wantClasses, m.Class)
	}
	if !slices.Equal(got, wantClasses) {
		t.Errorf("router classes %v, render --routes %v", got, wantClasses)
	}
	role := byName[*rbacv1.Role](t, ms, "headroom-router")
	if len(role.Rules) != 1 || !slices.Equal(role.Rules[0].Resources, []string{"endpointslices"}) ||
		!slices.Equal(role.Rules[0].Verbs, []string{"get", "list", "watch"}) {
		t.Errorf("router Role %+v", role.Rules)
	}
}

func renderReference(t *testing.T) render.Readers {
	t.Helper()
	pol, err := policies.Load("../examples/reference")
	if err != nil {
		t.Fatal(err)
	}
	r, err := render.Render(pol, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkReaders: the chart emits `headroom render`'s objects unchanged but
// for spec.replicas of the Deployments headroom manages, which it leaves to
// the controller (templates/readers.yaml says why).
func checkReaders(t *testing.T, ms []manifest) {
	b, err := renderReference(t).YAML()
	if err != nil {
		t.Fatal(err)
	}
	// normal decodes a document to JSON with sorted keys, replicas dropped
	// where headroom owns them.
	normal := func(doc []byte) string {
		t.Helper()
		var o map[string]any
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatal(err)
		}
		if o == nil {
			return ""
		}
		if o["kind"] == "Deployment" {
			ann, _ := o["metadata"].(map[string]any)["annotations"].(map[string]any)
			if f, _ := ann["headroom.dev/managed-fields"].(string); strings.Contains(f, "spec.replicas") {
				delete(o["spec"].(map[string]any), "replicas")
			}
		}
		j, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return string(j)
	}
	var want, got []string
	for _, doc := range splitDocs(b) {
		if n := normal(doc); n != "" {
			want = append(want, n)
		}
	}
	out, err := runHelm(t, "template", "headroom", chartDir, "--namespace", "headroom", "-f", referenceValues,
		"--show-only", "templates/readers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range splitDocs([]byte(out)) {
		if n := normal(doc); n != "" {
			got = append(got, n)
		}
		if strings.Contains(string(doc), "kind: Deployment") && regexp.MustCompile(`(?m)^  replicas:`).Match(doc) {
			t.Errorf("a reader Deployment carries spec.replicas:\n%s", doc)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if len(want) != 28 || !slices.Equal(got, want) {
		t.Errorf("the chart's readers differ from headroom render's: %d objects, want %d", len(got), len(want))
	}
	for _, m := range ms {
		if d, ok := m.obj.(*appsv1.Deployment); ok && d.Labels["app.kubernetes.io/managed-by"] == "headroom" && d.Namespace != "headroom" {
			t.Errorf("reader %s in namespace %q, the controller watches headroom", d.Name, d.Namespace)
		}
	}
}

func checkMIGParted(t *testing.T, ms []manifest) {
	cm := byName[*corev1.ConfigMap](t, ms, "headroom-mig-parted-config")
	if cm.Namespace != "hr-default-gpu" {
		t.Errorf("mig-parted ConfigMap in %q", cm.Namespace)
	}
	cfgs, err := catalog.ParseMIGParted([]byte(cm.Data["config.yaml"]))
	if err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	if _, ok := cfgs["all-disabled"]; !ok {
		t.Errorf("no all-disabled entry: %v", cfgs)
	}
}

// checkRBACRules: the chart's controller rules are exactly
// scaler/kube/testdata/rbac.yaml's (the adapter's tested access) plus the
// Lease.
func checkRBACRules(t *testing.T, ms []manifest) {
	var want, got []string
	rules := func(into *[]string, scope string, rs []rbacv1.PolicyRule) {
		for _, r := range rs {
			*into = append(*into, fmt.Sprintf("%s %v %v %v %v", scope, r.APIGroups, r.Resources, r.ResourceNames, r.Verbs))
		}
	}
	b, err := os.ReadFile("../scaler/kube/testdata/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range splitDocs(b) {
		var o struct {
			Kind     string              `json:"kind"`
			Metadata metav1.ObjectMeta   `json:"metadata"`
			Rules    []rbacv1.PolicyRule `json:"rules"`
		}
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatal(err)
		}
		switch {
		case o.Metadata.Name == "headroom-kube-cluster":
			rules(&want, "cluster", o.Rules)
		case o.Metadata.Name == "headroom-kube-readers" && o.Kind == "ClusterRole":
			rules(&want, "readers", o.Rules)
		case o.Kind == "Role":
			for i := range o.Rules { // the adapter's default name; the chart's is a value
				o.Rules[i].ResourceNames = []string{"headroom-mig-parted-config"}
			}
			rules(&want, "mig", o.Rules)
		}
	}
	want = append(want, "lease [coordination.k8s.io] [leases] [] [create]",
		"lease [coordination.k8s.io] [leases] [headroom-controller] [get update]")
	rules(&got, "cluster", byName[*rbacv1.ClusterRole](t, ms, "headroom-controller-cluster").Rules)
	rules(&got, "readers", byName[*rbacv1.ClusterRole](t, ms, "headroom-controller-readers").Rules)
	rules(&got, "mig", byName[*rbacv1.Role](t, ms, "headroom-controller-mig-parted").Rules)
	rules(&got, "lease", byName[*rbacv1.Role](t, ms, "headroom-controller-leader-election").Rules)
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("chart rules:\n  %s\nwant (scaler/kube/testdata/rbac.yaml + the Lease):\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if rb := byName[*rbacv1.RoleBinding](t, ms, "headroom-controller-readers"); rb.Namespace != "headroom" || rb.RoleRef.Kind != "ClusterRole" {
		t.Errorf("readers RoleBinding %s/%s -> %+v", rb.Namespace, rb.Name, rb.RoleRef)
	}
	if r := byName[*rbacv1.Role](t, ms, "headroom-controller-mig-parted"); r.Namespace != "gpu-operator" {
		t.Errorf("mig-parted Role in %q", r.Namespace)
	}
}

// installOrder is the order objects are created in: what others refer to
// first (Helm's own install order, for the kinds the chart has).
var installOrder = []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
	"ConfigMap", "PersistentVolumeClaim", "Service", "Deployment", "PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"}

// TestChartOnAPIServer creates every object of both renders on a real
// kube-apiserver, with strict field validation, the Prometheus Operator's
// CRDs first; then runs the RBAC check (chart_rbac_test.go) on the same
// server.
func TestChartOnAPIServer(t *testing.T) {
	cases := map[string][]manifest{}
	for _, c := range chartCases {
		cases[c.name] = renderChart(t, c)
	}
	env := envtest.Start(t)
	crds, err := crenvtest.InstallCRDs(env.Config, crenvtest.CRDInstallOptions{ErrorIfPathMissing: true,
		Paths: []string{"testdata/monitoring.coreos.com_servicemonitors.yaml", "testdata/monitoring.coreos.com_prometheusrules.yaml"}})
	if err != nil || len(crds) != 2 {
		t.Fatalf("installing the Prometheus Operator CRDs: %v (%d)", err, len(crds))
	}
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chartCases {
		t.Run("create/"+c.name, func(t *testing.T) {
			ms := slices.Clone(cases[c.name])
			sort.SliceStable(ms, func(i, j int) bool {
				return slices.Index(installOrder, ms[i].kind) < slices.Index(installOrder, ms[j].kind)
			})
			made := map[string]bool{}
			for _, m := range ms {
				if slices.Index(installOrder, m.kind) < 0 {
					t.Fatalf("%s: kind %s not in installOrder", m.file, m.kind)
				}
				o := m.obj.(metav1.Object)
				if ns := o.GetNamespace(); ns != "" && !made[ns] {
					if _, err := env.Client.CoreV1().Namespaces().Create(t.Context(),
						&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
						t.Fatal(err)
					}
					made[ns] = true
				}
				if err := createAny(t.Context(), env, dyn, m.obj); err != nil {
					t.Errorf("%s %s/%s (%s): %v", m.kind, o.GetNamespace(), o.GetName(), m.file, err)
				}
			}
		})
	}
	t.Run("rbac", func(t *testing.T) { testChartRBAC(t, env) })
	t.Run("helm-install", func(t *testing.T) { testHelmInstall(t, env) })
}

// createAny creates a typed object through create (deploy_test.go) and a
// Prometheus Operator object through the dynamic client, both strict.
func createAny(ctx context.Context, env *envtest.Env, dyn dynamic.Interface, obj any) error {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return create(ctx, env.Client, obj.(metav1.Object).GetNamespace(), obj)
	}
	gv, err := schema.ParseGroupVersion(u.GetAPIVersion())
	if err != nil {
		return err
	}
	res := map[string]string{"ServiceMonitor": "servicemonitors", "PrometheusRule": "prometheusrules"}[u.GetKind()]
	if res == "" {
		return fmt.Errorf("no resource for %s", u.GetKind())
	}
	_, err = dyn.Resource(gv.WithResource(res)).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{FieldValidation: "Strict"})
	return err
}

// TestReferenceValues: the example values are examples/reference's policy,
// `headroom render` and `headroom render --routes` of it, and the router
// config of deploy/router; -update rewrites the file from them.
func TestReferenceValues(t *testing.T) {
	want := referenceValuesFile(t)
	if *update {
		if err := os.WriteFile(referenceValues, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(referenceValues)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what examples/reference and headroom render give; run go test ./deploy -run TestReferenceValues -update", referenceValues)
	}
}

func referenceValuesFile(t *testing.T) []byte {
	t.Helper()
	indent := func(n int, s string) string {
		pad := strings.Repeat(" ", n)
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		for i, l := range lines {
			if l != "" {
				lines[i] = pad + l
			}
		}
		return strings.Join(lines, "\n")
	}
	policy := map[string]string{}
	files, err := filepath.Glob("../examples/reference/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		policy[filepath.Base(f)] = indent(6, string(b))
	}
	r := renderReference(t)
	readers, err := r.YAML()
	if err != nil {
		t.Fatal(err)
	}
	routes, err := r.RoutesYAML()
	if err != nil {
		t.Fatal(err)
	}
	// The router config of deploy/router/configmap.yaml, less the addresses
	// (the chart sets them) and models.
	cm := find[*corev1.ConfigMap](t, loadDir(t, "router"), "router/configmap.yaml")
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["router.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	delete(cfg, "listen")
	delete(cfg, "metricsListen")
	delete(cfg, "models")
	rc, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = template.Must(template.New("values").Parse(referenceValuesTmpl)).Execute(&buf, map[string]any{
		"Policy": policy, "Readers": indent(4, string(readers)), "Routes": indent(4, string(routes)),
		"RouterConfig": indent(4, string(rc)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const referenceValuesTmpl = `# The reference fleet (examples/reference) as chart values. Generated by
# go test ./deploy -run TestReferenceValues -update (deploy/chart_test.go);
# for your own fleet, produce the same three blocks with
#   headroom render --policy ./policy > readers.yaml
#   headroom render --policy ./policy --routes > routes.yaml
# and pass them with --set-file (docs/deploy.md).
#
#   helm install headroom deploy/chart/headroom -n headroom \
#     -f deploy/chart/headroom/examples/reference-values.yaml

controller:
  prometheusURL: http://prometheus-operated.monitoring.svc:9090
  serviceAccount:
    annotations:
      eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/headroom-controller
  extraArgs:
    - --prometheus-router-matchers=namespace="headroom"

# examples/reference, one key per file.
policy:
  files:
{{- range $name, $body := .Policy }}
    {{ $name }}: |
{{ $body }}
{{- end }}

router:
  enabled: true
  nodeSelector: {headroom.dev/pool: router}
  # deploy/router/configmap.yaml's config, less listen and models.
  config:
{{ .RouterConfig }}
  # headroom render --policy examples/reference --routes
  routes: |
{{ .Routes }}

# headroom render --policy examples/reference
readers:
  manifests: |
{{ .Readers }}

monitoring:
  labels: {release: kube-prometheus-stack}
`

// testHelmInstall runs `helm install` of the reference values against the
// API server (readers rendered for their own namespace, so they do not meet
// create/reference's), with the Prometheus Operator's CRDs served, then pins
// what `helm upgrade` does to what headroom changed since: the replicas and
// the mig-parted file are kept (the release does not carry them), and a
// reader's resources headroom right-sized make the upgrade fail on the field
// manager conflict until --force-conflicts resets them (docs/deploy.md).
func testHelmInstall(t *testing.T, env *envtest.Env) {
	ctx := t.Context()
	const ns, mig, class = "hi", "hi-gpu", "reader-en-large"
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	writeKubeconfig(t, env.Config, kubeconfig)
	pol, err := policies.Load("../examples/reference")
	if err != nil {
		t.Fatal(err)
	}
	r, err := render.Render(pol, render.Options{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	readers, err := r.YAML()
	if err != nil {
		t.Fatal(err)
	}
	routes, err := r.RoutesYAML()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"readers.yaml": readers, "routes.yaml": routes} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: mig}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	args := []string{"hi", chartDir, "--kubeconfig", kubeconfig, "-n", ns, "-f", referenceValues,
		"--set", "migParted.namespace=" + mig,
		"--set-file", "readers.manifests=" + filepath.Join(dir, "readers.yaml"),
		"--set-file", "router.routes=" + filepath.Join(dir, "routes.yaml")}
	helmDo := func(verb string, extra ...string) error {
		t.Helper()
		_, err := runHelm(t, append(append([]string{verb}, extra...), args...)...)
		return err
	}
	if err := helmDo("install", "--create-namespace"); err != nil {
		t.Fatal(err)
	}
	apps := env.Client.AppsV1().Deployments(ns)
	cms := env.Client.CoreV1().ConfigMaps(mig)
	reader := func() *appsv1.Deployment {
		t.Helper()
		d, err := apps.Get(ctx, class, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := reader(); *d.Spec.Replicas != 1 {
		t.Errorf("a new reader has %d replicas, want the API default 1 (the release leaves replicas to headroom)", *d.Spec.Replicas)
	}
	for _, name := range []string{"hi-headroom-controller", "hi-headroom-router"} {
		if _, err := apps.Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := dyn.Resource(schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"}).
		Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(rules.Items) != 2 {
		t.Errorf("PrometheusRules after install (auto: the API server serves monitoring.coreos.com/v1): %v, %v", err, rules)
	}

	// headroom scales the reader and publishes a MIG layout.
	sc, err := apps.GetScale(ctx, class, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc.Spec.Replicas = 7
	if _, err := apps.UpdateScale(ctx, class, sc, metav1.UpdateOptions{FieldManager: "headroom"}); err != nil {
		t.Fatal(err)
	}
	cm, err := cms.Get(ctx, "headroom-mig-parted-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const published = "version: v1\nmig-configs:\n  all-disabled:\n  - devices: all\n    mig-enabled: false\n"
	cm.Data["config.yaml"] = published
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "headroom"}); err != nil {
		t.Fatal(err)
	}
	if err := helmDo("upgrade"); err != nil {
		t.Fatalf("helm upgrade after headroom scaled: %v", err)
	}
	if d := reader(); *d.Spec.Replicas != 7 {
		t.Errorf("helm upgrade set replicas to %d; headroom had 7", *d.Spec.Replicas)
	}
	if cm, err := cms.Get(ctx, "headroom-mig-parted-config", metav1.GetOptions{}); err != nil || cm.Data["config.yaml"] != published {
		t.Errorf("helm upgrade changed or removed the mig-parted ConfigMap: %v %q", err, cm.Data["config.yaml"])
	}

	// headroom right-sizes the reader (a strategic merge patch, field manager headroom).
	k, err := kube.NewForConfig(env.Config, kube.Options{Namespace: ns, VPAMode: kube.VPAModePatchRequests,
		MIGConfigMap: kube.ConfigMapRef{Namespace: mig, Name: "headroom-mig-parted-config", Key: "config.yaml"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := k.Start(kctx); err != nil {
		t.Fatal(err)
	}
	if err := k.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.SetResources(ctx, class, scaler.Resources{CPUCores: 3, MemoryBytes: 20 << 30}); err != nil {
		t.Fatal(err)
	}
	err = helmDo("upgrade")
	if err == nil || !strings.Contains(err.Error(), `with "headroom"`) || !strings.Contains(err.Error(), "resources.requests.cpu") {
		t.Errorf("helm upgrade after headroom right-sized: %v, want a field manager conflict with headroom", err)
	}
	if err := helmDo("upgrade", "--force-conflicts"); err != nil {
		t.Fatalf("helm upgrade --force-conflicts: %v", err)
	}
	if cpu := reader().Spec.Template.Spec.Containers[0].Resources.Requests.Cpu(); cpu.String() != "4" {
		t.Errorf("after --force-conflicts the reader requests %v CPU, want the rendered 4", cpu)
	}
	if d := reader(); *d.Spec.Replicas != 7 {
		t.Errorf("helm upgrade --force-conflicts set replicas to %d; headroom had 7", *d.Spec.Replicas)
	}
}

// writeKubeconfig writes cfg (envtest's admin) as a kubeconfig for helm.
func writeKubeconfig(t *testing.T, cfg *rest.Config, path string) {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
}
