package scaler_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/scaler"
	"github.com/headroom-dev/headroom/scaler/fake"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// scenario is a scripted run: before each tick, step may change the world.
type scenario struct {
	name  string
	ticks int
	setup func(w *fake.World)
	step  func(i int, now time.Time, w *fake.World)
}

// TestScenarios renders every tick's decision and compares it with
// testdata/<name>.golden (go test ./scaler -run TestScenarios -update
// rewrites them). The built-in persistence forecaster and greedy packer keep
// the files independent of the forecast and binpack packages' tuning.
func TestScenarios(t *testing.T) {
	for _, sc := range []scenario{
		{name: "spike-then-calm", ticks: 30,
			setup: func(w *fake.World) {},
			step: func(i int, now time.Time, w *fake.World) {
				rate := 50.0
				if i >= 2 && i < 6 {
					rate = 900
				}
				setRate(w, "a", rate, now)
				if i == 3 { // a short burst beyond the stable window's view
					w.Stats[short] = replace(w.Stats[short], stats("a", 2500, now))
				}
			}},
		{name: "metrics-outage", ticks: 8,
			setup: func(w *fake.World) {},
			step: func(i int, now time.Time, w *fake.World) {
				switch {
				case i < 2:
					setRate(w, "a", 10, now)
				case i < 5:
					w.FailNext("ClassStats", fmt.Errorf("prometheus: 503"), fmt.Errorf("prometheus: 503"))
				default:
					setRate(w, "a", 10, now.Add(-5*time.Minute)) // stale after recovery
				}
			}},
		{name: "spot-interruption", ticks: 6,
			setup: func(w *fake.World) {
				w.Notices = []scaler.Interruption{{Node: "n1", Terminates: t0.Add(2 * time.Minute)}}
			},
			step: func(i int, now time.Time, w *fake.World) { setRate(w, "a", 200, now) }},
	} {
		t.Run(sc.name, func(t *testing.T) {
			w := world(6)
			sc.setup(w)
			c := newController(t, w, testPolicy(testClass("a", 1, 40)), scaler.Options{Forecaster: scaler.NewPersistence(0.1, 10*time.Minute), Packer: scaler.Greedy{}})
			var b strings.Builder
			for i := range sc.ticks {
				now := t0.Add(time.Duration(i) * 15 * time.Second)
				sc.step(i, now, w)
				dec := tick(t, c, now)
				cd, _ := dec.Class("a")
				fmt.Fprintf(&b, "%s class a: data=%v rate=%.1f short=%.1f planned=%.1f needed=%d panic=%v current=%d ready=%d desired=%d %s\n",
					now.Format("15:04:05"), cd.DataOK, cd.ObservedRate, cd.ShortRate, cd.PlannedRate, cd.Needed, cd.Panicking, cd.Current, cd.Ready, cd.Desired, cd.DataReason)
				b.WriteString(dec.String())
			}
			path := filepath.Join("testdata", sc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("decisions differ from %s (rerun with -update if intended):\n%s", path, diffLines(string(want), got))
			}
		})
	}
}

func diffLines(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var a, b string
		if i < len(wl) {
			a = wl[i]
		}
		if i < len(gl) {
			b = gl[i]
		}
		if a != b {
			out = append(out, fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, a, b))
		}
		if len(out) > 10 {
			break
		}
	}
	return strings.Join(out, "\n")
}
