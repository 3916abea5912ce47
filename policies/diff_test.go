package policies

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestDiff(t *testing.T) {
	base := string(minimal(t))
	tests := []struct {
		name  string
		edits [][2]string // old -> new replacements applied to the base
		want  []string
	}{
		{"identical", nil, nil},
		{"explicit default is no change", [][2]string{{"slo: {latency: 300ms}", "slo: {latency: 300ms, percentile: 95}"}}, nil},
		{"reformatting is no change", [][2]string{{"size: {min: 0, max: 4}", "size:\n    min: 0\n    max: 4"}}, nil},
		{"scalar change", [][2]string{{"slo: {latency: 300ms}", "slo: {latency: 300ms}\n  scaling: {minReplicas: 2}"}},
			[]string{"reader-de: spec.scaling.minReplicas 1 -> 2"}},
		{"defaulted value follows its source", [][2]string{{"serviceTime: {mean: 38ms}", "serviceTime: {mean: 40ms}"}},
			[]string{"reader-de: spec.profiles[H100-80GB/2g.20gb].serviceTime.mean 38ms -> 40ms", "reader-de: spec.profiles[H100-80GB/2g.20gb].serviceTime.p95 76ms -> 80ms"}},
		{"nodegroup and cluster", [][2]string{{"max: 4", "max: 6"}, {"region: eu-central-1", "region: eu-west-1"}},
			[]string{"cluster: spec.region eu-central-1 -> eu-west-1", "gpu-p5: spec.size.max 4 -> 6"}},
		{"added and removed", [][2]string{{"name: reader-de", "name: reader-fr"}},
			[]string{"- ModelClass reader-de", "+ ModelClass reader-fr"}},
		{"list of names", [][2]string{{"image: reader:1", "image: reader:1\n  tenants: [acme]"}},
			[]string{"reader-de: spec.tenants (unset) -> [acme]"}},
		{"cluster document removed", [][2]string{{"kind: Cluster\nmetadata: {name: test}\nspec: {region: eu-central-1}", "kind: NodeGroup\nmetadata: {name: cpu}\nspec: {instanceType: m6i.2xlarge, size: {max: 1}}"}},
			[]string{`cluster: name test -> ""`, "cluster: spec.region eu-central-1 -> (unset)", "+ NodeGroup cpu"}},
		{"labels", [][2]string{{"metadata: {name: gpu-p5}", "metadata: {name: gpu-p5, labels: {team.example.com/owner: sre}}"}},
			[]string{"gpu-p5: labels[team.example.com/owner] (unset) -> sre"}},
	}
	old := mustParse(t, base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := base
			for _, e := range tt.edits {
				src = replaceOnce(t, src, e[0], e[1])
			}
			var got []string
			for _, c := range Diff(old, mustParse(t, src)) {
				got = append(got, c.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestDiffMovedDocuments: splitting files and reordering documents and
// keyed list entries is no change.
func TestDiffMovedDocuments(t *testing.T) {
	a := reference(t)
	dir := t.TempDir()
	var docs []string
	for _, f := range []string{"cluster.yaml", "nodegroups.yaml", "readers.yaml", "retrieval.yaml"} {
		b, err := os.ReadFile(filepath.Join("../examples/reference", f))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, strings.Split(string(b), "\n---\n")...)
	}
	for i, d := range docs { // one document per file, in reverse order of names
		name := filepath.Join(dir, string(rune('z'-i))+".yaml")
		if err := os.WriteFile(name, []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ch := Diff(a, b); len(ch) != 0 {
		t.Fatalf("moving documents changed: %v", ch)
	}
}

// TestDiffProperty: a policy never differs from itself, and changing one
// class's minReplicas gives exactly that change.
func TestDiffProperty(t *testing.T) {
	p := reference(t)
	rapid.Check(t, func(t *rapid.T) {
		i := rapid.IntRange(0, len(p.Classes)-1).Draw(t, "class")
		min := rapid.IntRange(1, 30).Draw(t, "min")
		q := mustParseReference(t)
		q.Classes[i].Spec.Scaling.MinReplicas = min
		changes := Diff(p, q)
		if min == p.Classes[i].Spec.Scaling.MinReplicas {
			if len(changes) != 0 {
				t.Fatalf("no edit, got %v", changes)
			}
			return
		}
		if len(changes) != 1 || changes[0].Name != p.Classes[i].Name || changes[0].Field != "spec.scaling.minReplicas" {
			t.Fatalf("got %v", changes)
		}
	})
}

func mustParseReference(t *rapid.T) *Policy {
	p, err := Load("../examples/reference")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
