package sandbox

import (
	"slices"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/internal/awstest"
)

func TestPlanCloud(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	boot := func(g string) time.Duration {
		if g == "slow" {
			return time.Minute
		}
		return 15 * time.Second
	}
	ins := []CloudInstance{
		{Group: "fast", ID: "i-3", State: awstest.Pending, Seen: t0},                       // booted at t0+15s
		{Group: "slow", ID: "i-2", State: awstest.Pending, Seen: t0},                       // still booting
		{Group: "fast", ID: "i-1", State: awstest.InService, Seen: t0},                     // has its node
		{Group: "fast", ID: "i-4", State: awstest.InService, Seen: t0},                     // no node yet
		{Group: "fast", ID: "i-5", State: awstest.Terminating, Seen: t0.Add(-time.Hour)},   // going away
		{Group: "slow", ID: "i-6", State: awstest.Pending, Seen: t0.Add(20 * time.Second)}, // just launched
	}
	p := PlanCloud(t0.Add(20*time.Second), ins, map[string]bool{"i-1": true, "i-5": true, "i-9": true}, boot)
	ids := func(in []CloudInstance) []string {
		var out []string
		for _, i := range in {
			out = append(out, i.ID)
		}
		return out
	}
	if got := ids(p.Boot); !slices.Equal(got, []string{"i-3", "i-4"}) {
		t.Errorf("boot %v, want [i-3 i-4]", got)
	}
	if got := ids(p.Remove); !slices.Equal(got, []string{"i-5"}) {
		t.Errorf("remove %v, want [i-5]", got)
	}
	if !slices.Equal(p.Orphans, []string{"i-9"}) {
		t.Errorf("orphans %v, want [i-9]", p.Orphans)
	}
	// At exactly the boot time the instance boots.
	p = PlanCloud(t0.Add(15*time.Second), ins[:1], nil, boot)
	if len(p.Boot) != 1 {
		t.Errorf("at boot time: boot %v, want i-3", ids(p.Boot))
	}
}
