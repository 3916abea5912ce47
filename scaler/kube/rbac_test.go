package kube

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// rbacObjects reads testdata/rbac.yaml strictly.
func rbacObjects(t testing.TB, path string) (crs []rbacv1.ClusterRole, crbs []rbacv1.ClusterRoleBinding, rs []rbacv1.Role, rbs []rbacv1.RoleBinding) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatal(err)
		}
		var target any
		switch tm.Kind {
		case "ClusterRole":
			crs = append(crs, rbacv1.ClusterRole{})
			target = &crs[len(crs)-1]
		case "ClusterRoleBinding":
			crbs = append(crbs, rbacv1.ClusterRoleBinding{})
			target = &crbs[len(crbs)-1]
		case "Role":
			rs = append(rs, rbacv1.Role{})
			target = &rs[len(rs)-1]
		case "RoleBinding":
			rbs = append(rbs, rbacv1.RoleBinding{})
			target = &rbs[len(rbs)-1]
		case "":
			continue
		default:
			t.Fatalf("%s: unexpected kind %q", path, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, target); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
}

// applyRBAC creates the objects of path with namespaces renamed (ns maps
// the file's to the test's), cluster-scoped names suffixed (tests share
// the server) and, when drop is set, that resource removed from every rule.
func applyRBAC(t testing.TB, c kubernetes.Interface, path string, ns map[string]string, suffix, drop string) {
	t.Helper()
	ctx := t.Context()
	crs, crbs, rs, rbs := rbacObjects(t, path)
	rename := func(n string) string {
		if v, ok := ns[n]; ok {
			return v
		}
		t.Fatalf("%s: namespace %q not mapped", path, n)
		return ""
	}
	dropRules := func(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
		for i := range rules {
			rules[i].Resources = slices.DeleteFunc(rules[i].Resources, func(r string) bool { return r == drop })
		}
		return slices.DeleteFunc(rules, func(r rbacv1.PolicyRule) bool { return len(r.Resources) == 0 })
	}
	subjects := func(s []rbacv1.Subject) []rbacv1.Subject {
		for i := range s {
			s[i].Namespace = rename(s[i].Namespace)
		}
		return s
	}
	for _, o := range crs {
		o.Name += suffix
		o.Rules = dropRules(o.Rules)
		must[*rbacv1.ClusterRole](t)(c.RbacV1().ClusterRoles().Create(ctx, &o, metav1.CreateOptions{}))
	}
	for _, o := range crbs {
		o.Name += suffix
		o.RoleRef.Name += suffix
		o.Subjects = subjects(o.Subjects)
		must[*rbacv1.ClusterRoleBinding](t)(c.RbacV1().ClusterRoleBindings().Create(ctx, &o, metav1.CreateOptions{}))
	}
	for _, o := range rs {
		o.Namespace = rename(o.Namespace)
		o.Rules = dropRules(o.Rules)
		must[*rbacv1.Role](t)(c.RbacV1().Roles(o.Namespace).Create(ctx, &o, metav1.CreateOptions{}))
	}
	for _, o := range rbs {
		o.Namespace = rename(o.Namespace)
		if o.RoleRef.Kind == "ClusterRole" {
			o.RoleRef.Name += suffix
		}
		o.Subjects = subjects(o.Subjects)
		must[*rbacv1.RoleBinding](t)(c.RbacV1().RoleBindings(o.Namespace).Create(ctx, &o, metav1.CreateOptions{}))
	}
}

// TestRBACFile checks the file's shape without a server: every rule names
// its verbs, and no rule grants a wildcard.
func TestRBACFile(t *testing.T) {
	crs, _, rs, _ := rbacObjects(t, "testdata/rbac.yaml")
	var rules []rbacv1.PolicyRule
	for _, r := range crs {
		rules = append(rules, r.Rules...)
	}
	for _, r := range rs {
		rules = append(rules, r.Rules...)
	}
	if len(rules) != 10 {
		t.Errorf("%d rules; the docs' RBAC table lists 10", len(rules))
	}
	for _, r := range rules {
		all := strings.Join(append(append(r.Verbs, r.Resources...), r.APIGroups...), ",")
		if len(r.Verbs) == 0 || strings.Contains(all, "*") {
			t.Errorf("rule %+v: no verbs or a wildcard", r)
		}
	}
}
