package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/headroom-dev/headroom/router"
	"github.com/headroom-dev/headroom/router/endpointsfile"
	"github.com/headroom-dev/headroom/router/endpointslices"
)

func newRouterCmd(a *app) *cobra.Command {
	var cfgPath, listen, logLevel, cpuProfile, endpointsFile string
	cmd := &cobra.Command{
		Use:   "router --config FILE",
		Short: "Run the request router in front of the model servers",
		Long: `router routes each inference request to its model class and version,
authenticates API keys to tenants, shares capacity fairly across tenants,
retries within a budget, sheds load with 429/503, and exports the metrics the
controller scales on (/metrics, on metricsListen when the config sets one).
/healthz and /readyz are for probes.
SIGINT/SIGTERM drain in-flight requests before exit. The config file format is
in docs/router.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return errors.New("--config is required")
			}
			cfg, err := router.LoadFile(cfgPath)
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Listen = listen
			}
			log, err := newJSONLogger(a.stderr, logLevel)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			return serveRouter(ctx, cfg, log, endpointsFile)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "router config file (YAML)")
	cmd.Flags().StringVar(&listen, "listen", "", "listen address, overriding the config's")
	cmd.Flags().StringVar(&endpointsFile, "endpoints-file", "", "read the endpoints of versions that name a service from this file (namespace/name: [host:port, ...]), polled, instead of EndpointSlices; the sandbox's way (docs/sandbox.md)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (scripts/bench-router.sh PROFILE=)")
	cmd.AddCommand(newRouterCheckCmd(a), newRouterHashKeyCmd(a))
	return cmd
}

// serveRouter wires the router: registry, tracer, listener.
func serveRouter(ctx context.Context, cfg *router.Config, log *zap.Logger, endpointsFile string) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tp, shutdownTracing, err := router.NewTracerProvider(ctx, cfg.Tracing)
	if err != nil {
		return err
	}
	defer func() { _ = shutdownTracing(context.Background()) }()
	r, err := router.New(router.Options{Config: cfg, Logger: log, Registerer: reg, Gatherer: reg, TracerProvider: tp})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	if targets := serviceTargets(cfg); len(targets) > 0 && endpointsFile != "" {
		src := &endpointsfile.Source{Path: endpointsFile, Targets: targets, Logger: log.Named("endpointsfile")}
		go func() { _ = src.Run(ctx, r.SetEndpoints) }()
	} else if len(targets) > 0 {
		rc, err := rest.InClusterConfig()
		if err != nil {
			ln.Close()
			return fmt.Errorf("versions with a service need to run in a cluster: %w", err)
		}
		client, err := kubernetes.NewForConfig(rc)
		if err != nil {
			ln.Close()
			return fmt.Errorf("kubernetes client: %w", err)
		}
		src := &endpointslices.Source{Client: client, Targets: targets, Logger: log.Named("endpointslices")}
		go func() {
			if err := src.Run(ctx, r.SetEndpoints); err != nil {
				log.Error("endpointslice watch stopped; keeping the last endpoints", zap.Error(err))
			}
		}()
	}
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening for metrics: %w", err)
		}
		// Metrics stay up through the drain, until the router has stopped.
		mctx, stopMetrics := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := r.ServeMetrics(mctx, mln); err != nil {
				log.Error("metrics server stopped", zap.Error(err))
			}
		}()
		defer func() { stopMetrics(); <-done }()
		log.Info("metrics listening", zap.String("addr", mln.Addr().String()))
	}
	log.Info("router listening", zap.String("addr", ln.Addr().String()), zap.Int("classes", len(cfg.Models)),
		zap.Int("tenants", len(cfg.Tenants)), zap.Bool("tracing", cfg.Tracing.Enabled))
	return r.Serve(ctx, ln)
}

// serviceTargets lists the versions whose endpoints come from EndpointSlices.
func serviceTargets(cfg *router.Config) []endpointslices.Target {
	var ts []endpointslices.Target
	for _, m := range cfg.Models {
		for _, v := range m.Versions {
			if v.Service != nil {
				ts = append(ts, endpointslices.Target{Class: m.Class, Version: v.Name,
					Namespace: v.Service.Namespace, Service: v.Service.Name, Port: v.Service.Port})
			}
		}
	}
	return ts
}

func newRouterCheckCmd(a *app) *cobra.Command {
	var cfgPath, out string
	cmd := &cobra.Command{
		Use:   "check --config FILE",
		Short: "Validate a router config and print it with defaults filled in",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := checkFormat(out, outText, outJSON, outYAML); err != nil {
				return err
			}
			if cfgPath == "" {
				return errors.New("--config is required")
			}
			cfg, err := router.LoadFile(cfgPath)
			if err != nil {
				return err
			}
			switch out {
			case outJSON:
				return writeJSON(a.stdout, cfg)
			case outYAML:
				return writeYAML(a.stdout, cfg)
			}
			versions := 0
			for _, m := range cfg.Models {
				versions += len(m.Versions)
			}
			_, err = fmt.Fprintf(a.stdout, "ok: %d classes, %d versions, %d tenants, listen %s, tracing %v\n",
				len(cfg.Models), versions, len(cfg.Tenants), cfg.Listen, cfg.Tracing.Enabled)
			return err
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "router config file (YAML)")
	cmd.Flags().StringVarP(&out, "output", "o", outText, "output format: text, json, yaml")
	return cmd
}

func newRouterHashKeyCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "hash-key",
		Short: "Read an API key from stdin and print its SHA-256 digest for the config's keySHA256",
		Long: `hash-key reads one API key from the first line of stdin (not from the
command line, so it stays out of shell history) and prints the hex SHA-256
digest that goes into a tenant's keySHA256 list.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			line, err := bufio.NewReader(io.LimitReader(a.stdin, 4096)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("reading the key: %w", err)
			}
			key := strings.TrimRight(line, "\r\n")
			if key == "" {
				return errors.New("no key on stdin")
			}
			_, err = fmt.Fprintln(a.stdout, router.HashKey(key))
			return err
		},
	}
}

// newJSONLogger returns a JSON logger on w at the named level.
func newJSONLogger(w io.Writer, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), lvl)
	return zap.New(core), nil
}
