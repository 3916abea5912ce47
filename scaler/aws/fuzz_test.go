package aws

import (
	"strings"
	"testing"
)

// ParseEvent never panics; what it accepts names instance ids only and a
// termination time, and an error is always ErrMalformed.
func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{
		spotEvent("i-0123456789abcdef0", "2026-03-02T09:00:00Z"),
		rebalanceEvent("i-0123456789abcdef0", "2026-03-02T09:00:00Z"),
		stateEvent("i-0123456789abcdef0", "terminated", "2026-03-02T09:00:00Z"),
		healthEvent("Mon, 02 Mar 2026 09:30:00 GMT", "i-0123456789abcdef0", "vol-1"),
		`{}`, `null`, `[]`, `{"detail-type":"AWS Health Event","time":"2026-03-02T09:00:00Z","detail":{"service":"EC2","eventTypeCategory":"scheduledChange","startTime":"x"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseEvent(body)
		if err != nil {
			if !strings.HasPrefix(err.Error(), ErrMalformed.Error()) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		for _, id := range n.Instances {
			if !isInstanceID(id) {
				t.Fatalf("accepted instance id %q", id)
			}
		}
		if len(n.Instances) > 0 && n.Terminates.IsZero() {
			t.Fatalf("notice without a termination time: %+v", n)
		}
	})
}
