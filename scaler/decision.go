package scaler

import (
	"fmt"
	"strings"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// ActionKind names what an action changes.
type ActionKind string

// Action kinds, one per write on the Cluster and Cloud interfaces.
const (
	ActScaleClass    ActionKind = "scale-class"
	ActSetResources  ActionKind = "set-resources"
	ActNodeGroupSize ActionKind = "nodegroup-size"
	ActCordon        ActionKind = "cordon"
	ActUncordon      ActionKind = "uncordon"
	ActDrain         ActionKind = "drain"
	ActSetMIGConfig  ActionKind = "set-mig-config"
	ActRemoveNode    ActionKind = "remove-node"
	ActSetProfile    ActionKind = "set-profile"
)

// Action statuses.
const (
	StatusPlanned = "planned" // decided, not yet applied
	StatusDone    = "done"
	StatusFailed  = "failed"
	StatusSkipped = "skipped" // safety, budget or backoff held it back
	StatusDryRun  = "dry-run"
)

// Action is one change to the world, with the numbers behind it.
type Action struct {
	Kind   ActionKind `json:"kind"`
	Target string     `json:"target"`
	// NodeGroup is set for node actions and RemoveNode.
	NodeGroup string `json:"nodeGroup,omitempty"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	Reason    string `json:"reason"`
	Status    string `json:"status"`
	// Error says why it failed or was skipped.
	Error string `json:"error,omitempty"`
	// Involuntary actions (spot interruption) bypass the disruption budget
	// and the scale-up-first hold: the node goes away regardless.
	Involuntary bool `json:"involuntary,omitempty"`

	phase int
	// to is the numeric target of scale actions, from the numeric start.
	from, to int
	res      Resources
	mig      catalog.MIGConfig
}

func (a Action) key() string { return string(a.Kind) + "/" + a.Target }

// onNode reports whether the action's target is a node (its procedure's
// key), not a class or nodegroup that may share the name.
func (a Action) onNode() bool {
	switch a.Kind {
	case ActCordon, ActUncordon, ActDrain, ActSetMIGConfig, ActRemoveNode:
		return true
	}
	return false
}

// Down reports whether the action removes capacity.
func (a Action) Down() bool { return a.phase >= phaseDown }

// Phases order the actions of a tick: capacity first, disruption last.
const (
	phaseUp       = 0 // scale a class or nodegroup up
	phaseVertical = 1
	phaseRestore  = 2 // uncordon after a re-partition
	phaseDisrupt  = 3 // cordon, drain, set MIG config
	phaseDown     = 4 // scale a class or nodegroup down, remove a node
)

// ClassDecision is the numbers behind one class's replica count.
type ClassDecision struct {
	Class string `json:"class"`
	// DataOK is false when the class's metrics were missing, stale or
	// invalid; DataReason says which, and the class is held (fail static).
	DataOK     bool   `json:"dataOK"`
	DataReason string `json:"dataReason,omitempty"`
	// DataAge is how old the newest sample of the stable window was at
	// the tick (0 when there was none).
	DataAge time.Duration `json:"dataAge"`

	ObservedRate float64       `json:"observedRate"`
	ShortRate    float64       `json:"shortRate"`
	Forecast     float64       `json:"forecast"`
	ForecastUp   float64       `json:"forecastUpper"`
	Method       string        `json:"forecastMethod,omitempty"`
	Horizon      time.Duration `json:"horizon"`
	PlannedRate  float64       `json:"plannedRate"`

	Profile          string  `json:"profile"`
	PreferredProfile string  `json:"preferredProfile,omitempty"`
	ProfileReason    string  `json:"profileReason,omitempty"`
	Multiplier       float64 `json:"serviceMultiplier"`
	// NeedGiB is the GPU memory a replica needs: observed p99 plus margin
	// once there are samples, else the declared gpuMemory.
	NeedGiB float64 `json:"needGiB"`

	Needed    int  `json:"needed"`
	Panic     int  `json:"panicReplicas,omitempty"`
	Panicking bool `json:"panicking,omitempty"`
	Floor     int  `json:"floor"`
	Max       int  `json:"max"`
	Current   int  `json:"current"`
	Ready     int  `json:"ready"`
	Desired   int  `json:"desired"`
	// Held is true when no decision could be made (the cluster was
	// unreadable); Desired then just repeats Current.
	Held bool `json:"held,omitempty"`

	PredictedP95 time.Duration `json:"predictedLatency"`
	ObservedP95  time.Duration `json:"observedLatency"`
	Reason       string        `json:"reason"`
}

// NodeGroupDecision is one nodegroup's target and why.
type NodeGroupDecision struct {
	Name    string `json:"name"`
	Current int    `json:"current"`
	Desired int    `json:"desired"`
	Target  int    `json:"target"`
	Reason  string `json:"reason"`
}

// Decision is everything one tick decided, and why.
type Decision struct {
	At         time.Time           `json:"at"`
	DryRun     bool                `json:"dryRun"`
	Classes    []ClassDecision     `json:"classes"`
	NodeGroups []NodeGroupDecision `json:"nodeGroups"`
	Actions    []Action            `json:"actions"`
	// NotDone lists what the tick could not do or observe, in words.
	NotDone []string `json:"notDone,omitempty"`

	// evicting counts, per class, the replicas that disruptions started in
	// this tick will evict, so two re-layouts in one tick cannot together
	// exceed a class's budget.
	evicting map[string]int
}

// Count returns how many actions have the kind and status ("" for any).
func (d Decision) Count(kind ActionKind, status string) int {
	n := 0
	for _, a := range d.Actions {
		if (kind == "" || a.Kind == kind) && (status == "" || a.Status == status) {
			n++
		}
	}
	return n
}

// Class returns the decision of one class.
func (d Decision) Class(name string) (ClassDecision, bool) {
	for _, c := range d.Classes {
		if c.Class == name {
			return c, true
		}
	}
	return ClassDecision{}, false
}

// String renders the actions, one a line.
func (d Decision) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tick %s: %d actions", d.At.UTC().Format(time.RFC3339), len(d.Actions))
	if d.DryRun {
		b.WriteString(" (dry-run)")
	}
	b.WriteString("\n")
	for _, a := range d.Actions {
		fmt.Fprintf(&b, "  %-8s %-15s %s %s -> %s: %s", a.Status, a.Kind, a.Target, a.From, a.To, a.Reason)
		if a.Error != "" {
			fmt.Fprintf(&b, " [%s]", a.Error)
		}
		b.WriteString("\n")
	}
	for _, s := range d.NotDone {
		fmt.Fprintf(&b, "  not done: %s\n", s)
	}
	return b.String()
}
