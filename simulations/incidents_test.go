package simulations

import (
	"testing"
	"time"
)

// Ten good minutes and five bad ones: the whole-run share (83%) hides what
// the worst 5-minute window (50%) and the minutes below target (5) show.
func TestIncidentWindows(t *testing.T) {
	scrape := 15 * time.Second
	a := classAcc{worst5: 1, target: 0.95, scrapes5: 20, scr1: 4}
	at := int64(0)
	feed := func(scrapes int, within float64) {
		for range scrapes {
			at += int64(scrape)
			a.incidents(&scrapeRec{completed: 100, within: within}, at)
		}
	}
	feed(40, 100) // 10 minutes, all within
	feed(20, 50)  // 5 minutes, half within
	feed(3, 0)    // a partial window is not counted yet
	if a.worst5 != 0.5 || time.Duration(a.worst5At) != 15*time.Minute {
		t.Errorf("worst 5m %.2f at %v, want 0.50 at 15m", a.worst5, time.Duration(a.worst5At))
	}
	if a.minutesBelow != 5 {
		t.Errorf("minutes below %v, want 5", a.minutesBelow)
	}
	// Errors (timeouts, drops) count as not within.
	b := classAcc{worst5: 1, target: 0.95, scrapes5: 1, scr1: 1}
	b.incidents(&scrapeRec{completed: 90, errors: 10, within: 90}, 1)
	if b.worst5 != 0.9 || b.minutesBelow != 1 {
		t.Errorf("with 10%% errors: worst %.2f, below %v", b.worst5, b.minutesBelow)
	}
	// Idle windows are not incidents.
	c := classAcc{worst5: 1, target: 0.95, scrapes5: 2, scr1: 1}
	c.incidents(&scrapeRec{}, 1)
	c.incidents(&scrapeRec{}, 2)
	if c.worst5 != 1 || c.minutesBelow != 0 {
		t.Errorf("idle: worst %.2f, below %v", c.worst5, c.minutesBelow)
	}
}
