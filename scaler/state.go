package scaler

import (
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// state is what the controller remembers between ticks.
type state struct {
	classes map[string]*classState
	procs   map[string]*procedure
	backoff map[string]*backoff
	// relaid is when each node's last re-layout started: a node is not
	// re-laid out again within ConsolidationPayback (hysteresis).
	relaid map[string]time.Time
}

type classState struct {
	beh     BehaviorState
	panic   PanicState
	mult    map[string]float64 // by profile key gpu/profile
	vert    *Vertical
	gpu     *Histogram // GPU memory used, MiB
	applied Resources
}

// Procedure kinds: multi-tick node procedures.
const (
	procConsolidate = "consolidate" // cordon, drain, remove
	procRelayout    = "relayout"    // cordon, drain, set MIG config, wait, uncordon
	procInterrupt   = "interrupt"   // spot notice: replacement first, cordon, drain
)

type procedure struct {
	Kind, Node, NodeGroup string
	MIG                   catalog.MIGConfig // relayout target
	Since                 time.Time
	Terminates            time.Time
	Removed               bool
	Reason                string
}

type backoff struct {
	until    time.Time
	failures int
	err      string
}

func newState() state {
	return state{classes: map[string]*classState{}, procs: map[string]*procedure{}, backoff: map[string]*backoff{}, relaid: map[string]time.Time{}}
}
