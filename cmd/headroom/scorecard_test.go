package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScorecard(t *testing.T) {
	dir := t.TempDir()
	trace, _ := filepath.Abs(azureConv)
	pol, _ := filepath.Abs("../../examples/reference")
	sc := filepath.Join(dir, "conv.yaml")
	body := "trace: " + trace + "\npolicies: [" + pol + "]\nbaselines: [hpa-ca]\nhpaUtilizations: [0.5, 0.7]\n" +
		"mix: {reader-en-large: 0.5, reader-en-base: 0.5}\nscale: 20\nduration: 3m\nmode: request\n"
	if err := os.WriteFile(sc, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runSimCLI(t, "scorecard", "--seeds", "1,2", sc)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"### conv", "seeds 1, 2", "| headroom |", "| hpa-ca@0.5 |", "| hpa-ca@0.7 |", "| clairvoyant |", "HPA default target"} {
		if !strings.Contains(out, want) {
			t.Errorf("scorecard lacks %q:\n%s", want, out)
		}
	}
	if code, _, errOut := runSimCLI(t, "scorecard", "--seeds", "1,x", sc); code != 2 || !strings.Contains(errOut, "--seeds") {
		t.Errorf("bad seeds: exit %d, %q", code, errOut)
	}
}
