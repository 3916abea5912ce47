package simulations

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/simulations/trace"
)

// Scenario is a scenario file: a trace, the policies and baselines to run
// on it, and how the trace maps onto the policy's classes. Paths are
// relative to the scenario file. Its expected outcome lives beside it in
// <name>.golden.json (regenerate with `go test ./simulations -update`).
//
//	trace: ../traces/AzureLLMInferenceTrace_conv.csv
//	policies: [../../../examples/reference]
//	baselines: [hpa-ca]
//	mix: {reader-en-large: 0.5, reader-en-base: 0.5}
//	scale: 20
//	duration: 30m
//	seed: 1
//	mode: request
type Scenario struct {
	Trace     string             `json:"trace"`
	Policies  []string           `json:"policies"`
	Baselines []string           `json:"baselines,omitempty"`
	Mix       map[string]float64 `json:"mix,omitempty"`
	Scale     float64            `json:"scale,omitempty"`
	Duration  string             `json:"duration,omitempty"`
	Seed      uint64             `json:"seed,omitempty"`
	Mode      string             `json:"mode,omitempty"`
	NoBound   bool               `json:"noBound,omitempty"`
	// Packer is headroom's packer: greedy (default) or binpack.
	Packer string `json:"packer,omitempty"`
	// HPAUtilizations runs the hpa-ca baseline once per target (each
	// named hpa-ca@<target>), so that HPA is compared at its best target
	// and not only at its default 0.7.
	HPAUtilizations []float64 `json:"hpaUtilizations,omitempty"`
	// Expect are outcome checks beyond the golden file.
	Expect []Expectation `json:"expect,omitempty"`

	dir string
}

// Expectation bounds one run's outcome.
type Expectation struct {
	Run            string  `json:"run"` // controller name
	MinAttainment  float64 `json:"minAttainment,omitempty"`
	MaxCostVsBound float64 `json:"maxCostVsBound,omitempty"`
}

// LoadScenario reads and checks a scenario file; unknown fields are errors.
// It reads at most one byte more than ParseScenario takes, so an endless
// input (/dev/zero) ends as its size error.
func LoadScenario(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxScenarioBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	return ParseScenario(path, b)
}

// maxScenarioBytes bounds a scenario file.
const maxScenarioBytes = 1 << 20

// ParseScenario reads a scenario from data; path names it in errors and
// anchors its relative paths.
func ParseScenario(path string, data []byte) (*Scenario, error) {
	if len(data) > maxScenarioBytes {
		return nil, fmt.Errorf("scenario %s: larger than %d bytes", path, maxScenarioBytes)
	}
	var s Scenario
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	s.dir = filepath.Dir(path)
	var problems []string
	if s.Trace == "" {
		problems = append(problems, "trace is required")
	}
	if len(s.Policies) == 0 {
		problems = append(problems, "policies needs at least one policy directory")
	}
	if s.Duration != "" {
		if _, err := time.ParseDuration(s.Duration); err != nil {
			problems = append(problems, fmt.Sprintf("duration %q: %v", s.Duration, err))
		}
	}
	if _, err := ParseMode(s.Mode); err != nil {
		problems = append(problems, err.Error())
	}
	if _, err := scaler.PackerNamed(s.Packer); err != nil {
		problems = append(problems, err.Error())
	}
	if s.Scale < 0 {
		problems = append(problems, fmt.Sprintf("scale %v must be positive", s.Scale))
	}
	for k, v := range s.Mix {
		if !(v >= 0) {
			problems = append(problems, fmt.Sprintf("mix share of %s must be a non-negative number", k))
		}
	}
	for _, b := range s.Baselines {
		if !KnownBaseline(b) {
			problems = append(problems, fmt.Sprintf("unknown baseline %q (want hpa-ca or static)", b))
		}
	}
	for _, u := range s.HPAUtilizations {
		if !(u > 0 && u <= 1) {
			problems = append(problems, fmt.Sprintf("hpaUtilizations: %v is outside (0, 1]", u))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("scenario %s: %s", path, strings.Join(problems, "; "))
	}
	return &s, nil
}

// Path resolves a path of the scenario file.
func (s *Scenario) Path(p string) string {
	if filepath.IsAbs(p) || s.dir == "" {
		return p
	}
	return filepath.Join(s.dir, p)
}

// DurationValue is the parsed duration, 0 for the whole trace.
func (s *Scenario) DurationValue() time.Duration {
	d, _ := time.ParseDuration(s.Duration)
	return d
}

// KnownBaseline reports whether name is a baseline Baseline can build.
func KnownBaseline(name string) bool { return name == "hpa-ca" || name == "static" }

// Baseline returns the factory of a named baseline.
func Baseline(name string, hpa HPAOptions) (ControllerFactory, error) {
	switch name {
	case "hpa-ca":
		return NewHPACA(hpa), nil
	case "static":
		return NewStatic(0), nil
	}
	return nil, fmt.Errorf("unknown baseline %q (want hpa-ca or static)", name)
}

// hpaOptions are the HPA settings a baseline runs with: one per target of
// HPAUtilizations for hpa-ca, else the defaults.
func (s *Scenario) hpaOptions(baseline string) []HPAOptions {
	if baseline != "hpa-ca" || len(s.HPAUtilizations) == 0 {
		return []HPAOptions{{}}
	}
	out := make([]HPAOptions, 0, len(s.HPAUtilizations))
	for _, u := range s.HPAUtilizations {
		out = append(out, HPAOptions{Utilization: u, Name: fmt.Sprintf("hpa-ca@%g", u)})
	}
	return out
}

// Check returns the expectations the comparison misses, in words.
func (s *Scenario) Check(c *Comparison) []string {
	var out []string
	for _, e := range s.Expect {
		found := false
		for _, r := range c.Runs {
			if r.Controller != e.Run {
				continue
			}
			found = true
			if e.MinAttainment > 0 && r.Attainment < e.MinAttainment {
				out = append(out, fmt.Sprintf("%s: attainment %.4f < %.4f", r.Controller, r.Attainment, e.MinAttainment))
			}
			if e.MaxCostVsBound > 0 && r.CostVsBound > e.MaxCostVsBound {
				out = append(out, fmt.Sprintf("%s: cost %.2fx the bound > %.2fx", r.Controller, r.CostVsBound, e.MaxCostVsBound))
			}
		}
		if !found {
			out = append(out, fmt.Sprintf("expectation names run %q, which did not run", e.Run))
		}
	}
	return out
}

// Summary is the part of a comparison a golden file pins: outcomes, not
// timelines.
type Summary struct {
	Runs []RunSummary `json:"runs"`
}

// RunSummary is one run's outcome.
type RunSummary struct {
	Controller      string             `json:"controller"`
	Policy          string             `json:"policy"`
	Requests        float64            `json:"requests"`
	Attainment      float64            `json:"attainment"`
	Cost            float64            `json:"cost"`
	CostVsBound     float64            `json:"costVsBound,omitempty"`
	Classes         map[string]float64 `json:"classAttainment"`
	Drains          int                `json:"drains"`
	Repartitions    int                `json:"repartitions"`
	InterruptedPods int                `json:"interruptedPods"`
}

// Summarize reduces a comparison to its Summary.
func Summarize(c *Comparison) Summary {
	var s Summary
	for _, r := range c.Runs {
		rs := RunSummary{Controller: r.Controller, Policy: r.Policy, Requests: r.Requests, Attainment: r.Attainment,
			Cost: r.Cost, CostVsBound: r.CostVsBound, Classes: map[string]float64{}, Drains: r.Drains,
			Repartitions: r.Repartitions, InterruptedPods: r.InterruptedPods}
		for _, cl := range r.Classes {
			rs.Classes[cl.Class] = cl.Attainment
		}
		s.Runs = append(s.Runs, rs)
	}
	return s
}

// ReadTrace reads a trace file: a Prometheus query_range response when the
// name ends in .json, else a CSV trace.
func ReadTrace(path string) (*trace.Trace, error) {
	if strings.HasSuffix(strings.ToLower(path), ".json") {
		return trace.ReadPromFile(path, trace.ReadOptions{})
	}
	return trace.ReadFile(path, trace.ReadOptions{})
}

// Run loads the scenario's policies and trace and runs the comparison:
// headroom with each policy, then the baselines and the bound on the first.
func (s *Scenario) Run(ctx context.Context) (*Comparison, error) {
	var pols []*policies.Policy
	for _, dir := range s.Policies {
		p, err := policies.Load(s.Path(dir))
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", dir, err)
		}
		pols = append(pols, p)
	}
	tr, err := ReadTrace(s.Path(s.Trace))
	if err != nil {
		return nil, err
	}
	mode, _ := ParseMode(s.Mode)
	var classes []string
	for _, c := range pols[0].Classes {
		classes = append(classes, c.Name)
	}
	wl, err := NewWorkload(tr, WorkloadOptions{Classes: classes, Mix: s.Mix, Scale: s.Scale, Duration: s.DurationValue(),
		Seed: s.Seed, Poisson: mode == ModeRequest})
	if err != nil {
		return nil, err
	}
	packer, _ := scaler.PackerNamed(s.Packer)
	var cs []Contender
	for i, p := range pols {
		cs = append(cs, Contender{PolicyName: filepath.Base(filepath.Clean(s.Policies[i])), Policy: p, Controller: NewHeadroom(scaler.Options{Packer: packer})})
	}
	for _, b := range s.Baselines {
		for _, h := range s.hpaOptions(b) {
			f, err := Baseline(b, h)
			if err != nil {
				return nil, err
			}
			cs = append(cs, Contender{PolicyName: cs[0].PolicyName, Policy: pols[0], Controller: f})
		}
	}
	return Compare(ctx, CompareOptions{Contenders: cs, Workload: wl, Seed: s.Seed, Mode: mode, NoBound: s.NoBound})
}
