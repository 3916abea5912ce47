package policies

import (
	"testing"
	"time"
)

// Scheduled minimums and disruption windows open at each cron match in
// their time zone and stay open for their duration, half-open.
func TestSchedulesAt(t *testing.T) {
	c := &ModelClass{Spec: ModelClassSpec{Scaling: Scaling{MinReplicas: 2, MaxReplicas: 10,
		ScheduledMinimums: []ScheduledMinimum{{Cron: "30 8 * * 1-5", TimeZone: "Europe/Berlin", Duration: D(10 * time.Hour), MinReplicas: 6}}}}}
	d := Disruption{Windows: []Window{{Cron: "30 8 * * 1-5", TimeZone: "Europe/Berlin", Duration: D(10 * time.Hour)}}}
	p := &Policy{Classes: []ModelClass{*c}, Cluster: Cluster{Spec: ClusterSpec{Disruption: d}}}
	Default(p)
	c, d = &p.Classes[0], p.Cluster.Spec.Disruption
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, tc := range []struct {
		at   time.Time
		open bool
	}{
		{time.Date(2026, 11, 30, 8, 29, 0, 0, berlin), false},
		{time.Date(2026, 11, 30, 8, 30, 0, 0, berlin), true},
		{time.Date(2026, 11, 30, 18, 29, 59, 0, berlin), true},
		{time.Date(2026, 11, 30, 18, 30, 0, 0, berlin), false},
		{time.Date(2026, 11, 29, 12, 0, 0, 0, berlin), false}, // Sunday
	} {
		want := 2
		if tc.open {
			want = 6
		}
		if got := c.MinReplicasAt(tc.at); got != want {
			t.Errorf("%v: MinReplicasAt %d, want %d", tc.at, got, want)
		}
		if got := d.AllowedAt(tc.at); got != tc.open {
			t.Errorf("%v: AllowedAt %v, want %v", tc.at, got, tc.open)
		}
	}
}
