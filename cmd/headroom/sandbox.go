package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/headroom-dev/headroom/sandbox"
)

func newSandboxCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the whole system on this machine: control plane with kwok GPU nodes, cloud, router, readers, Prometheus, controller",
		Long: `sandbox up starts a real control plane (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok) whose nodes are kwok nodes
that follow the policy's nodegroups, a local AWS endpoint as the cloud,
one emulated reader per Running reader pod, the router, Prometheus and
the controller; replays a trace through the router, prints the
controller's actions as it takes them, and at the end the router-measured
SLO attainment and the node-hours used. sandbox down stops everything a
sandbox in --dir started, by PID. Binaries: scripts/sandbox-bins.sh
(docs/sandbox.md).`,
	}
	cmd.AddCommand(newSandboxUpCmd(a), newSandboxDownCmd(a))
	return cmd
}

func defaultSandboxBin() string {
	if d := os.Getenv("HEADROOM_SANDBOX_BIN"); d != "" {
		return d
	}
	return ""
}

func newSandboxUpCmd(a *app) *cobra.Command {
	var o sandbox.Options
	var ro sandbox.ReplayOptions
	var keep bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the sandbox, replay a trace, report; --keep leaves it running",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Bin.Dir == "" {
				return errors.New("--bin-dir (or $HEADROOM_SANDBOX_BIN) is required: scripts/sandbox-bins.sh prints it")
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			o.Bin.Headroom = self
			o.Out = a.stdout
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// A sandbox left in --dir (killed, or still up) goes first.
			if _, err := sandbox.StopRecorded(ctx, o.Dir, 10*time.Second); err != nil {
				return err
			}
			_, _ = sandbox.DeleteCluster(o.Bin, o.Dir, "")
			if err := os.RemoveAll(o.Dir); err != nil {
				return err
			}
			s, err := sandbox.Up(ctx, o)
			if err != nil {
				return err
			}
			defer func() {
				a.stdout.Write([]byte("sandbox: stopping\n"))
				s.Down()
			}()
			if err := s.WaitSteady(ctx, 3*time.Minute); err != nil {
				return err
			}
			rep, err := s.Replay(ctx, ro)
			if err != nil {
				return err
			}
			rep.Print(a.stdout, s.PromURL)
			if keep {
				a.stdout.Write([]byte("sandbox: running; Ctrl-C or `make sandbox-down` stops it\n"))
				<-ctx.Done()
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Bin.Dir, "bin-dir", defaultSandboxBin(), "directory of kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok, kwokctl, prometheus (scripts/sandbox-bins.sh)")
	f.StringVar(&o.Policy, "policy", "sandbox/testdata/policy", "policy directory")
	f.StringVar(&o.Dir, "dir", filepath.Join(os.TempDir(), "headroom-sandbox"), "state directory: cluster, configs, logs, PIDs")
	f.DurationVar(&o.Interval, "interval", 2*time.Second, "controller interval")
	f.StringVar(&ro.Trace, "trace", "simulations/testdata/traces/AzureLLMInferenceTrace_conv.csv", "trace file to replay")
	f.StringVar(&ro.Class, "class", "", "class the trace's requests go to (default the policy's first)")
	f.Float64Var(&ro.Schedule.Speedup, "speedup", 20, "time compression of the trace")
	f.Float64Var(&ro.Schedule.Scale, "scale", 1, "rate multiplier")
	f.IntVar(&ro.Schedule.MaxRequests, "max-requests", 40000, "bound on requests sent")
	f.DurationVar(&ro.Schedule.MaxDuration, "max-duration", 4*time.Minute, "bound on the replay's length")
	f.BoolVar(&keep, "keep", false, "leave the sandbox running after the replay, until Ctrl-C or sandbox down")
	return cmd
}

func newSandboxDownCmd(a *app) *cobra.Command {
	var dir, binDir string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop everything a sandbox in --dir started, by PID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			pids, err := sandbox.StopRecorded(ctx, dir, 10*time.Second)
			a.stdout.Write([]byte("sandbox down: stopped " + strconv.Itoa(len(pids)) + " processes\n"))
			if err != nil {
				return err
			}
			if binDir != "" {
				out, err := sandbox.DeleteCluster(sandbox.Binaries{Dir: binDir}, dir, "")
				a.stdout.Write(out)
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", filepath.Join(os.TempDir(), "headroom-sandbox"), "the sandbox's state directory")
	cmd.Flags().StringVar(&binDir, "bin-dir", defaultSandboxBin(), "binaries directory (kwokctl deletes the cluster)")
	return cmd
}
