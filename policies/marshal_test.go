package policies

import (
	"encoding/json"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func jsonOf(t interface{ Fatal(...any) }, p *Policy) string {
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMarshalRoundTrip: Parse(MarshalDocuments(p)) == p for the reference
// fleet and for random valid edits of it. This also proves the strict
// decoder and the JSON tags agree on every field name.
func TestMarshalRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p, err := Load("../examples/reference")
		if err != nil {
			t.Fatal(err)
		}
		c := &p.Classes[rapid.IntRange(0, len(p.Classes)-1).Draw(t, "class")]
		sc := &c.Spec.Scaling
		sc.MinReplicas = rapid.IntRange(1, 10).Draw(t, "min")
		sc.MaxReplicas = rapid.IntRange(sc.MinReplicas, 50).Draw(t, "max")
		tol := rapid.Float64Range(0, 0.5).Draw(t, "tolerance")
		sc.Tolerance = &tol
		sc.Panic.Disabled = rapid.Bool().Draw(t, "panicOff")
		sc.Forecast.Horizon = D(time.Duration(rapid.IntRange(0, 1200).Draw(t, "horizonS")) * time.Second)
		pr := &c.Spec.Profiles[rapid.IntRange(0, len(c.Spec.Profiles)-1).Draw(t, "profile")]
		pr.Concurrency = rapid.IntRange(1, 32).Draw(t, "concurrency")
		pr.ServiceTime.Mean = D(time.Duration(rapid.IntRange(1, 50).Draw(t, "meanMs")) * time.Millisecond)
		pr.ServiceTime.P95 = D(pr.ServiceTime.Mean.Duration * time.Duration(rapid.IntRange(1, 4).Draw(t, "p95x")))
		ng := &p.NodeGroups[rapid.IntRange(0, len(p.NodeGroups)-1).Draw(t, "nodegroup")]
		ng.Spec.Size.Max = rapid.IntRange(max(ng.Spec.Size.Min, 1), 20).Draw(t, "size")
		if f := Validate(p); len(f) > 0 {
			t.Skip("edit made the policy invalid:", f[0])
		}
		data, err := p.MarshalDocuments()
		if err != nil {
			t.Fatal(err)
		}
		q, err := Parse("roundtrip.yaml", data)
		if err != nil {
			t.Fatalf("%v\n%s", err, data)
		}
		if a, b := jsonOf(t, p), jsonOf(t, q); a != b {
			t.Fatalf("round trip changed the policy:\n%v", Diff(p, q))
		}
	})
}
