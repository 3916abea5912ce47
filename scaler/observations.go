package scaler

import (
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// Observations is what one tick observed. A failed read keeps its error
// here and the plan holds what depends on it; nothing is fatal.
type Observations struct {
	// Stats holds ClassStats by window (each class's stable and panic
	// windows), then by class.
	Stats    map[time.Duration]map[string]ClassStats
	StatsErr map[time.Duration]error

	GPU      []GPUMemory
	GPUErr   error
	Usage    []PodUsage
	UsageErr error

	Cluster    ClusterState
	ClusterErr error

	NodeGroups    []NodeGroupState
	CloudErr      error
	Interruptions []Interruption
	InterruptErr  error
}

// AddStats files stats for a window (a helper for simulators and tests).
func (o *Observations) AddStats(window time.Duration, stats ...ClassStats) {
	if o.Stats == nil {
		o.Stats = map[time.Duration]map[string]ClassStats{}
	}
	m := o.Stats[window]
	if m == nil {
		m = map[string]ClassStats{}
		o.Stats[window] = m
	}
	for _, s := range stats {
		m[s.Class] = s
	}
}

// world is the indexed snapshot one plan works on.
type world struct {
	nodes       map[string]*Node
	podsByClass map[string][]Pod
	podsByNode  map[string][]Pod
	replicas    map[string]int // deployment replicas, when reported
	interrupted map[string]time.Time
	groups      map[string]NodeGroupState
	usage       map[string][]PodUsage
	gpu         map[string][]GPUMemory
	migConfigs  map[string]catalog.MIGConfig // published, by name
}

func index(obs *Observations) world {
	w := world{nodes: map[string]*Node{}, podsByClass: map[string][]Pod{}, podsByNode: map[string][]Pod{},
		replicas: map[string]int{}, interrupted: map[string]time.Time{}, groups: map[string]NodeGroupState{},
		usage: map[string][]PodUsage{}, gpu: map[string][]GPUMemory{}, migConfigs: obs.Cluster.MIGConfigs}
	for i := range obs.Cluster.Nodes {
		n := &obs.Cluster.Nodes[i]
		w.nodes[n.Name] = n
	}
	for _, p := range obs.Cluster.Pods {
		if p.Phase == PodFailed {
			continue
		}
		w.podsByClass[p.Class] = append(w.podsByClass[p.Class], p)
		if p.Node != "" {
			w.podsByNode[p.Node] = append(w.podsByNode[p.Node], p)
		}
	}
	for _, d := range obs.Cluster.Deployments {
		w.replicas[d.Class] = d.Replicas
	}
	for _, in := range obs.Interruptions {
		w.interrupted[in.Node] = in.Terminates
	}
	for _, g := range obs.NodeGroups {
		w.groups[g.Name] = g
	}
	for _, u := range obs.Usage {
		w.usage[u.Class] = append(w.usage[u.Class], u)
	}
	for _, g := range obs.GPU {
		w.gpu[g.Class] = append(w.gpu[g.Class], g)
	}
	return w
}
