package forecast

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/simulations/trace"
)

var update = flag.Bool("update", false, "rewrite testdata/backtest_golden.json")

// goldenCase is one backtest whose figures are pinned in testdata.
type goldenCase struct {
	Name    string        `json:"name"`
	Trace   string        `json:"trace"` // file in the shared traces, or "synthetic"
	Step    time.Duration `json:"step"`
	Horizon time.Duration `json:"horizon"`
}

var goldenCases = []goldenCase{
	{"servegen 10m h15m", "servegen_language_m-mid_rate.csv", 10 * time.Minute, 15 * time.Minute},
	{"servegen 10m h1h", "servegen_language_m-mid_rate.csv", 10 * time.Minute, time.Hour},
	{"azure conv 10s h1m", "AzureLLMInferenceTrace_conv.csv", 10 * time.Second, time.Minute},
	{"azure code 10s h1m", "AzureLLMInferenceTrace_code.csv", 10 * time.Second, time.Minute},
	{"synthetic 28d 10m h15m", "synthetic", 10 * time.Minute, 15 * time.Minute},
}

const sharedTraces = "../../shared/data/traces"

func goldenSeries(t *testing.T, c goldenCase) Series {
	if c.Trace == "synthetic" {
		return Synthetic(SyntheticOptions{Step: c.Step, Len: int(28 * 24 * time.Hour / c.Step), Base: 100, Daily: 0.6, Weekly: 0.3, Noise: 0.05, Seed: 1})
	}
	p := filepath.Join(sharedTraces, c.Trace)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared trace missing: %v", err)
		}
		t.Skipf("shared trace missing: %v", err)
	}
	tr, err := trace.ReadFile(p, trace.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := tr.Resample(c.Step, trace.ResampleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return Series{Start: s.Start, Step: s.Step, Values: s.Values}
}

// TestBacktestGolden pins the backtest figures of the shared traces and a
// synthetic one, and checks the quality claims of the package docs: the
// upper quantile's coverage is near nominal, and the automatic choice is
// not meaningfully worse than persistence. Regenerate with
// go test ./forecast -run TestBacktestGolden -update.
func TestBacktestGolden(t *testing.T) {
	got := map[string][]MethodResult{}
	for _, c := range goldenCases {
		s := goldenSeries(t, c)
		r, err := Backtest(s, BacktestOptions{Horizon: c.Horizon, Methods: []Method{Persistence, HoltWintersDaily}})
		if err != nil {
			t.Fatal(err)
		}
		got[c.Name] = r.Results
		auto, pers := r.Results[0].Metrics, r.Results[1].Metrics
		if auto.Coverage < 0.92 || auto.Coverage > 0.985 {
			t.Errorf("%s: coverage %.3f of the q=0.95 upper bound", c.Name, auto.Coverage)
		}
		if auto.WAPE > 1.02*pers.WAPE {
			t.Errorf("%s: auto WAPE %.4f is worse than persistence %.4f", c.Name, auto.WAPE, pers.WAPE)
		}
	}
	path := filepath.Join("testdata", "backtest_golden.json")
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	var want map[string][]MethodResult
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for name, rs := range got {
		w := want[name]
		if len(w) != len(rs) {
			t.Errorf("%s: %d results, golden has %d", name, len(rs), len(w))
			continue
		}
		for i := range rs {
			g, e := rs[i].Metrics, w[i].Metrics
			for _, pair := range [][2]float64{{g.WAPE, e.WAPE}, {g.SMAPE, e.SMAPE}, {g.MASE, e.MASE}, {g.Pinball, e.Pinball}, {g.Coverage, e.Coverage}} {
				if math.Abs(pair[0]-pair[1]) > 1e-9*math.Max(1, math.Abs(pair[1])) {
					t.Errorf("%s %s: metrics %+v, golden %+v", name, rs[i].Method, g, e)
					break
				}
			}
		}
	}
}
