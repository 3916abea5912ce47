package aws

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Notice kinds: what an EventBridge event on the interruption queue says.
const (
	// KindSpotInterruption is "EC2 Spot Instance Interruption Warning":
	// the instance is reclaimed two minutes after the event.
	KindSpotInterruption = "spot-interruption"
	// KindRebalance is "EC2 Instance Rebalance Recommendation": the
	// instance is at elevated risk of interruption (docs/aws.md).
	KindRebalance = "rebalance"
	// KindScheduledChange is an AWS Health scheduledChange event for EC2
	// (retirement, maintenance stop or reboot) at its startTime.
	KindScheduledChange = "scheduled-change"
	// KindStateChange is "EC2 Instance State-change Notification" to
	// stopping, stopped, shutting-down or terminated: gone now.
	KindStateChange = "state-change"
	// KindOther is any other event on the queue; it is ignored.
	KindOther = "other"
)

// SpotWarning is how long after its warning a spot instance is reclaimed
// ("two minutes", EC2 User Guide, "Spot Instance interruption notices").
const SpotWarning = 2 * time.Minute

// Notice is a parsed event. Instances is empty when the event asks for
// nothing (another kind, a state change to running, a Health event for
// another service).
type Notice struct {
	Kind       string
	Instances  []string
	Terminates time.Time
}

// ErrMalformed marks a message that is not an event of a kind it claims.
var ErrMalformed = errors.New("malformed event")

type event struct {
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Time       string          `json:"time"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

type ec2Detail struct {
	InstanceID     string `json:"instance-id"`
	InstanceAction string `json:"instance-action"`
	State          string `json:"state"`
}

type healthDetail struct {
	Service           string `json:"service"`
	EventTypeCategory string `json:"eventTypeCategory"`
	EventTypeCode     string `json:"eventTypeCode"`
	StartTime         string `json:"startTime"`
	AffectedEntities  []struct {
		EntityValue string `json:"entityValue"`
	} `json:"affectedEntities"`
}

// goneStates are the EC2 states after which the instance does not serve.
var goneStates = map[string]bool{"stopping": true, "stopped": true, "shutting-down": true, "terminated": true}

// ParseEvent reads one EventBridge event as the rules of docs/aws.md put it
// on the queue. Times come from the event, never from a clock: a spot
// warning terminates at its time + SpotWarning (the event's detail has the
// action, terminate|stop|hibernate, but no time; all three take the node
// away), a rebalance recommendation is treated the same way, a Health
// scheduled change at its startTime, a state change at its time.
func ParseEvent(body []byte) (Notice, error) {
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil {
		return Notice{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if ev.DetailType == "" {
		return Notice{}, fmt.Errorf("%w: no detail-type", ErrMalformed)
	}
	at, err := time.Parse(time.RFC3339, ev.Time)
	if err != nil {
		return Notice{}, fmt.Errorf("%w: %s: time %q: %v", ErrMalformed, ev.DetailType, ev.Time, err)
	}
	switch ev.DetailType {
	case "EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation":
		kind := KindSpotInterruption
		if strings.HasPrefix(ev.DetailType, "EC2 Instance Rebalance") {
			kind = KindRebalance
		}
		d, err := ec2DetailOf(ev)
		if err != nil {
			return Notice{}, err
		}
		return Notice{Kind: kind, Instances: []string{d.InstanceID}, Terminates: at.Add(SpotWarning)}, nil
	case "EC2 Instance State-change Notification":
		d, err := ec2DetailOf(ev)
		if err != nil {
			return Notice{}, err
		}
		if !goneStates[d.State] {
			return Notice{Kind: KindStateChange}, nil
		}
		return Notice{Kind: KindStateChange, Instances: []string{d.InstanceID}, Terminates: at}, nil
	case "AWS Health Event":
		var d healthDetail
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			return Notice{}, fmt.Errorf("%w: %s: detail: %v", ErrMalformed, ev.DetailType, err)
		}
		if d.Service != "EC2" || d.EventTypeCategory != "scheduledChange" {
			return Notice{Kind: KindOther}, nil
		}
		n := Notice{Kind: KindScheduledChange, Terminates: at}
		if d.StartTime != "" {
			if n.Terminates, err = parseHealthTime(d.StartTime); err != nil {
				return Notice{}, fmt.Errorf("%w: %s: startTime %q: %v", ErrMalformed, ev.DetailType, d.StartTime, err)
			}
		}
		for _, e := range d.AffectedEntities {
			if isInstanceID(e.EntityValue) {
				n.Instances = append(n.Instances, e.EntityValue)
			}
		}
		return n, nil
	}
	return Notice{Kind: KindOther}, nil
}

func ec2DetailOf(ev event) (ec2Detail, error) {
	var d ec2Detail
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		return d, fmt.Errorf("%w: %s: detail: %v", ErrMalformed, ev.DetailType, err)
	}
	if !isInstanceID(d.InstanceID) {
		return d, fmt.Errorf("%w: %s: instance-id %q", ErrMalformed, ev.DetailType, d.InstanceID)
	}
	return d, nil
}

func isInstanceID(s string) bool {
	if !strings.HasPrefix(s, "i-") || len(s) < 3 || len(s) > 32 {
		return false
	}
	for _, r := range s[2:] {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// parseHealthTime reads an AWS Health time: RFC 1123 in the events
// ("Sat, 05 Jun 2016 15:10:09 GMT"), RFC 3339 accepted too.
func parseHealthTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC1123, "Mon, 2 Jan 2006 15:04:05 MST", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("neither RFC 1123 nor RFC 3339")
}
