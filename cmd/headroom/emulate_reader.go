package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/router/emulator"
)

func newEmulateReaderCmd(a *app) *cobra.Command {
	var o emulator.Options
	var listen, logLevel, policyDir, gpuModel string
	cmd := &cobra.Command{
		Use:   "emulate-reader",
		Short: "Run a stand-in model server for tests and demos (not a model)",
		Long: `emulate-reader serves HTTP like a model server ("reader") without a GPU or
a model: every request (any path but /healthz, /readyz, /metrics) is answered
with a small JSON body after a log-normal service time fitted to
--service-mean and --service-p95 of the slice profile, with --concurrency
requests in service and up to --max-queue waiting (503 past that). /readyz
answers 503 for --load-delay after start, like a loading model. /metrics
exports DCGM_FI_DEV_FB_USED and DCGM_FI_DEV_FB_FREE (MiB) with dcgm-exporter's
labels, so the controller's GPU-memory queries work against it.

With --policy DIR, the service time, concurrency, load delay and model memory
come from the ModelClass --class's measured profile --profile (on
--gpu-model when the class lists the profile on several GPUs); flags given
explicitly still win.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newJSONLogger(a.stderr, logLevel)
			if err != nil {
				return err
			}
			if policyDir != "" {
				if o, err = optionsFromPolicy(cmd, o, policyDir, gpuModel); err != nil {
					return err
				}
			}
			if gpuModel != "" && !cmd.Flags().Changed("gpu-memory-mib") {
				if o.GPUMemoryMiB, err = usableMiB(gpuModel, o.Profile); err != nil {
					return err
				}
			}
			r, err := emulator.New(o)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listening: %w", err)
			}
			log.Info("emulated reader listening", zap.String("addr", ln.Addr().String()),
				zap.String("class", o.Class), zap.String("profile", o.Profile),
				zap.Duration("serviceMean", o.ServiceMean), zap.Duration("serviceP95", o.ServiceP95),
				zap.Int("concurrency", o.Concurrency), zap.Duration("loadDelay", o.LoadDelay))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return err
			}
			if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", ":8000", "listen address")
	f.StringVar(&policyDir, "policy", "", "policy directory: take the class's measured profile from it")
	f.StringVar(&gpuModel, "gpu-model", "", `GPU model, e.g. "H100-80GB": picks the policy's profile and the slice's usable memory from the catalog`)
	f.StringVar(&logLevel, "log-level", "info", "log level")
	f.StringVar(&o.Class, "class", "emulated", "model class echoed in answers")
	f.StringVar(&o.Version, "version", "v1", "model version echoed in answers")
	f.StringVar(&o.Profile, "profile", "whole", `GPU slice profile, e.g. "2g.20gb", or "whole"`)
	f.DurationVar(&o.ServiceMean, "service-mean", 38*time.Millisecond, "mean service time")
	f.DurationVar(&o.ServiceP95, "service-p95", 70*time.Millisecond, "95th percentile service time (= mean: constant)")
	f.IntVar(&o.Concurrency, "concurrency", 4, "requests in service at once")
	f.IntVar(&o.MaxQueue, "max-queue", 64, "requests waiting at most; 503 past it")
	f.DurationVar(&o.LoadDelay, "load-delay", 0, "model-load time before /readyz answers 200")
	f.Float64Var(&o.GPUMemoryMiB, "gpu-memory-mib", 0, "slice memory in MiB (default: the catalog's usable memory with --gpu-model, else the profile's nominal size, else 81559)")
	f.Float64Var(&o.ModelMemoryMiB, "model-memory-mib", 14336, "memory the loaded model uses, MiB")
	f.Float64Var(&o.RequestMemoryMiB, "request-memory-mib", 256, "memory per request in service, MiB")
	f.Float64Var(&o.ErrorRate, "error-rate", 0, "fraction of requests answered 500")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the service-time draws")
	f.StringVar(&o.GPU, "gpu", "0", "dcgm label gpu")
	f.StringVar(&o.GPUInstanceID, "gpu-instance-id", "", "dcgm label GPU_I_ID")
	f.StringVar(&o.Hostname, "hostname", os.Getenv("NODE_NAME"), "dcgm label Hostname (default $NODE_NAME)")
	f.StringVar(&o.Pod, "pod", os.Getenv("POD_NAME"), "dcgm label pod (default $POD_NAME)")
	f.StringVar(&o.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "dcgm label namespace (default $POD_NAMESPACE)")
	f.StringVar(&o.Container, "container", "reader", "dcgm label container")
	return cmd
}

// optionsFromPolicy takes the class's profile from the policy, then
// re-applies the flags the user set explicitly.
func optionsFromPolicy(cmd *cobra.Command, o emulator.Options, dir, gpu string) (emulator.Options, error) {
	p, err := policies.Load(dir)
	if err != nil {
		return o, err
	}
	c, ok := p.Class(o.Class)
	if !ok {
		return o, fmt.Errorf("policy %s has no model class %q (set --class)", dir, o.Class)
	}
	n, err := emulator.FromClass(o, c, gpu, o.Profile)
	if err != nil {
		return o, err
	}
	f := cmd.Flags()
	keep := map[string]func(){
		"service-mean":     func() { n.ServiceMean = o.ServiceMean },
		"service-p95":      func() { n.ServiceP95 = o.ServiceP95 },
		"concurrency":      func() { n.Concurrency = o.Concurrency },
		"load-delay":       func() { n.LoadDelay = o.LoadDelay },
		"model-memory-mib": func() { n.ModelMemoryMiB = o.ModelMemoryMiB },
	}
	for name, restore := range keep {
		if f.Changed(name) {
			restore()
		}
	}
	return n, nil
}

// usableMiB is the usable memory of a slice profile ("whole" for the whole
// GPU) of a GPU model, from the project's catalog.
func usableMiB(gpu, profile string) (float64, error) {
	g, ok := catalog.Default().GPU(gpu)
	if !ok {
		return 0, fmt.Errorf("unknown GPU model %q (see headroom catalog)", gpu)
	}
	p, ok := g.Profile(profile)
	if !ok {
		return 0, fmt.Errorf("GPU %s has no profile %q (it has %v)", gpu, profile, g.ProfileNames())
	}
	return p.UsableGiB * 1024, nil
}
