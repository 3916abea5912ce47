package kube

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/scaler"
)

// Clients are the API clients the adapter uses. Kube is required; Dynamic
// is needed for VerticalPodAutoscaler objects (every VPA mode but
// patch-requests); Metrics for PodUsage.
type Clients struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	Metrics metricsclient.Interface
}

// Cluster is the Kubernetes implementation of scaler.Cluster and
// scaler.Reporter, and the PodUsage part of scaler.Metrics. Reads come
// from informer caches (Start, WaitForSync); writes go to the API server.
type Cluster struct {
	opts    Options
	clients Clients
	log     *zap.Logger

	nodeFactory, readerFactory, migFactory informers.SharedInformerFactory
	nodes                                  corelisters.NodeLister
	pods                                   corelisters.PodLister
	deployments                            appslisters.DeploymentLister
	configMaps                             corelisters.ConfigMapLister
	synced                                 []cache.InformerSynced

	broadcaster events.EventBroadcaster
	recorder    events.EventRecorder

	mu        sync.Mutex
	started   bool
	startedAt time.Time
	lastUsage time.Time // now of the previous PodUsage call
	vpaSeen   time.Time // when discovery last found the VPA API
	vpaMissed time.Time // when discovery last did not
	// The parsed mig-parted ConfigMap, and its UID/resourceVersion.
	migParsed  map[string]catalog.MIGConfig
	migVersion string
}

// New builds the adapter over clients; call Start, then WaitForSync.
func New(c Clients, opts Options, logger *zap.Logger) (*Cluster, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("kube options: %w", err)
	}
	if c.Kube == nil {
		return nil, errors.New("kube options: no Kubernetes client")
	}
	if c.Dynamic == nil && opts.VPAMode != VPAModePatchRequests {
		return nil, fmt.Errorf("kube options: vpaMode %s needs a dynamic client", opts.VPAMode)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	k := &Cluster{opts: opts, clients: c, log: logger}

	k.nodeFactory = informers.NewSharedInformerFactoryWithOptions(c.Kube, opts.ResyncPeriod, informers.WithTransform(stripManagedFields),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = opts.NodeSelector }))
	// Reader pods and Deployments: only objects that carry the class label.
	hasClass, err := labels.NewRequirement(opts.ClassLabel, selection.Exists, nil)
	if err != nil {
		return nil, fmt.Errorf("kube options: classLabel: %w", err)
	}
	classSel := labels.NewSelector().Add(*hasClass).String()
	k.readerFactory = informers.NewSharedInformerFactoryWithOptions(c.Kube, opts.ResyncPeriod,
		informers.WithNamespace(opts.Namespace), informers.WithTransform(stripManagedFields),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = classSel }))
	// The mig-parted ConfigMap: one object, watched by name.
	cmName := fields.OneTermEqualSelector("metadata.name", opts.MIGConfigMap.Name).String()
	k.migFactory = informers.NewSharedInformerFactoryWithOptions(c.Kube, opts.ResyncPeriod,
		informers.WithNamespace(opts.MIGConfigMap.Namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.FieldSelector = cmName }))

	ni := k.nodeFactory.Core().V1().Nodes()
	pi := k.readerFactory.Core().V1().Pods()
	di := k.readerFactory.Apps().V1().Deployments()
	ci := k.migFactory.Core().V1().ConfigMaps()
	k.nodes, k.pods, k.deployments, k.configMaps = ni.Lister(), pi.Lister(), di.Lister(), ci.Lister()
	// Informers must be requested before the factories start.
	k.synced = []cache.InformerSynced{ni.Informer().HasSynced, pi.Informer().HasSynced,
		di.Informer().HasSynced, ci.Informer().HasSynced}
	if err := di.Informer().AddIndexers(cache.Indexers{byClass: k.classIndex}); err != nil {
		return nil, fmt.Errorf("deployment index: %w", err)
	}

	k.broadcaster = events.NewBroadcaster(&events.EventSinkImpl{Interface: c.Kube.EventsV1()})
	k.recorder = k.broadcaster.NewRecorder(scheme.Scheme, opts.Component)
	return k, nil
}

// NewForConfig builds the clients from cfg (in-cluster: rest.InClusterConfig).
func NewForConfig(cfg *rest.Config, opts Options, logger *zap.Logger) (*Cluster, error) {
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	mc, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metrics client: %w", err)
	}
	return New(Clients{Kube: kc, Dynamic: dc, Metrics: mc}, opts, logger)
}

// Options returns the options in force (after defaults).
func (k *Cluster) Options() Options { return k.opts }

// Start starts the informers and the event recorder; they stop when ctx
// ends. It returns at once; WaitForSync waits for the caches.
func (k *Cluster) Start(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.started {
		return errors.New("kube: started twice")
	}
	k.started, k.startedAt = true, time.Now()
	k.nodeFactory.Start(ctx.Done())
	k.readerFactory.Start(ctx.Done())
	k.migFactory.Start(ctx.Done())
	if err := k.broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		return fmt.Errorf("starting the event recorder: %w", err)
	}
	go func() {
		<-ctx.Done()
		k.broadcaster.Shutdown()
		k.nodeFactory.Shutdown()
		k.readerFactory.Shutdown()
		k.migFactory.Shutdown()
	}()
	return nil
}

// WaitForSync blocks until every cache has synced, or ctx ends.
func (k *Cluster) WaitForSync(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), k.synced...) {
		return fmt.Errorf("waiting for the node, pod, deployment and mig-parted ConfigMap caches: %w", context.Cause(ctx))
	}
	return nil
}

// Ready is the controller's readiness check (/readyz): nil once every
// cache has synced.
func (k *Cluster) Ready() error {
	for _, s := range k.synced {
		if !s() {
			return errors.New("kube: informer caches not synced")
		}
	}
	return nil
}

// stripManagedFields drops metadata.managedFields from cached objects: the
// adapter never reads them, and on nodes and pods they are a large share
// of the cache's memory (controller-runtime's cache does the same).
func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

const byClass = "class"

func (k *Cluster) classIndex(obj any) ([]string, error) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return nil, nil
	}
	if c := d.Labels[k.opts.ClassLabel]; c != "" {
		return []string{c}, nil
	}
	return nil, nil
}

// deployment returns the class's Deployment from the cache.
func (k *Cluster) deployment(class string) (*appsv1.Deployment, error) {
	objs, err := k.readerFactory.Apps().V1().Deployments().Informer().GetIndexer().ByIndex(byClass, class)
	if err != nil {
		return nil, fmt.Errorf("class %s: deployment index: %w", class, err)
	}
	switch len(objs) {
	case 0:
		return nil, fmt.Errorf("class %s: no Deployment labelled %s=%s: %w", class, k.opts.ClassLabel, class, scaler.ErrNotFound)
	case 1:
		return objs[0].(*appsv1.Deployment), nil
	}
	names := make([]string, len(objs))
	for i, o := range objs {
		d := o.(*appsv1.Deployment)
		names[i] = d.Namespace + "/" + d.Name
	}
	return nil, fmt.Errorf("class %s: %d Deployments labelled %s=%s (%v); want one", class, len(objs), k.opts.ClassLabel, class, names)
}

// node returns a node from the cache.
func (k *Cluster) node(name string) (*corev1.Node, error) {
	n, err := k.nodes.Get(name)
	if err != nil {
		return nil, apiErr(err, "node %s", name)
	}
	return n, nil
}

var (
	_ scaler.Cluster  = (*Cluster)(nil)
	_ scaler.Reporter = (*Cluster)(nil)
)
