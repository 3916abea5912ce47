package policies

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func reference(t testing.TB) *Policy {
	t.Helper()
	p, err := Load("../examples/reference")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func class(t testing.TB, p *Policy, name string) *ModelClass {
	t.Helper()
	c, ok := p.Class(name)
	if !ok {
		t.Fatalf("no class %s", name)
	}
	return c
}

func TestMinReplicasAt(t *testing.T) {
	p := reference(t)
	c := class(t, p, "reader-de-large") // min 2; weekdays 08:30 Berlin for 10h: 6
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, berlin) }
	tests := []struct {
		name string
		now  time.Time
		want int
	}{
		{"monday before opening", at(2026, 11, 23, 8, 29), 2},
		{"monday at opening", at(2026, 11, 23, 8, 30), 6},
		{"monday afternoon", at(2026, 11, 23, 15, 0), 6},
		{"monday last minute", at(2026, 11, 23, 18, 29), 6},
		{"monday at closing (half-open)", at(2026, 11, 23, 18, 30), 2},
		{"saturday", at(2026, 11, 28, 10, 0), 2},
		{"same instant in UTC", at(2026, 11, 23, 9, 0).UTC(), 6},
		{"summer time: 08:30 CEST is 06:30 UTC", time.Date(2026, 7, 6, 6, 30, 0, 0, time.UTC), 6},
		{"summer time: 07:30 UTC is 09:30 CEST", time.Date(2026, 7, 6, 7, 30, 0, 0, time.UTC), 6},
		{"summer time: 06:29 UTC is before opening", time.Date(2026, 7, 6, 6, 29, 0, 0, time.UTC), 2},
	}
	for _, tt := range tests {
		if got := c.MinReplicasAt(tt.now); got != tt.want {
			t.Errorf("%s (%s): got %d, want %d", tt.name, tt.now, got, tt.want)
		}
	}
}

func TestMinReplicasAtCapsAndOverlaps(t *testing.T) {
	c := &ModelClass{Spec: ModelClassSpec{Scaling: Scaling{MinReplicas: 1, MaxReplicas: 5, ScheduledMinimums: []ScheduledMinimum{
		{Cron: "0 8 * * *", Duration: D(4 * time.Hour), MinReplicas: 3},
		{Cron: "0 10 * * *", Duration: D(4 * time.Hour), MinReplicas: 9},  // above max: capped
		{Cron: "not a cron", Duration: D(24 * time.Hour), MinReplicas: 4}, // ignored
	}}}}
	day := func(h int) time.Time { return time.Date(2026, 1, 5, h, 0, 0, 0, time.UTC) }
	for _, tt := range []struct{ h, want int }{{7, 1}, {8, 3}, {10, 5}, {13, 5}, {14, 1}} {
		if got := c.MinReplicasAt(day(tt.h)); got != tt.want {
			t.Errorf("%02d:00: got %d, want %d", tt.h, got, tt.want)
		}
	}
}

// TestWindowActiveMatchesBruteForce checks the O(1) window test against a
// scan of every minute in (now-d, now] for random schedules and times.
func TestWindowActiveMatchesBruteForce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		minute := rapid.IntRange(0, 59).Draw(t, "minute")
		hour := rapid.IntRange(0, 23).Draw(t, "hour")
		dows := []string{"*", "1-5", "0,6", "3"}
		expr := fmt.Sprintf("%d %d * * %s", minute, hour, rapid.SampledFrom(dows).Draw(t, "dow"))
		tz := rapid.SampledFrom([]string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"}).Draw(t, "tz")
		d := time.Duration(rapid.IntRange(1, 180).Draw(t, "durMinutes")) * time.Minute
		// 2026 including both DST changes in Europe and the US.
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rapid.IntRange(0, 365*24*60).Draw(t, "nowMinute")) * time.Minute)
		got, err := windowActive(expr, tz, d, now)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := parseSchedule(expr, tz)
		want := false
		for m := now; m.After(now.Add(-d)); m = m.Add(-time.Minute) {
			if s.Next(m.Add(-time.Second)).Equal(m) {
				want = true
				break
			}
		}
		if got != want {
			t.Fatalf("%q %s for %s at %s: got %v, brute force %v", expr, tz, d, now, got, want)
		}
	})
}

func TestDisruptionAllowedAt(t *testing.T) {
	p := reference(t) // weekdays 20:00 Berlin for 11h; weekends all day
	d := p.Cluster.Spec.Disruption
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, tt := range []struct {
		now  time.Time
		want bool
	}{
		{time.Date(2026, 11, 24, 12, 0, 0, 0, berlin), false}, // Tuesday noon
		{time.Date(2026, 11, 24, 21, 0, 0, 0, berlin), true},  // Tuesday night
		{time.Date(2026, 11, 25, 6, 59, 0, 0, berlin), true},  // Wednesday early
		{time.Date(2026, 11, 25, 7, 0, 0, 0, berlin), false},  // window closed
		{time.Date(2026, 11, 28, 12, 0, 0, 0, berlin), true},  // Saturday
	} {
		if got := d.AllowedAt(tt.now); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.now, got, tt.want)
		}
	}
	if !(Disruption{}).AllowedAt(time.Now()) {
		t.Error("no windows must mean any time")
	}
}

func TestOptions(t *testing.T) {
	p := reference(t)
	tests := []struct {
		class    string
		want     []string // nodegroup/profile
		rejected []string
	}{
		{"reader-de-small", []string{"gpu-p5-ondemand/1g.10gb", "gpu-p4de-ondemand/1g.10gb"}, nil},
		{"reader-it-base", []string{"gpu-g6-timesliced/timesliced", "gpu-p5-ondemand/1g.10gb"}, nil},
		{"retriever", []string{"cpu-retrieval/cpu"}, nil},
		{"reader-fr-base", []string{
			"gpu-p4de-ondemand/1g.10gb", "gpu-p5-ondemand/1g.10gb", "gpu-p5-ondemand/1g.20gb", "gpu-p5-spot/1g.10gb", "gpu-p5-spot/1g.20gb",
		}, []string{"cpu-retrieval", "cpu-router", "gpu-g6-timesliced"}},
	}
	for _, tt := range tests {
		t.Run(tt.class, func(t *testing.T) {
			opts, rej := p.Options(class(t, p, tt.class))
			var got []string
			for _, o := range opts {
				got = append(got, o.NodeGroup.Name+"/"+o.Profile.Profile)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("options %v, want %v", got, tt.want)
			}
			var gotRej []string
			for _, r := range rej {
				gotRej = append(gotRej, r.NodeGroup)
				if r.Reason == "" {
					t.Errorf("rejection of %s has no reason", r.NodeGroup)
				}
			}
			if fmt.Sprint(gotRej) != fmt.Sprint(tt.rejected) {
				t.Errorf("rejected %v, want %v", gotRej, tt.rejected)
			}
		})
	}
}

func TestHorizon(t *testing.T) {
	p := reference(t)
	p5, _ := p.NodeGroup("gpu-p5-ondemand")
	g6, _ := p.NodeGroup("gpu-g6-timesliced")
	it := class(t, p, "reader-it-base") // load 40s
	tests := []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"MIG nodegroup: boot 6m + repartition 2m + load 40s", p.HorizonOn(it, p5), 8*time.Minute + 40*time.Second},
		{"time-sliced: boot 4m + load 40s", p.HorizonOn(it, g6), 4*time.Minute + 40*time.Second},
		{"class: the longest of its nodegroups", p.Horizon(it), 8*time.Minute + 40*time.Second},
		{"CPU class: boot 2m + load 2m", p.Horizon(class(t, p, "retriever")), 4 * time.Minute},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, tt.got, tt.want)
		}
	}
	fixed := *it
	fixed.Spec.Scaling.Forecast.Horizon = D(3 * time.Minute)
	if got := p.Horizon(&fixed); got != 3*time.Minute {
		t.Errorf("explicit horizon: got %s", got)
	}
}

func TestMaxUnavailable(t *testing.T) {
	tests := []struct {
		setting  string
		replicas int
		want     int
	}{
		{"25%", 8, 2}, {"25%", 3, 1}, {"25%", 1, 1}, {"25%", 0, 0},
		{"1", 10, 1}, {"5", 2, 2}, {"0", 4, 0}, {"0%", 4, 0}, {"bad", 4, 0},
	}
	for _, tt := range tests {
		c := &ModelClass{Spec: ModelClassSpec{Disruption: ClassDisruption{MaxUnavailable: tt.setting}}}
		if got := c.MaxUnavailable(tt.replicas); got != tt.want {
			t.Errorf("%s of %d: got %d, want %d", tt.setting, tt.replicas, got, tt.want)
		}
	}
}

func TestServiceProfile(t *testing.T) {
	c := class(t, reference(t), "reader-de-large")
	sp, ok := c.ServiceProfile("H100-80GB", "3g.40gb")
	if !ok || sp.ServiceTime.Mean.Duration != 26*time.Millisecond || sp.Concurrency != 6 {
		t.Fatalf("got %+v, %v", sp, ok)
	}
	if _, ok := c.ServiceProfile("H100-80GB", "7g.80gb"); ok {
		t.Fatal("found a profile the class does not have")
	}
}

func TestCatalogOverrides(t *testing.T) {
	src := string(minimal(t)) + `---
apiVersion: headroom.dev/v1alpha1
kind: NodeGroup
metadata: {name: custom}
spec: {instanceType: p5.2gpu, size: {max: 2}, gpu: {mode: whole}}
`
	src = replaceOnce(t, src, "spec: {region: eu-central-1}", `spec:
  region: eu-central-1
  catalog:
    instanceTypes: [{name: p5.2gpu, gpu: H100-80GB, gpus: 2, vcpu: 48, memoryGiB: 512, onDemandPrice: 14}]
    prices: [{instanceType: p5.48xlarge, onDemand: 50, spot: 20, date: "2026-10-01", source: "account invoice"}]`)
	p := mustParse(t, src)
	cat, err := p.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	p5, _ := cat.Instance("p5.48xlarge")
	if p5.OnDemandPrice != 50 || p5.SpotPrice != 20 || p5.PriceSource != "policy: account invoice" || p5.PriceDate != "2026-10-01" {
		t.Errorf("override not applied: %+v", p5)
	}
	added, ok := cat.Instance("p5.2gpu")
	if !ok || added.SpotPrice != 5.6 {
		t.Errorf("added type: %+v (spot should default to 40%% of on-demand)", added)
	}
	p5.OnDemandPrice = 1 // the caller's copy; the policy's must not change
	again, _ := p.Catalog()
	if it, _ := again.Instance("p5.48xlarge"); it.OnDemandPrice != 50 {
		t.Error("Catalog returned shared state")
	}
}
