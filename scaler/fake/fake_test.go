package fake

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/scaler"
)

func TestFailNextAndRecording(t *testing.T) {
	ctx := context.Background()
	w := New()
	w.Groups = []scaler.NodeGroupState{{Name: "g", Desired: 1}}
	w.State.Nodes = []scaler.Node{{Name: "n1", NodeGroup: "g"}}
	w.State.Pods = []scaler.Pod{{Name: "p", Class: "a", Node: "n1"}}
	boom := errors.New("boom")
	w.FailNext("SetDesiredSize", boom, scaler.ErrThrottled)
	if err := w.SetDesiredSize(ctx, "g", 3); !errors.Is(err, boom) {
		t.Fatalf("first call: %v", err)
	}
	if err := w.SetDesiredSize(ctx, "g", 3); !scaler.IsThrottled(err) {
		t.Fatalf("second call: %v", err)
	}
	if err := w.SetDesiredSize(ctx, "g", 3); err != nil || w.Groups[0].Desired != 3 {
		t.Fatalf("third call: %v, desired %d", err, w.Groups[0].Desired)
	}
	if got := w.CallsTo("SetDesiredSize"); len(got) != 3 || got[2].Args != "g=3" || got[0].Err == nil {
		t.Fatalf("recorded %+v", got)
	}
	if err := w.SetDesiredSize(ctx, "nope", 1); !scaler.IsNotFound(err) {
		t.Fatalf("unknown nodegroup: %v", err)
	}
	w.BlockDrain["n1"] = true
	if err := w.Drain(ctx, "n1"); !scaler.IsBlocked(err) || len(w.State.Pods) != 1 {
		t.Fatalf("blocked drain: %v, pods %d", err, len(w.State.Pods))
	}
	delete(w.BlockDrain, "n1")
	if err := w.Drain(ctx, "n1"); err != nil || len(w.State.Pods) != 0 {
		t.Fatalf("drain: %v, pods %d", err, len(w.State.Pods))
	}
	if err := w.Cordon(ctx, "gone", true); !scaler.IsNotFound(err) {
		t.Fatalf("cordon of a vanished node: %v", err)
	}
	if err := w.RemoveNode(ctx, "g", "n1"); err != nil || len(w.State.Nodes) != 0 || w.Groups[0].Desired != 2 {
		t.Fatalf("remove: %v nodes %d desired %d", err, len(w.State.Nodes), w.Groups[0].Desired)
	}
	w.Notices = []scaler.Interruption{{Node: "x", Terminates: time.Unix(100, 0)}}
	if got, _ := w.Interruptions(ctx, time.Unix(200, 0)); len(got) != 0 {
		t.Fatalf("past notices returned: %v", got)
	}
	w.Reset()
	if len(w.Calls) != 0 {
		t.Fatal("reset kept calls")
	}
}

// A config published through SetMIGConfig comes back in the next Snapshot,
// so a hashed name resolves.
func TestSnapshotKeepsPublishedMIGConfigs(t *testing.T) {
	w := New()
	w.State.Nodes = []scaler.Node{{Name: "n1"}}
	cfg := catalog.NodeMIG([]map[string]int{{"3g.40gb": 2}, {"1g.10gb": 7}})
	if err := w.SetMIGConfig(context.Background(), "n1", cfg); err != nil {
		t.Fatal(err)
	}
	st, err := w.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := st.MIGConfigs[cfg.Name]; !ok || !got.Same(cfg, 2) || st.Nodes[0].MIGConfig != cfg.Name {
		t.Errorf("snapshot %+v lost the published %s", st, cfg.Name)
	}
}
