package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// app carries what every subcommand shares: its streams. Subcommands take it
// instead of reaching for os.Stdout, so tests run them in-process.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// exitError ends the process with a code other than 1 without printing an
// error, e.g. `policy diff` exits 2 when something changed... or 1 for
// lint findings that were already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "headroom",
		Short: "Autoscaling and capacity planning for GPU inference on Kubernetes",
		Long: `headroom sizes, packs and scales multi-model NLP inference on EKS: it
forecasts request rates, bin-packs model replicas onto MIG slices, GPUs and
spot/on-demand nodegroups, and acts on replicas, VPA and nodegroup sizes.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.AddCommand(
		newPolicyCmd(a),
		newCatalogCmd(a),
		newPackCmd(a),
		newForecastCmd(a),
		newTraceCmd(a),
		newSimulateCmd(a),
		newWhatifCmd(a),
		newRouterCmd(a),
		newEmulateReaderCmd(a),
		newControllerCmd(a),
		newRenderCmd(a),
		newScorecardCmd(a),
		newSandboxCmd(a),
	)
	return root
}

// run executes the command line and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(stderr, "headroom: %v\n", err)
	return 1
}
