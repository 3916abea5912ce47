package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/headroom-dev/headroom/forecast"
	"github.com/headroom-dev/headroom/forecast/plot"
	"github.com/headroom-dev/headroom/simulations/trace"
)

func newForecastCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "forecast",
		Short: "Judge request-rate forecasters on traces",
		Long: `forecast runs headroom's forecasters (the same code the controller runs)
over recorded traces: backtest scores each method and the automatic choice;
synth writes a synthetic rate trace with known cycles.`,
	}
	cmd.AddCommand(newForecastBacktestCmd(a), newForecastChooseCmd(a), newForecastSynthCmd(a))
	return cmd
}

// readSeries reads a trace and resamples it for the forecaster.
func readSeries(path, class string, step time.Duration, interp trace.Interp) (forecast.Series, int, error) {
	tr, err := trace.ReadFile(path, trace.ReadOptions{})
	if err != nil {
		return forecast.Series{}, 0, err
	}
	ts, err := tr.Resample(step, trace.ResampleOptions{Class: class, Interp: interp})
	if err != nil {
		return forecast.Series{}, 0, fmt.Errorf("resampling %s: %w", path, err)
	}
	return forecast.Series{Start: ts.Start, Step: ts.Step, Values: ts.Values}, ts.Gaps(), nil
}

func newForecastChooseCmd(a *app) *cobra.Command {
	var (
		path, class, format string
		step, horizon, eval time.Duration
		quantile            float64
	)
	cmd := &cobra.Command{
		Use:   "choose --trace FILE",
		Short: "Show which method the forecaster would choose for the end of a trace, and why",
		Long: `choose runs the model choice once on the whole trace, as the controller
does every re-choice: a rolling-origin backtest of every method on the recent
history (--eval-window), and prints each candidate's fitted parameters and
losses, or why it was skipped.`,
		Example: `  headroom forecast choose --trace servegen_language_m-mid_rate.csv --step 10m --horizon 1h`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, outTable, outJSON, outYAML); err != nil {
				return err
			}
			s, _, err := readSeries(path, class, step, trace.Hold)
			if err != nil {
				return err
			}
			sel, err := forecast.Select(s, forecast.SelectOptions{Horizon: horizon, Quantile: quantile, EvalWindow: eval})
			if err != nil {
				return err
			}
			switch format {
			case outJSON:
				return writeJSON(a.stdout, sel)
			case outYAML:
				return writeYAML(a.stdout, sel)
			}
			fmt.Fprintf(a.stdout, "upper quantile: %s (%s)\npoint forecast: %s (%s)\n%d forecasts %d steps ahead scored; %d gaps filled, %d outliers replaced\n\n",
				sel.Method, sel.Params, sel.PointMethod, sel.PointParams, sel.Scored, sel.Horizon, sel.Filled, sel.Replaced)
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "METHOD\tQ LOSS\tPOINT LOSS\tPARAMS (upper)\tPARAMS (point)\n")
			for _, c := range sel.Candidates {
				if c.Skipped != "" {
					fmt.Fprintf(w, "%s\t-\t-\tskipped: %s\t\n", c.Method, c.Skipped)
					continue
				}
				fmt.Fprintf(w, "%s\t%.4g\t%.4g\t%s\t%s\n", c.Method, c.Loss, c.PointLoss, c.Params, c.PointParams)
			}
			return w.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&path, "trace", "", "trace CSV (see backtest)")
	fl.StringVar(&class, "class", "", "only this class of the trace (default: all classes summed)")
	fl.DurationVar(&step, "step", time.Minute, "resample the trace to this step")
	fl.DurationVar(&horizon, "horizon", 15*time.Minute, "forecast horizon")
	fl.Float64Var(&quantile, "quantile", forecast.DefaultQuantile, "quantile of the upper bound")
	fl.DurationVar(&eval, "eval-window", forecast.DefaultEvalWindow, "recent history the candidates are backtested on")
	fl.StringVarP(&format, "output", "o", outTable, "output format: table, json or yaml")
	_ = cmd.MarkFlagRequired("trace")
	return cmd
}

type backtestFlags struct {
	trace, class, methods, plot, format, interp string
	step, horizon, warmup, reselect, evalWindow time.Duration
	quantile                                    float64
}

// backtestReport is the -o json|yaml output.
type backtestReport struct {
	Trace  string `json:"trace"`
	Class  string `json:"class,omitempty"`
	Steps  int    `json:"steps"`
	Gaps   int    `json:"gaps"`
	Result forecast.BacktestResult
}

func newForecastBacktestCmd(a *app) *cobra.Command {
	var f backtestFlags
	cmd := &cobra.Command{
		Use:   "backtest --trace FILE",
		Short: "Score every forecaster and the automatic choice on a trace",
		Long: `backtest replays a trace through the online forecaster exactly as the
controller runs it (observe each step, predict the horizon ahead from the past
only, re-choose the method every --reselect) and prints, per method and for the
automatic choice: WAPE, sMAPE, MASE of the point forecast, the pinball loss of
the upper quantile and its observed coverage.`,
		Example: `  headroom forecast backtest --trace servegen_language_m-mid_rate.csv --step 10m --horizon 15m
  headroom forecast backtest --trace AzureLLMInferenceTrace_conv.csv --step 10s --horizon 1m --plot conv.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBacktest(a, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.trace, "trace", "", "trace CSV: per-request (a timestamp per row) or rates (window_start_s,total_rate_rps)")
	fl.DurationVar(&f.step, "step", time.Minute, "resample the trace to this step (10s to 1h)")
	fl.DurationVar(&f.horizon, "horizon", 15*time.Minute, "forecast horizon")
	fl.Float64Var(&f.quantile, "quantile", forecast.DefaultQuantile, "quantile of the upper bound")
	fl.StringVar(&f.plot, "plot", "", "draw actual vs the automatic choice's band to FILE.svg or FILE.png")
	fl.StringVar(&f.class, "class", "", "only this class of the trace (default: all classes summed)")
	fl.StringVar(&f.methods, "methods", "", "comma-separated methods to report (default: all)")
	fl.DurationVar(&f.warmup, "warmup", 0, "history before the first scored forecast (default: half the trace, at most 7 days)")
	fl.DurationVar(&f.reselect, "reselect", forecast.DefaultReselectEvery, "re-choose the method this often")
	fl.DurationVar(&f.evalWindow, "eval-window", forecast.DefaultEvalWindow, "recent history each choice is backtested on")
	fl.StringVar(&f.interp, "interp", "hold", "resampling a rate trace to a finer step: hold or linear (linear looks up to half a window ahead)")
	fl.StringVarP(&f.format, "output", "o", outTable, "output format: table, json or yaml")
	_ = cmd.MarkFlagRequired("trace")
	return cmd
}

func runBacktest(a *app, f backtestFlags) error {
	if err := checkFormat(f.format, outTable, outJSON, outYAML); err != nil {
		return err
	}
	var methods []forecast.Method
	if f.methods != "" {
		for _, s := range strings.Split(f.methods, ",") {
			m, err := forecast.ParseMethod(strings.TrimSpace(s))
			if err != nil {
				return err
			}
			methods = append(methods, m)
		}
	}
	interp := trace.Hold
	switch f.interp {
	case "hold":
	case "linear":
		interp = trace.Linear
	default:
		return fmt.Errorf("--interp %q: want hold or linear", f.interp)
	}
	plotFormat := strings.ToLower(filepath.Ext(f.plot))
	if f.plot != "" && plotFormat != ".svg" && plotFormat != ".png" {
		return fmt.Errorf("--plot %s: want a .svg or .png file", f.plot)
	}
	s, gaps, err := readSeries(f.trace, f.class, f.step, interp)
	if err != nil {
		return err
	}
	res, err := forecast.Backtest(s, forecast.BacktestOptions{
		Horizon: f.horizon, Quantile: f.quantile, Methods: methods, Warmup: f.warmup,
		Online:     forecast.Options{ReselectEvery: f.reselect, EvalWindow: f.evalWindow},
		KeepPoints: f.plot != "",
	})
	if err != nil {
		return fmt.Errorf("backtesting %s: %w", f.trace, err)
	}
	if f.plot != "" {
		if err := writePlot(f.plot, plotFormat, res, f); err != nil {
			return err
		}
	}
	rep := backtestReport{Trace: f.trace, Class: f.class, Steps: len(s.Values), Gaps: gaps, Result: res}
	switch f.format {
	case outJSON:
		res.Points = nil
		rep.Result = res
		return writeJSON(a.stdout, rep)
	case outYAML:
		res.Points = nil
		rep.Result = res
		return writeYAML(a.stdout, rep)
	}
	return printBacktest(a, rep)
}

func writePlot(path, format string, res forecast.BacktestResult, f backtestFlags) (err error) {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating plot: %w", err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("writing plot: %w", cerr)
		}
	}()
	w := bufio.NewWriter(out)
	o := plot.Options{Title: fmt.Sprintf("%s: auto forecast %v ahead, band to q=%g", filepath.Base(f.trace), f.horizon, res.Quantile)}
	if format == ".png" {
		err = plot.WritePNG(w, res.Points, o)
	} else {
		err = plot.WriteSVG(w, res.Points, o)
	}
	if err != nil {
		return fmt.Errorf("writing plot: %w", err)
	}
	return w.Flush()
}

func printBacktest(a *app, rep backtestReport) error {
	r := rep.Result
	fmt.Fprintf(a.stdout, "trace %s: %d steps of %v (%d gaps); horizon %v = %d steps; q=%g; warm-up %d steps; %d forecasts scored\n\n",
		rep.Trace, rep.Steps, r.Step, rep.Gaps, r.Horizon, r.HorizonSteps, r.Quantile, r.WarmupSteps, r.Origins)
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "METHOD\tWAPE\tsMAPE\tMASE\tPINBALL\tCOVERAGE\tNOTE")
	for _, m := range r.Results {
		note := m.Note
		if m.Method == forecast.Auto {
			note = "chose " + chosenSummary(m.Chosen, m.Metrics.N)
		}
		x := m.Metrics
		fmt.Fprintf(w, "%s\t%.4f\t%.4f\t%.3f\t%.4g\t%.1f%%\t%s\n", m.Method, x.WAPE, x.SMAPE, x.MASE, x.Pinball, 100*x.Coverage, note)
	}
	return w.Flush()
}

func chosenSummary(c map[forecast.Method]int, n int) string {
	if n == 0 {
		return "nothing"
	}
	type kv struct {
		m forecast.Method
		k int
	}
	var all []kv
	for m, k := range c {
		all = append(all, kv{m, k})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].k != all[j].k {
			return all[i].k > all[j].k
		}
		return all[i].m < all[j].m
	})
	var parts []string
	for _, x := range all {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", x.m, 100*float64(x.k)/float64(n)))
	}
	return strings.Join(parts, ", ")
}

func newForecastSynthCmd(a *app) *cobra.Command {
	var o forecast.SyntheticOptions
	var days float64
	cmd := &cobra.Command{
		Use:   "synth",
		Short: "Write a synthetic rate trace with daily and weekly cycles (CSV to stdout)",
		Long: `synth writes window_start_s,total_rate_rps rows of a rate series with a known
daily cycle, weekend dip, trend and noise, from a fixed seed: the same flags
always give the same file. backtest and the simulator read it as a trace.`,
		Example: `  headroom forecast synth --days 28 --step 10m --seed 1 > synth-daily-weekly.csv`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Step < forecast.MinStep || days <= 0 || days > 400 {
				return errors.New("synth: --step must be at least 1s and --days in (0, 400]")
			}
			o.Len = int(days * float64(24*time.Hour) / float64(o.Step))
			s := forecast.Synthetic(o)
			w := bufio.NewWriter(a.stdout)
			fmt.Fprintln(w, "window_start_s,total_rate_rps")
			for i, v := range s.Values {
				fmt.Fprintf(w, "%g,%.6f\n", (time.Duration(i) * o.Step).Seconds(), v)
			}
			return w.Flush()
		},
	}
	fl := cmd.Flags()
	fl.Float64Var(&days, "days", 14, "length in days")
	fl.DurationVar(&o.Step, "step", 10*time.Minute, "window length")
	fl.Float64Var(&o.Base, "base", 100, "mean rate, requests per second")
	fl.Float64Var(&o.Daily, "daily", 0.6, "relative amplitude of the daily cycle")
	fl.Float64Var(&o.Weekly, "weekly", 0.3, "relative depth of the weekend dip")
	fl.Float64Var(&o.Trend, "trend", 0, "relative growth per day")
	fl.Float64Var(&o.Noise, "noise", 0.05, "relative standard deviation of the noise")
	fl.Uint64Var(&o.Seed, "seed", 1, "random seed")
	return cmd
}
