package simulations

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/policies"
)

func whatifRuns(head, base []ClassResult) *Comparison {
	return &Comparison{Workload: "w", Duration: "1h0m0.4s", Seed: 1, Runs: []*Result{
		{Controller: "headroom", Classes: head, CostPerHour: 110},
		{Controller: "headroom", Classes: base, CostPerHour: 100},
	}}
}

func TestWhatIfVerdict(t *testing.T) {
	cr := func(att, target float64) ClassResult {
		return ClassResult{Class: "c", SLOMs: 300, Attainment: att, Target: target, Worst5m: att}
	}
	for _, c := range []struct {
		name       string
		head, base ClassResult
		pass       bool
		status     string
	}{
		{"kept", cr(0.99, 0.95), cr(0.999, 0.95), true, "ok"},
		{"broken", cr(0.94, 0.95), cr(0.96, 0.95), false, "broken"},
		{"missed on both", cr(0.90, 0.95), cr(0.93, 0.95), true, "missed (both)"},
		{"fixed", cr(0.96, 0.95), cr(0.93, 0.95), true, "fixed"},
		// a lowered target does not excuse a miss of base's
		{"target lowered", cr(0.92, 0.90), cr(0.96, 0.95), false, "broken"},
		{"target raised and missed", cr(0.97, 0.99), cr(0.97, 0.95), false, "broken"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wi, err := NewWhatIf(whatifRuns([]ClassResult{c.head}, []ClassResult{c.base}), Side{Ref: "main"}, Side{Ref: "HEAD"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if wi.Pass != c.pass || status(wi.Classes[0]) != c.status {
				t.Errorf("pass %v status %q, want %v %q: %s", wi.Pass, status(wi.Classes[0]), c.pass, c.status, wi.Verdict)
			}
			if want := "cost +$10.00/h (+$1,680.00/week, +10.0%)"; !strings.Contains(wi.Verdict, want) {
				t.Errorf("verdict %q lacks %q", wi.Verdict, want)
			}
			if wi.Duration != "1h0m0s" {
				t.Errorf("duration %q", wi.Duration)
			}
		})
	}
	if _, err := NewWhatIf(&Comparison{Runs: []*Result{{}}}, Side{}, Side{}, nil); err == nil {
		t.Error("one run: no error")
	}
}

// A fleet of thousands of classes and a diff of thousands of lines still
// make a comment GitHub accepts, with the changed classes in it.
func TestWhatIfMarkdownFitsAComment(t *testing.T) {
	var head, base []ClassResult
	for i := 0; i < 3000; i++ {
		c := ClassResult{Class: fmt.Sprintf("class-%04d", i), SLOMs: 300, Attainment: 0.999, Target: 0.95, Worst5m: 0.99, MeanReplicas: 3, MaxReplicas: 4}
		head, base = append(head, c), append(base, c)
	}
	head[1234].Attainment = 0.5
	var changes []policies.Change
	for i := 0; i < 5000; i++ {
		changes = append(changes, policies.Change{Kind: policies.KindModelClass, Name: fmt.Sprintf("class-%04d", i%3000), Op: policies.ChangeChanged,
			Field: "spec.scaling.maxReplicas", Old: "40", New: "```|<b>"})
	}
	wi, err := NewWhatIf(whatifRuns(head, base), Side{Ref: "main", Commit: "0123456789abcdef"}, Side{Ref: "HEAD", Dirty: true}, changes)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := wi.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if b.Len() > MaxMarkdown {
		t.Errorf("comment is %d bytes, over %d", b.Len(), MaxMarkdown)
	}
	for _, want := range []string{"main (0123456) → HEAD + uncommitted changes", "| class-1234 |", "❌ broken", "2999 classes with the same outcome", "more (run headroom policy diff)"} {
		if !strings.Contains(out, want) {
			t.Errorf("comment lacks %q", want)
		}
	}
	if strings.Count(out, "```") != 2 {
		t.Error("a change value closed the code block")
	}
}

func TestProgressAverages(t *testing.T) {
	var got []string
	p := newProgress(func(run string, done, total time.Duration) {
		got = append(got, fmt.Sprintf("%s %v/%v", run, done, total))
	}, 2, time.Hour)
	p.run(0)(30*time.Minute, time.Hour)
	p.run(1)(time.Hour, time.Hour)
	p.run(0)(time.Hour, time.Hour)
	if want := []string{"0/2 15m0s/1h0m0s", "1/2 45m0s/1h0m0s", "2/2 1h0m0s/1h0m0s"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("progress %q, want %q", got, want)
	}
	if newProgress(nil, 1, time.Hour).run(0) != nil {
		t.Error("a callback without a progress function")
	}
}

func TestWhatIfCostByNodegroup(t *testing.T) {
	cmp := whatifRuns(nil, nil)
	cmp.Duration = "2h0m0s"
	// base: 2 h at $100/h; head: 2 h at $110/h, a new spot group
	cmp.Runs[1].Cost, cmp.Runs[1].CostBy = 200, []CostLine{{NodeGroup: "a", CapacityType: "on-demand", Cost: 200}}
	cmp.Runs[0].Cost, cmp.Runs[0].CostBy = 220, []CostLine{{NodeGroup: "a", CapacityType: "on-demand", Cost: 180}, {NodeGroup: "b", CapacityType: "spot", Cost: 40}}
	wi, err := NewWhatIf(cmp, Side{Ref: "main"}, Side{Ref: "HEAD"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []CostDiff{{"a", "on-demand", 100, 90}, {"b", "spot", 0, 20}}
	if fmt.Sprint(wi.CostBy) != fmt.Sprint(want) {
		t.Errorf("cost by nodegroup %v, want %v", wi.CostBy, want)
	}
	var b bytes.Buffer
	wi.WriteMarkdown(&b)
	if !strings.Contains(b.String(), "| b | spot | 0.00 | 20.00 | +$20.00 |") {
		t.Errorf("comment lacks the spot group:\n%s", b.String())
	}
}
