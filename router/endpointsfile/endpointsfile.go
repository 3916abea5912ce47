// Package endpointsfile is a router.EndpointSource for places where
// EndpointSlices cannot carry the endpoints: it reads a file that maps each
// Service (namespace/name) to its ready host:port addresses and reports
// them for the class versions that name that Service, every time the file
// changes. The local sandbox (package sandbox, docs/sandbox.md) writes it:
// its pods' IPs are in 127.0.0.0/8, which the API server refuses in
// EndpointSlices ("may not be in the loopback range").
//
// Data flow: poll the file every Interval -> Parse (pure) -> for each
// target, update(class, version, addrs) when its set changed. A file that
// is missing or does not parse keeps the last endpoints (logged).
//
// The file, JSON or YAML:
//
//	readers/reader-en: ["127.10.1.2:8000", "127.10.2.2:8000"]
package endpointsfile

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"sigs.k8s.io/yaml"

	"github.com/headroom-dev/headroom/router/endpointslices"
)

// Source polls Path.
type Source struct {
	Path    string
	Targets []endpointslices.Target
	// Interval between reads; default 500ms.
	Interval time.Duration
	Logger   *zap.Logger
}

// Parse reads the file: Service key (namespace/name) -> addresses, each
// host:port, sorted and distinct.
func Parse(data []byte) (map[string][]string, error) {
	var m map[string][]string
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		return nil, fmt.Errorf("endpoints file: %w", err)
	}
	for k, addrs := range m {
		if ns, name, ok := strings.Cut(k, "/"); !ok || ns == "" || name == "" {
			return nil, fmt.Errorf("endpoints file: key %q is not namespace/name", k)
		}
		for _, a := range addrs {
			if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
				return nil, fmt.Errorf("endpoints file: %s: %q is not host:port", k, a)
			}
		}
		slices.Sort(addrs)
		m[k] = slices.Compact(addrs)
	}
	return m, nil
}

// Run polls until ctx ends; it reports every target once the file has
// been read, then each change of a target's set.
func (s *Source) Run(ctx context.Context, update func(class, version string, addrs []string) error) error {
	log := s.Logger
	if log == nil {
		log = zap.NewNop()
	}
	every := s.Interval
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	var lastData []byte
	last := map[endpointslices.Target]string{}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		data, err := os.ReadFile(s.Path)
		switch {
		case err != nil:
			if !os.IsNotExist(err) {
				log.Warn("reading endpoints file; keeping the last endpoints", zap.Error(err))
			}
		case !bytes.Equal(data, lastData):
			m, err := Parse(data)
			if err != nil {
				log.Warn("keeping the last endpoints", zap.Error(err))
				break
			}
			lastData = data
			for _, t := range s.Targets {
				addrs := m[t.Namespace+"/"+t.Service]
				key := strings.Join(addrs, ",")
				if prev, seen := last[t]; seen && prev == key {
					continue
				}
				if err := update(t.Class, t.Version, addrs); err != nil {
					log.Warn("updating endpoints", zap.String("class", t.Class), zap.Error(err))
					continue
				}
				last[t] = key
				log.Info("endpoints", zap.String("class", t.Class), zap.String("version", t.Version), zap.Int("ready", len(addrs)))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
