package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/simulations"
	"github.com/headroom-dev/headroom/simulations/trace"
)

type simulateFlags struct {
	trace, scenario, mix, duration, mode, report, output string
	policies, baselines                                  []string
	seed                                                 uint64
	scale                                                float64
	noBound                                              bool
	noHeadroom                                           bool
	hpaMetric                                            string
	hpaUtil                                              float64
	packer                                               string
	world                                                simulations.WorldOptions
}

func newSimulateCmd(a *app) *cobra.Command {
	var f simulateFlags
	cmd := &cobra.Command{
		Use:   "simulate --trace T --policy DIR [--policy DIR2 ...] [--baseline hpa-ca]",
		Short: "Replay a trace against a simulated cluster and compare policies and baselines",
		Long: `simulate replays a recorded trace against a simulated EKS cluster and cloud
on a virtual clock, runs headroom's real controller with each policy (and the
chosen baselines: hpa-ca for HPA + Cluster Autoscaler, static for static
provisioning at peak) and the clairvoyant bound, and compares SLO attainment
and cost side by side. The same seed gives byte-identical results.

A trace without classes is spread over the policy's classes by --mix
(class=share,...) or evenly. --scale superposes a per-request trace that many
times (shifted) or multiplies a rate trace.

` + traceTimeHelp + `

Runs go in parallel, one per core; the same seed gives the same results
whatever the cores (only wallSeconds differs).`,
		Example: `  headroom simulate --trace simulations/testdata/traces/AzureLLMInferenceTrace_conv.csv \
    --policy examples/reference --baseline hpa-ca --scale 20 --report out/report.html
  headroom simulate --scenario simulations/testdata/scenarios/reference-azure.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSimulate(cmd.Context(), a, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.trace, "trace", "", "trace file: per-request CSV, rate CSV or Prometheus query_range JSON")
	fl.StringVar(&f.scenario, "scenario", "", "scenario file (trace, policies, baselines, mix); flags given too override it")
	fl.StringArrayVar(&f.policies, "policy", nil, "policy directory to run headroom with (repeat to compare)")
	fl.StringArrayVar(&f.baselines, "baseline", nil, "baseline to run too: hpa-ca or static (repeatable, or comma-separated)")
	fl.StringVar(&f.mix, "mix", "", "class shares for a trace without classes, e.g. reader-en-large=0.6,reader-en-base=0.4")
	fl.Uint64Var(&f.seed, "seed", 1, "random seed (same seed, same result)")
	fl.StringVar(&f.duration, "duration", "", "simulate only the first part of the trace, e.g. 30m")
	fl.Float64Var(&f.scale, "scale", 1, "load multiplier (whole copies for a per-request trace)")
	fl.StringVar(&f.mode, "mode", "auto", "request (every request), flow (per-step queueing model) or auto")
	fl.StringVar(&f.packer, "packer", "greedy", "headroom's packer: greedy or binpack (the solver)")
	fl.StringVar(&f.report, "report", "", "write a self-contained HTML report here")
	fl.StringVarP(&f.output, "output", "o", outTable, "output format: table or json")
	fl.BoolVar(&f.noBound, "no-bound", false, "do not run the clairvoyant bound")
	fl.BoolVar(&f.noHeadroom, "no-headroom", false, "run only the baselines (and the bound) on the first policy's fleet")
	fl.StringVar(&f.hpaMetric, "hpa-metric", "rps", "HPA baseline metric per replica: rps or inflight")
	fl.Float64Var(&f.hpaUtil, "hpa-utilization", 0.7, "HPA baseline target as a share of a replica's capacity")
	fl.Float64Var(&f.world.SpotInterruptionsPerHour, "spot-interruptions", 0, "spot interruptions per node-hour (default 0.02; negative: none)")
	fl.Float64Var(&f.world.SpotShortfall, "spot-shortfall", 0, "probability a spot launch finds no capacity (default 0.05; negative: never)")
	fl.DurationVar(&f.world.ScrapeInterval, "scrape-interval", 0, "metrics scrape interval (default 15s)")
	fl.DurationVar(&f.world.QueueTimeout, "queue-timeout", 0, "how long a request may wait for a replica (default 30s)")
	fl.DurationVar(&f.world.ImagePull, "image-pull", 0, "image pull time on a node without the image (default 30s)")
	return cmd
}

func runSimulate(ctx context.Context, a *app, f simulateFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := checkFormat(f.output, outTable, outJSON); err != nil {
		return trouble(a, err)
	}
	if f.scenario != "" {
		sc, err := simulations.LoadScenario(f.scenario)
		if err != nil {
			return trouble(a, err)
		}
		if f.trace == "" {
			f.trace = sc.Path(sc.Trace)
		}
		if len(f.policies) == 0 {
			for _, p := range sc.Policies {
				f.policies = append(f.policies, sc.Path(p))
			}
		}
		if len(f.baselines) == 0 {
			f.baselines = sc.Baselines
		}
		if f.mix == "" && len(sc.Mix) > 0 {
			var parts []string
			for k, v := range sc.Mix {
				parts = append(parts, fmt.Sprintf("%s=%g", k, v))
			}
			f.mix = strings.Join(parts, ",")
		}
		if f.scale == 1 && sc.Scale > 0 {
			f.scale = sc.Scale
		}
		if f.duration == "" {
			f.duration = sc.Duration
		}
		if f.mode == "auto" && sc.Mode != "" {
			f.mode = sc.Mode
		}
		if sc.Seed != 0 && f.seed == 1 {
			f.seed = sc.Seed
		}
		f.noBound = f.noBound || sc.NoBound
	}
	if f.trace == "" {
		return trouble(a, fmt.Errorf("--trace (or --scenario) is required"))
	}
	if len(f.policies) == 0 {
		return trouble(a, fmt.Errorf("--policy is required: the policy directory headroom runs with (and the fleet the baselines run on)"))
	}
	mode, err := simulations.ParseMode(f.mode)
	if err != nil {
		return trouble(a, err)
	}
	var dur time.Duration
	if f.duration != "" {
		if dur, err = time.ParseDuration(f.duration); err != nil || dur < 0 {
			return trouble(a, fmt.Errorf("--duration %q: want a duration such as 30m", f.duration))
		}
	}
	mix, err := simulations.ParseMix(f.mix)
	if err != nil {
		return trouble(a, err)
	}
	baselines, err := parseBaselines(f.baselines)
	if err != nil {
		return trouble(a, err)
	}
	if f.noHeadroom && len(baselines) == 0 && f.noBound {
		return trouble(a, fmt.Errorf("--no-headroom with no --baseline and --no-bound leaves nothing to run"))
	}
	hopts, err := headroomOptions(f.packer)
	if err != nil {
		return trouble(a, err)
	}
	pols := make([]*policies.Policy, 0, len(f.policies))
	for _, dir := range f.policies {
		p, err := loadOrReport(a, dir, exitTrouble)
		if err != nil {
			return err
		}
		pols = append(pols, p)
	}
	tr, err := readTrace(f.trace)
	if err != nil {
		return trouble(a, err)
	}
	var classes []string
	for _, c := range pols[0].Classes {
		classes = append(classes, c.Name)
	}
	for i, p := range pols[1:] {
		if len(p.Classes) != len(classes) {
			return trouble(a, fmt.Errorf("policy %s has %d classes and %s has %d: compared policies must serve the same classes", f.policies[i+1], len(p.Classes), f.policies[0], len(classes)))
		}
		for k, c := range p.Classes {
			if c.Name != classes[k] {
				return trouble(a, fmt.Errorf("policy %s has class %q where %s has %q: compared policies must serve the same classes", f.policies[i+1], c.Name, f.policies[0], classes[k]))
			}
		}
	}
	wl, err := simulations.NewWorkload(tr, simulations.WorkloadOptions{Classes: classes, Mix: mix, Scale: f.scale,
		Duration: dur, Seed: f.seed, Poisson: mode == simulations.ModeRequest})
	if err != nil {
		return trouble(a, err)
	}
	warnTimeRules(a, wl.Start, pols...)
	var cs []simulations.Contender
	for i, p := range pols {
		if f.noHeadroom {
			break
		}
		cs = append(cs, simulations.Contender{PolicyName: policyLabel(f.policies[i]), Policy: p, Controller: simulations.NewHeadroom(hopts)})
	}
	for _, b := range baselines {
		fac, _ := simulations.Baseline(b, simulations.HPAOptions{Metric: f.hpaMetric, Utilization: f.hpaUtil})
		cs = append(cs, simulations.Contender{PolicyName: policyLabel(f.policies[0]), Policy: pols[0], Controller: fac})
	}
	if len(cs) == 0 { // --no-headroom, no baseline: the bound alone
		cs = append(cs, simulations.Contender{PolicyName: policyLabel(f.policies[0]), Policy: pols[0], Controller: simulations.NewClairvoyant(0)})
		f.noBound = true
	}
	cmp, err := compare(ctx, a, simulations.CompareOptions{Contenders: cs, Workload: wl, Seed: f.seed, Mode: mode, NoBound: f.noBound, World: f.world})
	if err != nil {
		return err
	}
	if err := writeReport(a, f.report, cmp); err != nil {
		return err
	}
	switch f.output {
	case outJSON:
		if err := writeJSON(a.stdout, cmp); err != nil {
			return err
		}
	default:
		if err := simulations.WriteTable(a.stdout, cmp); err != nil {
			return err
		}
		writeWallTimes(a.stdout, cmp)
		if f.report != "" {
			fmt.Fprintf(a.stdout, "\nHTML report: %s\n", f.report)
		}
	}
	return nil
}

// writeWallTimes prints how long each run took on this machine.
func writeWallTimes(w io.Writer, cmp *simulations.Comparison) {
	var parts []string
	for _, r := range cmp.Runs {
		parts = append(parts, fmt.Sprintf("%s/%s %.1f s", r.Controller, r.Policy, r.WallSeconds))
	}
	fmt.Fprintf(w, "\nwall time per run (in parallel): %s\n", strings.Join(parts, ", "))
}

// traceTimeHelp is said in every command that replays a trace.
const traceTimeHelp = `A trace's timestamps are when its requests happened: a rate CSV's
window_start_s must be Unix seconds (what trace record writes), so the
policy's cron rules (scheduled minimums, disruption windows) fall on real
weekdays and hours. A trace whose times start near 0 (1970-01-01) replays
on 1970's calendar, and a warning says so when the policy has such rules.`

// parseBaselines reads --baseline values (repeated or comma-separated);
// "none" stands for no baseline.
func parseBaselines(values []string) ([]string, error) {
	var out []string
	for _, b := range values {
		for _, name := range strings.Split(b, ",") {
			name = strings.TrimSpace(name)
			switch {
			case name == "" || name == "none":
			case simulations.KnownBaseline(name):
				out = append(out, name)
			default:
				return nil, fmt.Errorf("unknown baseline %q (want hpa-ca, static or none)", name)
			}
		}
	}
	return out, nil
}

// headroomOptions are the controller's options for --packer.
func headroomOptions(packer string) (scaler.Options, error) {
	p, err := scaler.PackerNamed(packer)
	if err != nil {
		return scaler.Options{}, fmt.Errorf("--%w", err)
	}
	return scaler.Options{Packer: p}, nil
}

// warnTimeRules warns when a trace starts in 1970 (its times are offsets,
// not Unix seconds) while a policy has rules that follow the calendar.
func warnTimeRules(a *app, start time.Time, pols ...*policies.Policy) {
	if start.UTC().Year() != 1970 {
		return
	}
	for _, p := range pols {
		if rules := timeRules(p); rules > 0 {
			fmt.Fprintf(a.stderr, "headroom: warning: the trace starts at %s UTC: its timestamps look like offsets from 0, not Unix seconds, "+
				"so the policy's %d time-based rule(s) (scheduled minimums, disruption windows) follow 1970's calendar (1970-01-01 was a Thursday)\n",
				start.UTC().Format("2006-01-02 15:04"), rules)
			return
		}
	}
}

// timeRules counts a policy's cron rules.
func timeRules(p *policies.Policy) int {
	n := len(p.Cluster.Spec.Disruption.Windows)
	for _, c := range p.Classes {
		n += len(c.Spec.Scaling.ScheduledMinimums)
	}
	return n
}

func policyLabel(dir string) string { return filepath.Base(filepath.Clean(dir)) }

// readTrace reads a CSV trace, or a Prometheus query_range JSON response.
func readTrace(path string) (*trace.Trace, error) { return simulations.ReadTrace(path) }

// isTerminal reports whether w is a character device (a terminal), where a
// progress bar belongs; pipes and files get none.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func progressBar(w io.Writer) func(run string, done, total time.Duration) {
	return func(run string, done, total time.Duration) {
		if total <= 0 {
			return
		}
		frac := float64(done) / float64(total)
		const width = 30
		n := int(frac * width)
		fmt.Fprintf(w, "\rrun %s [%s%s] %3.0f%%", run, strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*frac)
	}
}

// compare runs a comparison with a progress bar on a terminal.
func compare(ctx context.Context, a *app, opts simulations.CompareOptions) (*simulations.Comparison, error) {
	if isTerminal(a.stderr) {
		opts.Progress = progressBar(a.stderr)
	}
	cmp, err := simulations.Compare(ctx, opts)
	if isTerminal(a.stderr) {
		fmt.Fprint(a.stderr, "\r\033[K")
	}
	if err != nil {
		return nil, trouble(a, err)
	}
	return cmp, nil
}

// writeReport writes the HTML report to path (atomically), when asked.
func writeReport(a *app, path string, cmp *simulations.Comparison) error {
	if path == "" {
		return nil
	}
	if err := simulations.WriteFileAtomic(path, func(w io.Writer) error { return simulations.WriteHTML(w, cmp) }); err != nil {
		return trouble(a, err)
	}
	return nil
}
