package scaler

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/policies"
)

// vanishing is a Cluster whose every class has vanished; the other methods
// are not called (the embedded nil interfaces would panic).
type vanishing struct {
	Metrics
	Cluster
	Cloud
}

func (vanishing) ScaleClass(context.Context, string, int) error {
	return fmt.Errorf("deployment: %w", ErrNotFound)
}

// A class that vanished between observe and act ends nothing but itself:
// the procedure of a node with the same name goes on.
func TestNotFoundDropsOnlyTheNodesProcedure(t *testing.T) {
	v := vanishing{}
	c, err := New(Options{}, &policies.Policy{}, v, v, v, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	c.st.procs["reader"] = &procedure{Kind: procConsolidate, Node: "reader", Since: now}
	d := Decision{At: now, Actions: []Action{{Kind: ActScaleClass, Target: "reader", To: "3", to: 3, Status: StatusPlanned}}}
	c.Act(context.Background(), &d, now)
	if d.Actions[0].Status != StatusFailed {
		t.Fatalf("action %+v", d.Actions[0])
	}
	if c.st.procs["reader"] == nil {
		t.Error("a class's not-found dropped the procedure of the node named like it")
	}
}
