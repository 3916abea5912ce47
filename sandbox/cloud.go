package sandbox

import (
	"slices"
	"strings"
	"time"

	"github.com/headroom-dev/headroom/internal/awstest"
)

// CloudInstance is one instance of a cloud group, as the cloud's
// reconciler sees it.
type CloudInstance struct {
	Group, ID, Zone, State string
	// Seen is when the reconciler first saw the instance: a Pending one
	// boots from then.
	Seen time.Time
}

// CloudPlan is what the cloud does now: nodes to create for instances
// that finished booting (and are then InService), nodes to delete for
// instances that are going away (and are then gone).
type CloudPlan struct {
	Boot   []CloudInstance
	Remove []CloudInstance
	// Orphans are nodes whose instance no group holds: deleted.
	Orphans []string
}

// PlanCloud compares the cloud's instances with the instances that have a
// node (hasNode, by instance ID) at now. A Pending instance boots after
// boot(group); an InService one without a node gets one at once (the
// sandbox's first nodes); a Terminating or Terminated one loses its node
// and leaves the group. A node whose instance is unknown is an orphan.
// Output is sorted by instance ID, so a plan is deterministic.
func PlanCloud(now time.Time, instances []CloudInstance, hasNode map[string]bool, boot func(group string) time.Duration) CloudPlan {
	var p CloudPlan
	known := map[string]bool{}
	for _, in := range instances {
		known[in.ID] = true
		switch in.State {
		case awstest.Pending:
			if !now.Before(in.Seen.Add(boot(in.Group))) {
				p.Boot = append(p.Boot, in)
			}
		case awstest.InService:
			if !hasNode[in.ID] {
				p.Boot = append(p.Boot, in)
			}
		case awstest.Terminating, awstest.Terminated:
			p.Remove = append(p.Remove, in)
		}
	}
	for id := range hasNode {
		if !known[id] {
			p.Orphans = append(p.Orphans, id)
		}
	}
	byID := func(a, b CloudInstance) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(p.Boot, byID)
	slices.SortFunc(p.Remove, byID)
	slices.Sort(p.Orphans)
	return p
}
