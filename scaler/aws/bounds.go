package aws

import (
	"fmt"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
)

// Finding is one disagreement between the policy and AWS about a nodegroup.
type Finding struct {
	NodeGroup string
	Message   string
}

// CheckBounds compares the policy's bounds with the cloud's. The core
// keeps every target inside both (the tighter wins), so a policy that asks
// beyond the cloud would be clipped without a word; this says it instead.
// Example: policy max 20, group max 12 -> "headroom will not ask for more
// than 12 nodes". A nodegroup missing from states is reported as not found.
func CheckBounds(groups []NodeGroup, states []scaler.NodeGroupState) []Finding {
	byName := map[string]scaler.NodeGroupState{}
	for _, s := range states {
		byName[s.Name] = s
	}
	var out []Finding
	for _, g := range groups {
		g = g.withDefaults()
		what := "Auto Scaling group " + g.CloudName
		if g.Kind == policies.NodeGroupEKSManaged {
			what = "EKS nodegroup " + g.CloudName
		}
		s, ok := byName[g.Name]
		if !ok {
			out = append(out, Finding{g.Name, fmt.Sprintf("%s not found in AWS: the nodegroup is not sized", what)})
			continue
		}
		if g.Max > s.Max {
			out = append(out, Finding{g.Name, fmt.Sprintf("policy max %d is above the %s max %d: headroom will not ask for more than %d nodes; raise the max in AWS or lower the policy's",
				g.Max, what, s.Max, s.Max)})
		}
		if g.Min > s.Max {
			out = append(out, Finding{g.Name, fmt.Sprintf("policy min %d is above the %s max %d: the policy's floor cannot be met", g.Min, what, s.Max)})
		} else if g.Min < s.Min {
			out = append(out, Finding{g.Name, fmt.Sprintf("policy min %d is below the %s min %d: the group never goes below %d nodes", g.Min, what, s.Min, s.Min)})
		}
	}
	return out
}
