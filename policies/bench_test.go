package policies

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkLoad loads, defaults and validates the reference fleet from
// disk (9 classes, 6 nodegroups, 4 files), reporting documents per second.
func BenchmarkLoad(b *testing.B) {
	docs := 0
	for b.Loop() {
		p, err := Load("../examples/reference")
		if err != nil {
			b.Fatal(err)
		}
		docs = 1 + len(p.Classes) + len(p.NodeGroups)
	}
	b.ReportMetric(float64(docs*b.N)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkParseScaled parses one file holding n copies of the reference
// classes (renamed), to show how lint time grows with fleet size.
func BenchmarkParseScaled(b *testing.B) {
	var base []string
	for _, f := range []string{"cluster.yaml", "nodegroups.yaml"} {
		data, err := os.ReadFile(filepath.Join("../examples/reference", f))
		if err != nil {
			b.Fatal(err)
		}
		base = append(base, string(data))
	}
	readers, err := os.ReadFile("../examples/reference/readers.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 10, 30} { // 30 x 7 classes + 7 documents stays under 256 documents per file
		parts := append([]string(nil), base...)
		for i := range n {
			parts = append(parts, strings.ReplaceAll(string(readers), "name: reader-", "name: r"+string(rune('a'+i%26))+string(rune('a'+i/26))+"-"))
		}
		src := []byte(strings.Join(parts, "\n---\n"))
		b.Run(strconv.Itoa(n*7)+"classes", func(b *testing.B) {
			for b.Loop() {
				if _, err := Parse("fleet.yaml", src); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*7*b.N)/b.Elapsed().Seconds(), "classes/s")
		})
	}
}

// BenchmarkMinReplicasAt is the scaler's per-tick floor lookup for a class
// with one scheduled minimum, reporting evaluations per second.
func BenchmarkMinReplicasAt(b *testing.B) {
	p, err := Load("../examples/reference")
	if err != nil {
		b.Fatal(err)
	}
	c, _ := p.Class("reader-de-large")
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for b.Loop() {
		now = now.Add(time.Minute)
		c.MinReplicasAt(now)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
}
