package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/headroom-dev/headroom/deploy/render"
	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
	headroomaws "github.com/headroom-dev/headroom/scaler/aws"
	"github.com/headroom-dev/headroom/scaler/incluster"
	"github.com/headroom-dev/headroom/scaler/kube"
	"github.com/headroom-dev/headroom/scaler/prom"
)

type controllerFlags struct {
	kubeconfig, output, logLevel, migConfigMap string
	once, dryRun, manageReaders                bool
	syncTimeout                                time.Duration
	cloud, awsEndpoint                         string
	aws                                        headroomaws.Options
	run                                        incluster.Options
	kube                                       kube.Options
	prom                                       prom.Options
}

func newControllerCmd(a *app) *cobra.Command {
	f := &controllerFlags{}
	cmd := &cobra.Command{
		Use:   "controller --policy DIR --prometheus-url URL",
		Short: "Run the control loop against a cluster and Prometheus",
		Long: `controller runs headroom's control loop in a cluster: it reads the router's
metrics and dcgm-exporter's GPU memory from Prometheus, the nodes, reader pods
and Deployments from Kubernetes, and scales replicas, writes VPA
recommendations, cordons, drains and re-partitions nodes. With leader election
only the Lease holder acts. Without a cloud adapter nodegroup sizes are
reported, not set.

  headroom controller --once --dry-run --policy DIR --prometheus-url URL

reads the live cluster and Prometheus once and prints the plan it would apply
now, each action with its reason: what to run first on a new cluster.
docs/controller.md lists the flags, RBAC and failure behaviour.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newJSONLogger(a.stderr, f.logLevel)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runController(ctx, a, f, log)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.run.PolicyDir, "policy", "", "policy directory (reloaded when it changes)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster config, else $KUBECONFIG or ~/.kube/config)")
	fl.BoolVar(&f.once, "once", false, "run one tick and print the decision")
	fl.BoolVar(&f.dryRun, "dry-run", false, "plan and report without acting")
	fl.StringVarP(&f.output, "output", "o", "text", "--once output: text or json")
	fl.DurationVar(&f.run.Scaler.Interval, "interval", 15*time.Second, "control interval")
	fl.DurationVar(&f.run.ReloadEvery, "policy-reload", 10*time.Second, "how often the policy directory is checked for changes")
	fl.BoolVar(&f.run.LeaderElection, "leader-elect", true, "elect one leader on a Lease (ignored with --once)")
	fl.StringVar(&f.run.LeaseNamespace, "lease-namespace", "headroom", "namespace of the leader election Lease")
	fl.StringVar(&f.run.LeaseName, "lease-name", "headroom-controller", "name of the leader election Lease")
	fl.StringVar(&f.run.Identity, "identity", "", "leader election identity (default $POD_NAME, else the host name)")
	fl.DurationVar(&f.run.LeaseDuration, "lease-duration", 15*time.Second, "how long a Lease holds without renewal; a follower takes over after it")
	fl.DurationVar(&f.run.RenewDeadline, "renew-deadline", 10*time.Second, "how long the leader retries renewing before it gives up")
	fl.DurationVar(&f.run.RetryPeriod, "retry-period", 2*time.Second, "how often candidates try the Lease")
	fl.StringVar(&f.run.Listen, "listen", ":8080", `address of /metrics, /healthz and /readyz ("-" for none)`)
	fl.DurationVar(&f.syncTimeout, "sync-timeout", 2*time.Minute, "how long to wait for the Kubernetes caches at start")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fl.StringVar(&f.kube.Namespace, "namespace", "", "namespace of the reader Deployments (default all)")
	fl.StringVar(&f.kube.ClassLabel, "class-label", kube.DefaultClassLabel, "label naming a reader Deployment's and pod's class")
	fl.StringVar(&f.kube.Container, "reader-container", "reader", "the reader container in the pod template")
	fl.StringVar(&f.kube.NodeSelector, "node-selector", "", "label selector of the nodes to watch (default all)")
	fl.StringVar(&f.migConfigMap, "mig-configmap", "gpu-operator/default-mig-parted-config", "NAMESPACE/NAME of the mig-parted ConfigMap the MIG manager reads (key config.yaml)")
	fl.StringVar(&f.kube.VPAMode, "vpa-mode", kube.VPAModeAuto, "auto, vpa or patch-requests")
	fl.StringVar(&f.kube.VPAUpdateMode, "vpa-update-mode", "Initial", "updateMode of the VerticalPodAutoscalers headroom keeps")
	fl.BoolVar(&f.manageReaders, "manage-readers", false, "server-side apply the readers `headroom render` renders, on start and on each policy change (needs --namespace)")
	fl.StringVar(&f.cloud, "cloud", "auto", `nodegroup sizes and spot notices: aws, none (report only) or auto (aws when a region is known from --aws-region or the policy's spec.region)`)
	fl.StringVar(&f.aws.Region, "aws-region", "", "AWS region (default the policy's spec.region)")
	fl.StringVar(&f.aws.InterruptionQueue, "interruption-queue", "", "URL of the SQS queue EventBridge feeds with spot and rebalance notices (docs/aws.md)")
	fl.StringVar(&f.awsEndpoint, "aws-endpoint", "", "one endpoint for EKS, Auto Scaling and SQS (a local stand-in; default AWS)")
	fl.IntVar(&f.aws.MaxAttempts, "aws-max-attempts", 5, "attempts of each AWS call (the SDK's retryer), the first included")
	fl.DurationVar(&f.aws.WriteInterval, "aws-write-interval", 10*time.Second, "least time between two size writes to one nodegroup")
	fl.BoolVar(&f.aws.IgnoreRebalance, "aws-ignore-rebalance", false, "ignore EC2 Instance Rebalance Recommendations (only the 2-minute spot warning counts)")
	f.prom.AddFlags(fl)
	return cmd
}

// newCloud is the Cloud the flags and the policy ask for: AWS, or one that
// only reports nodegroup sizes.
func newCloud(ctx context.Context, f *controllerFlags, cluster *kube.Cluster, log *zap.Logger, reg prometheus.Registerer) (scaler.Cloud, *headroomaws.Cloud, error) {
	pol, err := policies.Load(f.run.PolicyDir)
	if err != nil {
		return nil, nil, fmt.Errorf("loading policy %s: %w", f.run.PolicyDir, err)
	}
	o := f.aws
	o.Region = cmp.Or(o.Region, pol.Cluster.Spec.Region)
	switch {
	case f.cloud == "none" || (f.cloud == "auto" && o.Region == ""):
		log.Info("no cloud adapter: nodegroup sizes are reported, not set")
		return &incluster.ReportOnlyCloud{Cluster: cluster, Log: log}, nil, nil
	case f.cloud != "aws" && f.cloud != "auto":
		return nil, nil, fmt.Errorf("--cloud %q: want aws, none or auto", f.cloud)
	}
	o.EKSCluster = pol.Cluster.Spec.EKSCluster
	o.NodeGroups = headroomaws.FromPolicy(pol)
	o.Endpoints = headroomaws.AllEndpoints(f.awsEndpoint)
	o.DryRun = f.dryRun || pol.Cluster.Spec.DryRun
	c, err := headroomaws.New(ctx, o, cluster, log.Named("aws"), reg)
	if err != nil {
		return nil, nil, err
	}
	return c, c, nil
}

func runController(ctx context.Context, a *app, f *controllerFlags, log *zap.Logger) error {
	switch f.output {
	case "text", "json":
	default:
		return fmt.Errorf("-o %q: want text or json", f.output)
	}
	ns, name, ok := strings.Cut(f.migConfigMap, "/")
	if !ok || ns == "" || name == "" {
		return fmt.Errorf("--mig-configmap %q: want NAMESPACE/NAME", f.migConfigMap)
	}
	f.kube.MIGConfigMap = kube.ConfigMapRef{Namespace: ns, Name: name, Key: "config.yaml"}
	if f.run.Identity == "" {
		f.run.Identity = os.Getenv("POD_NAME")
	}
	if f.run.Identity == "" {
		f.run.Identity, _ = os.Hostname()
	}
	f.run.Scaler.DryRun = f.dryRun
	if f.once {
		f.run.LeaderElection, f.run.Listen = false, "-"
	}

	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	cluster, err := kube.NewForConfig(cfg, f.kube, log)
	if err != nil {
		return err
	}
	f.prom.PodClass = cluster.PodClass
	pc, err := prom.New(f.prom)
	if err != nil {
		return err
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	if f.manageReaders && f.kube.Namespace == "" {
		return errors.New("--manage-readers needs --namespace: the readers' namespace")
	}
	reg := prometheus.NewRegistry()
	cloud, awsCloud, err := newCloud(ctx, f, cluster, log, reg)
	if err != nil {
		return err
	}
	// On each policy in force: the AWS adapter's nodegroups, and with
	// --manage-readers the readers applied.
	onPolicy := func(ctx context.Context, p *policies.Policy) error {
		if awsCloud != nil {
			if err := awsCloud.SetNodeGroups(headroomaws.FromPolicy(p)); err != nil {
				return err
			}
		}
		if !f.manageReaders || f.dryRun {
			return nil
		}
		r, err := render.Render(p, render.Options{Namespace: f.kube.Namespace})
		if err != nil {
			return err
		}
		return cluster.ApplyReaders(ctx, r.Objects)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ctl, err := incluster.New(f.run, incluster.Deps{
		Metrics: incluster.Metrics{Stats: pc, Usage: cluster}, Cluster: cluster,
		Cloud: cloud, Ready: cluster.Ready,
		Kube: kc, Log: log, Registry: reg, OnPolicy: onPolicy,
	})
	if err != nil {
		return err
	}
	if err := cluster.Start(ctx); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, f.syncTimeout)
	err = cluster.WaitForSync(sctx)
	cancel()
	if err != nil {
		return err
	}
	if !f.once {
		// Run returns on its own when the Lease is lost; the notice poller
		// must stop with it, or the process would wait on it forever.
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		if awsCloud != nil {
			if err := awsCloud.Start(rctx); err != nil {
				return err
			}
		}
		err := ctl.Run(rctx)
		stop()
		if awsCloud != nil {
			awsCloud.Wait()
		}
		return err
	}
	d, err := ctl.Once(ctx)
	if err != nil {
		return err
	}
	return printDecision(a.stdout, d, f.output)
}

// restConfig is the in-cluster config, or a kubeconfig: the named file,
// else $KUBECONFIG or ~/.kube/config.
func restConfig(path string) (*rest.Config, error) {
	if path == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, nil
		} else if !errors.Is(err, rest.ErrNotInCluster) {
			return nil, fmt.Errorf("in-cluster config: %w", err)
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
}

// printDecision writes a plan the way kubectl diff reads: per class the
// numbers behind its count, then every action with its reason.
func printDecision(w io.Writer, d scaler.Decision, output string) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tDATA\tRATE\tPLANNED\tHORIZON\tPROFILE\tNEEDED\tCURRENT\tREADY\tDESIRED")
	for _, c := range d.Classes {
		data := "ok"
		if !c.DataOK {
			data = "missing"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%v\t%s\t%d\t%d\t%d\t%d\n", c.Class, data, c.ObservedRate, c.PlannedRate, c.Horizon, orDash(c.Profile), c.Needed, c.Current, c.Ready, c.Desired)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, c := range d.Classes {
		fmt.Fprintf(w, "%s: %s\n", c.Class, c.Reason)
	}
	fmt.Fprintln(w)
	_, err := io.WriteString(w, d.String())
	return err
}
