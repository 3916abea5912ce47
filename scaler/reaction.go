package scaler

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// ---------------------------------------------------------------------------
// Online latency correction.

// Correction learns how much slower (or faster) a class's replicas really
// are than their declared service time, from the observed latency versus
// the model's prediction at the observed rate and ready replicas.
//
// Each update multiplies the service-time multiplier by
// (observed/predicted)^Gain, with the step clamped to [1/MaxStep, MaxStep]
// and the multiplier to [Min, Max]. Because the prediction already uses the
// current multiplier, this is a damped fixed-point iteration: it stops
// moving when the model predicts what is observed.
//
// Worked example: declared mean 100ms, observed p95 260ms where the model
// predicts 200ms: ratio 1.3, step 1.3^0.5 = 1.14, multiplier 1 -> 1.14; the
// next sizing sees a 114ms mean and adds replicas.
type Correction struct {
	Gain    float64 // exponent of each step, default 0.5
	MaxStep float64 // largest factor per update, default 1.25
	Min     float64 // default 0.5
	Max     float64 // default 4
}

// DefaultCorrection is the correction the controller uses unless told.
var DefaultCorrection = Correction{Gain: 0.5, MaxStep: 1.25, Min: 0.5, Max: 4}

// Update returns the new multiplier and why. It keeps the old one when the
// inputs cannot say anything (no prediction, no observation, no load).
func (c Correction) Update(mult float64, observed, predicted time.Duration) (float64, string) {
	if !(mult > 0) || math.IsInf(mult, 0) {
		mult = 1
	}
	if observed <= 0 || predicted <= 0 || predicted == time.Duration(math.MaxInt64) {
		return mult, "no usable latency observation: correction unchanged"
	}
	ratio := observed.Seconds() / predicted.Seconds()
	step := math.Pow(ratio, c.Gain)
	step = math.Min(math.Max(step, 1/c.MaxStep), c.MaxStep)
	next := math.Min(math.Max(mult*step, c.Min), c.Max)
	return next, fmt.Sprintf("observed p95 %v vs predicted %v (x%.2f): service-time multiplier %.2f -> %.2f",
		observed.Round(time.Millisecond), predicted.Round(time.Millisecond), ratio, mult, next)
}

// ---------------------------------------------------------------------------
// Panic mode (Knative KPA).

// PanicState is one class's panic mode, carried across ticks.
type PanicState struct {
	// Since is when the class entered panic; zero when not panicking.
	Since time.Time
	// LastTrigger is the last tick the panic condition held.
	LastTrigger time.Time
	// Peak is the most replicas asked for during this panic: KPA never
	// scales down while panicking.
	Peak int
}

// Panicking reports whether the class is in panic mode.
func (p PanicState) Panicking() bool { return !p.Since.IsZero() }

// PanicInput is what the panic rule looks at in one tick.
type PanicInput struct {
	// ShortRate is the request rate over the panic window (6s default).
	ShortRate float64
	// ShortNeeded is the replicas the sizing model needs for ShortRate.
	ShortNeeded int
	// Ready replicas serving now.
	Ready     int
	Threshold float64       // default 2
	Stable    time.Duration // stable window, default 60s
}

// PanicStep advances one class's panic state as Knative's KPA does
// (knative.dev/serving pkg/autoscaler/scaling/autoscaler.go): enter panic
// when the replicas needed for the short-window rate reach Threshold x the
// ready replicas; while panicking ask for at least the peak seen so far
// (never scale down); leave when the condition has not held for the stable
// window. It returns the new state, the replicas panic asks for (0 when
// not panicking) and the reason.
func PanicStep(st PanicState, in PanicInput, now time.Time) (PanicState, int, string) {
	ready := max(in.Ready, 1)
	ratio := float64(in.ShortNeeded) / float64(ready)
	trigger := validRate(in.ShortRate) && ratio >= in.Threshold
	if trigger {
		if !st.Panicking() {
			st.Since = now
			st.Peak = 0
		}
		st.LastTrigger = now
	}
	if !st.Panicking() {
		return st, 0, ""
	}
	if !trigger && now.Sub(st.LastTrigger) >= in.Stable {
		return PanicState{}, 0, fmt.Sprintf("panic over: needed/ready %.2f < %.1f for %v", ratio, in.Threshold, in.Stable)
	}
	st.Peak = max(st.Peak, in.ShortNeeded, in.Ready)
	return st, st.Peak, fmt.Sprintf("panic since %s: short-window %.2f req/s needs %d, %.2fx the %d ready (threshold %.1f); holding %d, no scale-down",
		st.Since.UTC().Format(time.TimeOnly), in.ShortRate, in.ShortNeeded, ratio, in.Ready, in.Threshold, st.Peak)
}

// ---------------------------------------------------------------------------
// HPA behaviors: tolerance, stabilization windows, rate policies.

// Behavior is a class's scaling behavior with defaults filled in (see
// policies.Scaling): HPA's autoscaling/v2 behavior.
type Behavior struct {
	Tolerance float64
	Up, Down  Rule
}

// Rule limits one direction: within any Period the change is at most
// Pods or Percent % of the replicas at the period's start, the larger
// (SelectMax) or the smaller (SelectMin); Disabled forbids the direction.
type Rule struct {
	Stabilization time.Duration
	Percent       int // 0 means no percent policy
	Pods          int // 0 means no pods policy
	Period        time.Duration
	SelectMin     bool
	Disabled      bool
}

// Recommendation is one past raw recommendation.
type Recommendation struct {
	At       time.Time
	Replicas int
}

// ScaleEvent is one past change of the replica count.
type ScaleEvent struct {
	At    time.Time
	Delta int // positive for up, negative for down
}

// BehaviorState is the history one class's behavior needs.
type BehaviorState struct {
	Recs   []Recommendation
	Events []ScaleEvent
}

// Behave turns a raw recommendation into the replica count to set, the way
// the HPA controller does (k8s.io/kubernetes pkg/controller/podautoscaler
// horizontal.go: stabilizeRecommendationWithBehaviors and
// convertDesiredReplicasWithBehaviorRate):
//
//  1. tolerance: a change within Tolerance of current is no change;
//  2. stabilization: scale up to at most the lowest recommendation of the
//     up window, down to at least the highest of the down window;
//  3. rate: at most Pods/Percent per Period, counted from the replicas at
//     the period's start (recorded scale events).
//
// It records the recommendation (and prunes history) in st and returns the
// count and the reason. Record the event with st.Record after acting.
func Behave(st *BehaviorState, b Behavior, current, raw int, now time.Time) (int, string) {
	var why []string
	if current > 0 && raw != current && math.Abs(float64(raw)/float64(current)-1) <= b.Tolerance+1e-9 {
		why = append(why, fmt.Sprintf("within tolerance %.0f%% of %d", b.Tolerance*100, current))
		raw = current
	}
	st.Recs = append(st.Recs, Recommendation{At: now, Replicas: raw})
	keep := max(b.Up.Stabilization, b.Down.Stabilization, b.Up.Period, b.Down.Period)
	st.prune(now, keep)

	up, down := raw, raw
	for _, r := range st.Recs {
		if now.Sub(r.At) < b.Up.Stabilization {
			up = min(up, r.Replicas)
		}
		if now.Sub(r.At) < b.Down.Stabilization {
			down = max(down, r.Replicas)
		}
	}
	stab := current
	if stab < up {
		stab = up
	}
	if stab > down {
		stab = down
	}
	if stab != raw {
		why = append(why, fmt.Sprintf("stabilized %d -> %d (up window %v min %d, down window %v max %d)",
			raw, stab, b.Up.Stabilization, up, b.Down.Stabilization, down))
	}

	out := stab
	switch {
	case stab > current:
		if b.Up.Disabled {
			return current, join(append(why, "scale-up disabled by policy"))
		}
		lim := upLimit(st, b.Up, current, now)
		if out > lim {
			why = append(why, fmt.Sprintf("scale-up rate limit %d (pods %d / %d%% per %v)", lim, b.Up.Pods, b.Up.Percent, b.Up.Period))
			out = lim
		}
	case stab < current:
		if b.Down.Disabled {
			return current, join(append(why, "scale-down disabled by policy"))
		}
		lim := downLimit(st, b.Down, current, now)
		if out < lim {
			why = append(why, fmt.Sprintf("scale-down rate limit %d (pods %d / %d%% per %v)", lim, b.Down.Pods, b.Down.Percent, b.Down.Period))
			out = lim
		}
	}
	return out, join(why)
}

// Record notes a change of replicas made at now, for the rate policies.
func (st *BehaviorState) Record(now time.Time, from, to int) {
	if from != to {
		st.Events = append(st.Events, ScaleEvent{At: now, Delta: to - from})
	}
}

func (st *BehaviorState) prune(now time.Time, keep time.Duration) {
	i := 0
	for i < len(st.Recs) && now.Sub(st.Recs[i].At) > keep {
		i++
	}
	st.Recs = st.Recs[i:]
	j := 0
	for j < len(st.Events) && now.Sub(st.Events[j].At) > keep {
		j++
	}
	st.Events = st.Events[j:]
}

func changeIn(st *BehaviorState, period time.Duration, now time.Time, up bool) int {
	n := 0
	for _, e := range st.Events {
		if now.Sub(e.At) < period && (e.Delta > 0) == up {
			n += e.Delta
		}
	}
	return n
}

func upLimit(st *BehaviorState, r Rule, current int, now time.Time) int {
	start := current - changeIn(st, r.Period, now, true)
	var lims []int
	if r.Pods > 0 {
		lims = append(lims, start+r.Pods)
	}
	if r.Percent > 0 {
		lims = append(lims, int(math.Ceil(float64(start)*(1+float64(r.Percent)/100))))
	}
	if len(lims) == 0 {
		return math.MaxInt32
	}
	lim := pick(lims, !r.SelectMin) // max select: the policy allowing the most change
	return max(lim, current)
}

func downLimit(st *BehaviorState, r Rule, current int, now time.Time) int {
	start := current - changeIn(st, r.Period, now, false) // deltas are negative
	var lims []int
	if r.Pods > 0 {
		lims = append(lims, start-r.Pods)
	}
	if r.Percent > 0 {
		lims = append(lims, int(math.Ceil(float64(start)*(1-float64(r.Percent)/100))))
	}
	if len(lims) == 0 {
		return 0
	}
	lim := pick(lims, r.SelectMin) // max select: the lowest floor
	return min(max(lim, 0), current)
}

func pick(v []int, largest bool) int {
	out := v[0]
	for _, x := range v[1:] {
		if largest == (x > out) {
			out = x
		}
	}
	return out
}

func join(s []string) string { return strings.Join(s, "; ") }
