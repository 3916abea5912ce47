package policies

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Change operations.
const (
	ChangeAdded   = "added"
	ChangeRemoved = "removed"
	ChangeChanged = "changed"
)

// Change is one semantic difference between two effective policies.
type Change struct {
	Kind string `json:"kind"` // Cluster, ModelClass or NodeGroup
	Name string `json:"name"`
	Op   string `json:"op"` // added, removed or changed
	// Field, Old and New are set for changed: the field path and its old
	// and new values ("(unset)" when absent).
	Field string `json:"field,omitempty"`
	Old   string `json:"old,omitempty"`
	New   string `json:"new,omitempty"`
}

// String renders "reader-de: spec.scaling.minReplicas 2 -> 4", or
// "+ ModelClass reader-it" / "- NodeGroup gpu-old".
func (c Change) String() string {
	switch c.Op {
	case ChangeAdded:
		return fmt.Sprintf("+ %s %s", c.Kind, c.Name)
	case ChangeRemoved:
		return fmt.Sprintf("- %s %s", c.Kind, c.Name)
	}
	who := c.Name
	if c.Kind == KindCluster {
		who = "cluster"
	}
	return fmt.Sprintf("%s: %s %s -> %s", who, c.Field, c.Old, c.New)
}

// unset is the value shown for a field one side does not have.
const unset = "(unset)"

// Diff compares two effective (defaulted) policies field by field: the
// cluster, then nodegroups, then classes, each by name. Writing a default
// explicitly, reordering documents or files, or reformatting YAML is no
// change; list entries with a natural key (profiles by gpu/profile, taints
// by key:effect, catalog entries by instance type) are matched by that key,
// so reordering them is no change either.
func Diff(old, cur *Policy) []Change {
	var out []Change
	out = append(out, diffObject(KindCluster, cmpOr(cur.Cluster.Name, old.Cluster.Name), old.Cluster, cur.Cluster)...)
	out = append(out, diffNamed(KindNodeGroup, names(old.NodeGroups, ngName), names(cur.NodeGroups, ngName),
		func(n string) any { ng, _ := old.NodeGroup(n); return ng },
		func(n string) any { ng, _ := cur.NodeGroup(n); return ng })...)
	out = append(out, diffNamed(KindModelClass, names(old.Classes, classNm), names(cur.Classes, classNm),
		func(n string) any { c, _ := old.Class(n); return c },
		func(n string) any { c, _ := cur.Class(n); return c })...)
	return out
}

func ngName(n NodeGroup) string   { return n.Name }
func classNm(c ModelClass) string { return c.Name }
func names[T any](xs []T, f func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func diffNamed(kind string, oldNames, newNames []string, getOld, getNew func(string) any) []Change {
	all := map[string]bool{}
	for _, n := range oldNames {
		all[n] = true
	}
	for _, n := range newNames {
		all[n] = true
	}
	var out []Change
	for _, n := range slices.Sorted(maps.Keys(all)) {
		inOld, inNew := slices.Contains(oldNames, n), slices.Contains(newNames, n)
		switch {
		case !inOld:
			out = append(out, Change{Kind: kind, Name: n, Op: ChangeAdded})
		case !inNew:
			out = append(out, Change{Kind: kind, Name: n, Op: ChangeRemoved})
		default:
			out = append(out, diffObject(kind, n, getOld(n), getNew(n))...)
		}
	}
	return out
}

func diffObject(kind, name string, a, b any) []Change {
	fa, fb := flatten(a), flatten(b)
	keys := map[string]bool{}
	for k := range fa {
		keys[k] = true
	}
	for k := range fb {
		keys[k] = true
	}
	var out []Change
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		va, okA := fa[k]
		vb, okB := fb[k]
		if okA && okB && va == vb {
			continue
		}
		if !okA {
			va = unset
		}
		if !okB {
			vb = unset
		}
		out = append(out, Change{Kind: kind, Name: name, Op: ChangeChanged, Field: k, Old: va, New: vb})
	}
	return out
}

// flatten turns an object into field path -> rendered value through its
// JSON form, so the paths match the policy files' spelling.
func flatten(v any) map[string]string {
	b, err := json.Marshal(v)
	if err != nil {
		return map[string]string{"": "(unrenderable: " + err.Error() + ")"}
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return map[string]string{"": "(unrenderable: " + err.Error() + ")"}
	}
	out := map[string]string{}
	flattenInto(out, "", generic)
	return out
}

func flattenInto(out map[string]string, path string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := joinPath(path, k)
			if strings.HasSuffix(path, "abels") || strings.HasSuffix(path, "devices") { // user keys: labels, nodeLabels, layout devices
				p = fmt.Sprintf("%s[%s]", path, k)
			}
			flattenInto(out, p, e)
		}
	case []any:
		if allScalars(x) {
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = render(e)
			}
			out[path] = "[" + strings.Join(parts, ", ") + "]"
			return
		}
		for i, e := range x {
			flattenInto(out, fmt.Sprintf("%s[%s]", path, elemKey(e, i)), e)
		}
	default:
		out[path] = render(v)
	}
}

// elemKey names a list element by its natural key, or its index.
func elemKey(e any, i int) string {
	m, ok := e.(map[string]any)
	if !ok {
		return strconv.Itoa(i)
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	switch {
	case str("profile") != "":
		return strings.TrimPrefix(str("gpu")+"/"+str("profile"), "/")
	case str("key") != "" && str("effect") != "":
		return str("key") + ":" + str("effect")
	case str("instanceType") != "":
		return str("instanceType")
	case str("name") != "":
		return str("name")
	}
	return strconv.Itoa(i)
}

func allScalars(xs []any) bool {
	for _, e := range xs {
		switch e.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

func render(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if x == "" {
			return `""`
		}
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}
