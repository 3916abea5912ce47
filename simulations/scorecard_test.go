package simulations

import (
	"bytes"
	"strings"
	"testing"

	"github.com/headroom-dev/headroom/scaler"
)

func TestScorecardVerdicts(t *testing.T) {
	row := func(run string, att, vs, cost float64) ScoreRow {
		return ScoreRow{Run: run, Attainment: []float64{att, att + 0.00001}, Worst5m: []float64{0.9, 0.95}, Cost: []float64{cost, cost}, VsBound: []float64{vs, vs}}
	}
	for _, tc := range []struct {
		name     string
		rows     []ScoreRow
		bestHPA  string
		headroom string // the verdict's start
	}{
		{"met: cheaper than the cheapest HPA target that meets the goal", []ScoreRow{
			row("headroom", 0.999, 1.10, 100), row("hpa-ca@0.4", 0.999, 1.30, 120), row("hpa-ca@0.5", 0.997, 1.20, 110), row("hpa-ca@0.7", 0.98, 1.05, 95),
		}, "hpa-ca@0.5", "met"},
		{"a tie within 0.01 points is equal attainment", []ScoreRow{
			row("headroom", 0.99998, 1.15, 100), row("hpa-ca@0.4", 0.99999, 1.16, 101),
		}, "hpa-ca@0.4", "met"},
		{"dearer than the best HPA", []ScoreRow{
			row("headroom", 0.999, 1.10, 100), row("hpa-ca@0.4", 0.999, 1.05, 90),
		}, "hpa-ca@0.4", "missed: not cheaper than hpa-ca@0.4"},
		{"no HPA target meets the goal: the best is the highest attainment", []ScoreRow{
			row("headroom", 0.93, 1.50, 100), row("hpa-ca@0.4", 0.88, 1.6, 120), row("hpa-ca@0.7", 0.82, 1.4, 90),
		}, "hpa-ca@0.4", "missed: within SLO 93.000% < 99.5%; 1.50x > 1.25x the bound"},
		{"cheaper but worse", []ScoreRow{
			row("headroom", 0.996, 1.10, 80), row("hpa-ca@0.3", 0.9999, 1.3, 120),
		}, "hpa-ca@0.3", "missed: lower attainment than hpa-ca@0.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Score{Scenario: "x", Seeds: []uint64{1, 2}, Rows: tc.rows}
			if b := s.BestHPA(); b < 0 || s.Rows[b].Run != tc.bestHPA {
				t.Fatalf("best HPA %d, want %s", b, tc.bestHPA)
			}
			if v := s.Verdict(0); !strings.HasPrefix(v, tc.headroom) {
				t.Fatalf("verdict %q, want %q", v, tc.headroom)
			}
			var b bytes.Buffer
			if err := WriteScorecard(&b, []*Score{s}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), "| "+tc.bestHPA+" |") || !strings.Contains(b.String(), "best HPA target") {
				t.Fatalf("table lacks the best HPA row:\n%s", b.String())
			}
		})
	}
}

func TestScenarioHPASweep(t *testing.T) {
	s, err := ParseScenario("s.yaml", []byte("trace: t.csv\npolicies: [p]\nbaselines: [hpa-ca, static]\nhpaUtilizations: [0.4, 0.7]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range s.hpaOptions("hpa-ca") {
		names = append(names, h.Name)
	}
	if got := strings.Join(names, ","); got != "hpa-ca@0.4,hpa-ca@0.7" {
		t.Fatalf("sweep runs %s", got)
	}
	if n := len(s.hpaOptions("static")); n != 1 {
		t.Fatalf("static runs %d times", n)
	}
	if _, err := ParseScenario("s.yaml", []byte("trace: t.csv\npolicies: [p]\nhpaUtilizations: [1.5]\n")); err == nil || !strings.Contains(err.Error(), "hpaUtilizations") {
		t.Fatalf("a target over 1 gave %v", err)
	}
}

func TestScenarioPacker(t *testing.T) {
	for _, p := range append([]string{""}, scaler.Packers...) {
		if _, err := ParseScenario("s.yaml", []byte("trace: t.csv\npolicies: [p]\npacker: \""+p+"\"\n")); err != nil {
			t.Errorf("packer %q: %v", p, err)
		}
	}
	if _, err := ParseScenario("s.yaml", []byte("trace: t.csv\npolicies: [p]\npacker: ffd\n")); err == nil || !strings.Contains(err.Error(), `packer "ffd": want greedy or binpack`) {
		t.Fatalf("an unknown packer gave %v", err)
	}
}
