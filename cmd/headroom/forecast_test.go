package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runForecastCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestForecastSynthAndBacktest(t *testing.T) {
	dir := t.TempDir()
	code, csv, errs := runForecastCLI(t, "forecast", "synth", "--days", "9", "--step", "30m", "--seed", "3")
	if code != 0 || !strings.HasPrefix(csv, "window_start_s,total_rate_rps\n0,") {
		t.Fatalf("synth: %d %q %s", code, csv[:min(len(csv), 80)], errs)
	}
	path := filepath.Join(dir, "s.csv")
	if err := os.WriteFile(path, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	svg := filepath.Join(dir, "p.svg")
	code, out, errs := runForecastCLI(t, "forecast", "backtest", "--trace", path, "--step", "30m", "--horizon", "1h", "--methods", "persistence,ewma", "--plot", svg)
	if code != 0 {
		t.Fatalf("backtest: %d %s", code, errs)
	}
	for _, want := range []string{"METHOD", "auto", "persistence", "ewma", "COVERAGE", "horizon 1h0m0s = 2 steps"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if b, err := os.ReadFile(svg); err != nil || !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("s.csv: auto forecast 1h0m0s ahead")) {
		t.Fatalf("plot: %v %.200q", err, b)
	}
	code, out, errs = runForecastCLI(t, "forecast", "backtest", "--trace", path, "--step", "30m", "--horizon", "1h", "--methods", "persistence", "-o", "json")
	var rep struct {
		Result struct {
			Results []struct {
				Method  string
				Metrics struct{ WAPE, Coverage float64 }
			}
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Result.Results) != 2 || rep.Result.Results[0].Method != "auto" {
		t.Fatalf("json: %d %s %s", code, out, errs)
	}
}

func TestForecastBacktestErrors(t *testing.T) {
	const rate = "../../simulations/testdata/traces/servegen_language_m-mid_rate.csv"
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("TIMESTAMP\n2023-11-16 18:17:03\n2023-11-16 18:17:01\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"forecast", "backtest"}, "required flag"},
		{[]string{"forecast", "backtest", "--trace", bad}, "line 3"},
		{[]string{"forecast", "backtest", "--trace", bad, "--plot", "x.gif"}, ".svg or .png"},
		{[]string{"forecast", "backtest", "--trace", bad, "--methods", "magic"}, "unknown forecast method"},
		{[]string{"forecast", "backtest", "--trace", bad, "-o", "xml"}, "unknown output format"},
		{[]string{"forecast", "backtest", "--trace", filepath.Join(dir, "missing.csv")}, "opening trace"},
		// Hostile flags on a good trace (docs/reliability.md).
		{[]string{"forecast", "backtest", "--trace", rate, "--step", "-1m"}, "must be positive"},
		{[]string{"forecast", "backtest", "--trace", rate, "--step", "1ns"}, "trace too large"},
		{[]string{"forecast", "backtest", "--trace", rate, "--quantile", "NaN"}, "quantile NaN"},
		{[]string{"forecast", "backtest", "--trace", rate, "--horizon", "100000h"}, "too short"},
		{[]string{"forecast", "backtest", "--trace", "/dev/zero"}, "a line longer than"},
	} {
		code, _, errs := runForecastCLI(t, tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: code %d, stderr %q, want %q", tc.args, code, errs, tc.want)
		}
	}
}

func TestForecastChoose(t *testing.T) {
	dir := t.TempDir()
	_, csv, _ := runForecastCLI(t, "forecast", "synth", "--days", "8", "--step", "30m", "--seed", "4")
	path := filepath.Join(dir, "s.csv")
	if err := os.WriteFile(path, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runForecastCLI(t, "forecast", "choose", "--trace", path, "--step", "30m", "--horizon", "1h")
	if code != 0 || !strings.Contains(out, "upper quantile: ") || !strings.Contains(out, "hw-add-weekly") || !strings.Contains(out, "skipped: needs 336 points (a week)") {
		t.Fatalf("choose: %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = runForecastCLI(t, "forecast", "choose", "--trace", path, "--step", "30m", "-o", "json")
	var sel struct{ Method, PointMethod string }
	if code != 0 || json.Unmarshal([]byte(out), &sel) != nil || sel.Method == "" || sel.PointMethod == "" {
		t.Fatalf("choose json: %d %s", code, out)
	}
}
