package scaler

import (
	"fmt"
	"strconv"
	"time"
)

// Node procedures: multi-tick sequences on one node (consolidate,
// re-layout, spot interruption), started by the cluster stages and advanced
// each tick from what the node shows, under the disruption budgets.

// voluntaryRoom reports whether another node may start a voluntary
// disruption under the cluster's maxNodesDraining.
func (c *Controller) voluntaryRoom(w *world) bool {
	limit := c.policy.Cluster.Spec.Disruption.MaxNodesDraining
	if limit <= 0 {
		limit = 1
	}
	busy := 0
	for _, p := range c.st.procs {
		if p.Kind != procInterrupt {
			busy++
		}
	}
	for name, n := range w.nodes {
		if n.Cordoned && c.st.procs[name] == nil {
			busy++ // cordoned by someone else: counts against the budget
		}
	}
	return busy < limit
}

// budgetBlocked says why evicting pods would break a class's disruption
// budget (maxUnavailable, counting replicas already not ready and those that
// disruptions started earlier in this tick will evict), or "".
func (c *Controller) budgetBlocked(pods []Pod, desired map[string]int, d *Decision) string {
	moved := map[string]int{}
	for _, p := range pods {
		moved[p.Class]++
	}
	ready := map[string]int{}
	for _, cd := range d.Classes {
		ready[cd.Class] = cd.Ready
	}
	for _, cl := range sortedKeys(moved) {
		mc, ok := c.policy.Class(cl)
		if !ok || desired[cl] == 0 {
			continue // not the policy's, or going away: nothing to keep up
		}
		allow := mc.MaxUnavailable(desired[cl])
		unavailable := max(desired[cl]-ready[cl], 0) + d.evicting[cl]
		if unavailable+moved[cl] > allow {
			return fmt.Sprintf("class %s: moving %d with %d unavailable exceeds maxUnavailable %d", cl, moved[cl], unavailable, allow)
		}
	}
	return ""
}

// reserveEvictions records that a disruption started in this tick will
// evict pods, for budgetBlocked.
func (d *Decision) reserveEvictions(pods []Pod) {
	if d.evicting == nil {
		d.evicting = map[string]int{}
	}
	for _, p := range pods {
		d.evicting[p.Class]++
	}
}

// advanceProcedures issues the next step of every node procedure from the
// node's observed state, so a step lost to an error is simply re-issued
// (after backoff) on a later tick.
func (c *Controller) advanceProcedures(d *Decision, w *world, booting bool, now time.Time) {
	for _, name := range sortedKeys(c.st.procs) {
		p := c.st.procs[name]
		n, ok := w.nodes[name]
		if !ok {
			if !p.Removed && p.Kind != procInterrupt {
				d.NotDone = append(d.NotDone, fmt.Sprintf("node %s vanished during %s: procedure dropped", name, p.Kind))
			}
			delete(c.st.procs, name)
			continue
		}
		if p.Kind == procRelayout && p.Removed && !n.Cordoned {
			delete(c.st.procs, name) // uncordoned after the re-layout: done
			continue
		}
		pods := w.podsByNode[name]
		act := func(kind ActionKind, phase int, from, to, why string) {
			d.Actions = append(d.Actions, Action{Kind: kind, Target: name, NodeGroup: n.NodeGroup, From: from, To: to,
				Reason: p.Reason + ": " + why, phase: phase, Involuntary: p.Kind == procInterrupt})
		}
		if !n.Cordoned && !(p.Kind == procRelayout && p.Removed) {
			act(ActCordon, phaseDisrupt, "schedulable", "cordoned", "step 1: stop new replicas landing here")
		}
		switch p.Kind {
		case procInterrupt:
			lead := p.Terminates.Sub(now)
			switch {
			case len(pods) > 0 && (!booting || lead <= c.opts.DrainLead):
				act(ActDrain, phaseDisrupt, strconv.Itoa(len(pods))+" pods", "0 pods",
					fmt.Sprintf("step 2: drain %v before termination (replacement ready: %v)", lead.Round(time.Second), !booting))
			case len(pods) > 0:
				d.NotDone = append(d.NotDone, fmt.Sprintf("drain of %s waits for replacement capacity (%v to termination, drains at %v)", name, lead.Round(time.Second), c.opts.DrainLead))
			case !p.Removed:
				// Gone in any case; removed now with the group shrunk, its
				// group does not launch a replacement for it on top of the
				// one this procedure already asked for.
				act(ActRemoveNode, phaseDown, "1", "0", "step 3: drained, remove it and shrink the nodegroup before the cloud takes it")
			}
		case procConsolidate:
			switch {
			case len(pods) > 0:
				act(ActDrain, phaseDisrupt, strconv.Itoa(len(pods))+" pods", "0 pods", "step 2: evict through the Eviction API (PDBs honoured)")
			case !p.Removed:
				act(ActRemoveNode, phaseDown, "1", "0", "step 3: node empty, remove it and shrink the nodegroup")
			}
		case procRelayout:
			switch {
			case len(pods) > 0:
				act(ActDrain, phaseDisrupt, strconv.Itoa(len(pods))+" pods", "0 pods", "step 2: drain before re-partitioning")
			case n.MIGConfig != p.MIG.Name:
				act(ActSetMIGConfig, phaseDisrupt, n.MIGConfig, p.MIG.Name, "step 3: set nvidia.com/mig.config")
				d.Actions[len(d.Actions)-1].mig = p.MIG
			case n.MIGState == "success" && !p.Removed:
				act(ActUncordon, phaseRestore, "cordoned", "schedulable", "step 5: layout applied, uncordon")
				p.Removed = true // done; dropped next tick
			case n.MIGState == "failed":
				d.NotDone = append(d.NotDone, fmt.Sprintf("MIG re-layout of %s to %s failed (mig.config.state=failed): node stays cordoned for an operator", name, p.MIG.Name))
			case now.Sub(p.Since) > c.opts.MIGTimeout:
				d.NotDone = append(d.NotDone, fmt.Sprintf("MIG re-layout of %s to %s stuck in %q for %v", name, p.MIG.Name, n.MIGState, now.Sub(p.Since).Round(time.Second)))
			default:
				// step 4: wait for the MIG manager.
			}
		}
	}
}
