package simulations

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/simulations/trace"
)

var manual = flag.String("manual", "", "run a manual comparison of the reference fleet and write its JSON here")

// TestManual is a development aid: go test ./simulations -run TestManual -manual out.json
func TestManual(t *testing.T) {
	if *manual == "" {
		t.Skip("set -manual FILE")
	}
	p := loadRef(t)
	tr, err := trace.ReadFile("testdata/traces/AzureLLMInferenceTrace_conv.csv", trace.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range p.Classes {
		names = append(names, c.Name)
	}
	wl, err := NewWorkload(tr, WorkloadOptions{Classes: names, Scale: 1000, Seed: 1, Mix: Mix{"reader-en-large": 0.5, "reader-de-large": 0.3, "reader-en-base": 0.2}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmp, err := Compare(context.Background(), CompareOptions{Seed: 1, Workload: wl, Contenders: []Contender{
		{PolicyName: "reference", Policy: p, Controller: NewHeadroom(scaler.Options{})},
		{PolicyName: "reference", Policy: p, Controller: NewHPACA(HPAOptions{})},
		{PolicyName: "reference", Policy: p, Controller: NewStatic(0)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	WriteTable(os.Stdout, cmp)
	t.Logf("%v", time.Since(start))
	if err := WriteFileAtomic(*manual, func(w io.Writer) error { return json.NewEncoder(w).Encode(cmp) }); err != nil {
		t.Fatal(err)
	}
	WriteFileAtomic(*manual+".html", func(w io.Writer) error { return WriteHTML(w, cmp) })
}
