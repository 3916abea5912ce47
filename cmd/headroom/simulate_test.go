package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runSimCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

const azureConv = "../../simulations/testdata/traces/AzureLLMInferenceTrace_conv.csv"

func TestSimulateTableJSONAndReport(t *testing.T) {
	report := filepath.Join(t.TempDir(), "out", "report.html")
	args := []string{"simulate", "--trace", azureConv, "--policy", "../../examples/reference", "--baseline", "hpa-ca",
		"--scale", "20", "--duration", "5m", "--mix", "reader-en-large=1", "--report", report}
	code, out, errOut := runSimCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"headroom", "hpa-ca", "clairvoyant", "within SLO", "HTML report: " + report, "wall time per run (in parallel): headroom/reference "} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if errOut != "" {
		t.Errorf("stderr (no progress bar off a terminal): %q", errOut)
	}
	b, err := os.ReadFile(report)
	if err != nil || !bytes.Contains(b, []byte(`<table id="runs">`)) {
		t.Fatalf("report: %v", err)
	}
	code, out, errOut = runSimCLI(t, append(args[:len(args)-2], "-o", "json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var cmp struct {
		Runs []struct {
			Controller string  `json:"controller"`
			Attainment float64 `json:"attainment"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &cmp); err != nil || len(cmp.Runs) != 3 || cmp.Runs[0].Controller != "headroom" {
		t.Fatalf("json: %v %+v", err, cmp)
	}
	// same seed, same bytes (but the wall time)
	_, out2, _ := runSimCLI(t, append(args[:len(args)-2], "-o", "json")...)
	wall := regexp.MustCompile(`"wallSeconds": [0-9.e+-]+`)
	if !strings.Contains(out, `"wallSeconds"`) || wall.ReplaceAllString(out, "") != wall.ReplaceAllString(out2, "") {
		t.Error("two runs with the same seed printed different JSON")
	}
}

func TestSimulateBadInput(t *testing.T) {
	dir := t.TempDir()
	unsorted := filepath.Join(dir, "unsorted.csv")
	os.WriteFile(unsorted, []byte("timestamp\n2023-11-16 18:00:02\n2023-11-16 18:00:01\n"), 0o644)
	empty := filepath.Join(dir, "empty.csv")
	os.WriteFile(empty, []byte("timestamp\n"), 0o644)
	badRow := filepath.Join(dir, "bad.csv")
	os.WriteFile(badRow, []byte("timestamp\n2023-11-16 18:00:01\nyesterday\n"), 0o644)
	badPolicy := filepath.Join(dir, "policy")
	os.MkdirAll(badPolicy, 0o755)
	os.WriteFile(filepath.Join(badPolicy, "p.yaml"), []byte("apiVersion: headroom.dev/v1alpha1\nkind: ModelClass\nmetadata: {name: x}\nspec: {bogus: 1}\n"), 0o644)
	report := filepath.Join(dir, "r.html")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unsorted", []string{"--trace", unsorted}, "line 3"},
		{"empty", []string{"--trace", empty}, "empty trace"},
		{"bad row", []string{"--trace", badRow}, "line 3"},
		{"missing", []string{"--trace", filepath.Join(dir, "nope.csv")}, "no such file"},
		{"unknown class", []string{"--trace", azureConv, "--mix", "reader-xl=1"}, "unknown class \"reader-xl\""},
		{"bad baseline", []string{"--trace", azureConv, "--baseline", "karpenter"}, "unknown baseline"},
		{"bad mode", []string{"--trace", azureConv, "--mode", "fast"}, "unknown mode"},
		{"bad scale", []string{"--trace", azureConv, "--scale", "1.5"}, "whole copies"},
		{"bad duration", []string{"--trace", azureConv, "--scrape-interval", "soon"}, "scrape-interval"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"simulate", "--policy", "../../examples/reference", "--report", report}, c.args...)
			code, _, errOut := runSimCLI(t, args...)
			if code == 0 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q; want an error mentioning %q", code, errOut, c.want)
			}
			if _, err := os.Stat(report); !os.IsNotExist(err) {
				t.Errorf("a report was written despite the error")
			}
		})
	}
	code, _, errOut := runSimCLI(t, "simulate", "--trace", azureConv, "--policy", badPolicy)
	if code == 0 || !strings.Contains(errOut, "p.yaml") {
		t.Errorf("policy with findings: exit %d, %q", code, errOut)
	}
}

func TestSimulateScenario(t *testing.T) {
	code, out, errOut := runSimCLI(t, "simulate", "--scenario", "../../simulations/testdata/scenarios/reference-azure-conv.yaml", "--duration", "3m", "--no-bound")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "static-peak") || strings.Contains(out, "clairvoyant") {
		t.Errorf("scenario baselines not run as asked:\n%s", out)
	}
}

// A saved Prometheus query_range response is a trace too.
func TestSimulatePromJSONTrace(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"class":"reader-base"},"values":[`)
	for i := 0; i < 20; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `[%d,"%d"]`, 1700000000+60*i, 200+10*i)
	}
	b.WriteString(`]}]}}`)
	path := filepath.Join(t.TempDir(), "rates.json")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runSimCLI(t, "simulate", "--trace", path, "--policy", "../../simulations/testdata/policies/two-readers", "--baseline", "hpa-ca")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, " flow ") || !strings.Contains(out, "reader-base") {
		t.Errorf("output:\n%s", out)
	}
}

// --no-headroom runs the baselines alone; a trace from 1970 warns when the
// policy has cron rules.
func TestSimulateBaselinesOnlyAndEpochWarning(t *testing.T) {
	trace := filepath.Join(t.TempDir(), "rates.csv")
	os.WriteFile(trace, []byte("window_start_s,total_rate_rps\n0,50\n600,60\n"), 0o644)
	code, out, errOut := runSimCLI(t, "simulate", "--trace", trace, "--policy", "../../examples/reference", "--baseline", "hpa-ca",
		"--no-headroom", "--duration", "10m", "--mix", "reader-en-large=1", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var cmp struct {
		Runs []struct {
			Controller string `json:"controller"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &cmp); err != nil || len(cmp.Runs) != 2 || cmp.Runs[0].Controller != "hpa-ca" || cmp.Runs[1].Controller != "clairvoyant" {
		t.Errorf("runs %+v (%v)", cmp.Runs, err)
	}
	if !strings.Contains(errOut, "warning: the trace starts at 1970-01-01 00:00 UTC") || !strings.Contains(errOut, "not Unix seconds") {
		t.Errorf("no 1970 warning: %q", errOut)
	}
	code, _, errOut = runSimCLI(t, "simulate", "--trace", trace, "--policy", "../../examples/reference", "--no-headroom", "--no-bound")
	if code != 2 || !strings.Contains(errOut, "nothing to run") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}
