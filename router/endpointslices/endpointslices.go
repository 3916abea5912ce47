// Package endpointslices is the in-cluster router.EndpointSource: it watches
// the Kubernetes EndpointSlices of each model version's Service with a
// client-go informer and reports the ready addresses to the router.
//
// Data flow: informer events (add, update, delete of a slice labelled
// kubernetes.io/service-name=<service>) -> list that Service's slices from
// the informer cache -> ReadyAddresses (pure) -> update(class, version,
// addrs) when the set changed.
//
// Tested against a real kube-apiserver and etcd (internal/envtest); the fake
// clientset only injects list errors.
package endpointslices

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Target is one class version served by a Service.
type Target struct {
	Class, Version string
	Namespace      string
	Service        string
	// Port names the EndpointSlice port to use; empty takes the first.
	Port string
}

// Source watches the targets' EndpointSlices.
type Source struct {
	Client  kubernetes.Interface
	Targets []Target
	// Resync re-reports every target at this period (0: never).
	Resync time.Duration
	Logger *zap.Logger
}

// Run watches until ctx ends. It reports each target once its namespace's
// cache has synced, then on every change of its ready set.
func (s *Source) Run(ctx context.Context, update func(class, version string, addrs []string) error) error {
	log := s.Logger
	if log == nil {
		log = zap.NewNop()
	}
	byNS := map[string][]Target{}
	for _, t := range s.Targets {
		if t.Namespace == "" || t.Service == "" {
			return fmt.Errorf("endpointslices: target %s/%s needs a namespace and a service", t.Class, t.Version)
		}
		byNS[t.Namespace] = append(byNS[t.Namespace], t)
	}
	var mu sync.Mutex
	last := map[Target]string{}
	var wg sync.WaitGroup
	defer wg.Wait() // runs last: after cancel has stopped the informers
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for ns, targets := range byNS {
		var names []string
		for _, t := range targets {
			names = append(names, t.Service)
		}
		slices.Sort(names)
		names = slices.Compact(names)
		sel := discoveryv1.LabelServiceName + " in (" + strings.Join(names, ",") + ")"
		factory := informers.NewSharedInformerFactoryWithOptions(s.Client, s.Resync,
			informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }))
		inf := factory.Discovery().V1().EndpointSlices()
		lister := inf.Lister()
		var synced atomic.Bool
		report := func(service string, force bool) {
			for _, t := range targets {
				if service != "" && t.Service != service {
					continue
				}
				sl, err := lister.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: t.Service}))
				if err != nil {
					log.Warn("listing endpointslices", zap.String("service", t.Service), zap.Error(err))
					continue
				}
				addrs := ReadyAddresses(sl, t.Port)
				key := strings.Join(addrs, ",")
				mu.Lock()
				prev, seen := last[t]
				changed := !seen || prev != key || force
				last[t] = key
				mu.Unlock()
				if !changed {
					continue
				}
				if err := update(t.Class, t.Version, addrs); err != nil {
					log.Warn("updating endpoints", zap.String("class", t.Class), zap.String("version", t.Version), zap.Error(err))
					continue
				}
				log.Info("endpoints", zap.String("class", t.Class), zap.String("version", t.Version), zap.Int("ready", len(addrs)))
			}
		}
		on := func(obj any) {
			if !synced.Load() {
				return
			}
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if es, ok := obj.(*discoveryv1.EndpointSlice); ok {
				report(es.Labels[discoveryv1.LabelServiceName], false)
			}
		}
		if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    on,
			UpdateFunc: func(_, n any) { on(n) },
			DeleteFunc: on,
		}); err != nil {
			return fmt.Errorf("endpointslices: %w", err)
		}
		factory.Start(ctx.Done())
		wg.Go(factory.Shutdown)
		if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
			return nil // ctx ended first
		}
		synced.Store(true)
		report("", true)
	}
	<-ctx.Done()
	return nil
}

// ReadyAddresses returns the sorted, distinct host:port addresses of the
// ready endpoints in slices, on the named port (empty: each slice's first
// port). An endpoint counts as ready unless its Ready condition is false,
// as the EndpointSlice API documents (nil means unknown, treat as ready);
// terminating endpoints are not ready. Slices of address types other than
// IPv4 and IPv6 (FQDN) are skipped.
func ReadyAddresses(sl []*discoveryv1.EndpointSlice, port string) []string {
	var out []string
	for _, s := range sl {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		p, ok := pickPort(s.Ports, port)
		if !ok {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			if e.Conditions.Terminating != nil && *e.Conditions.Terminating {
				continue
			}
			for _, a := range e.Addresses {
				out = append(out, net.JoinHostPort(a, strconv.Itoa(int(p))))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func pickPort(ports []discoveryv1.EndpointPort, name string) (int32, bool) {
	for _, p := range ports {
		if p.Port == nil {
			continue
		}
		if name == "" || (p.Name != nil && *p.Name == name) {
			return *p.Port, true
		}
	}
	return 0, false
}
