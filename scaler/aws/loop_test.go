package aws

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/headroom-dev/headroom/scaler"
)

// failingSQS fails its first n receives, then blocks until the context ends
// (an empty long poll), recording when each receive began.
type failingSQS struct {
	mu    sync.Mutex
	n     int
	calls []time.Time
	// polling is closed when the first receive that does not fail begins.
	polling chan struct{}
}

func (f *failingSQS) ReceiveMessage(ctx context.Context, _ *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.mu.Lock()
	f.calls = append(f.calls, time.Now())
	fail := len(f.calls) <= f.n
	f.mu.Unlock()
	if fail {
		return nil, errors.New("connection refused")
	}
	close(f.polling)
	<-ctx.Done()
	return nil, ctx.Err()
}

func (f *failingSQS) DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	return &sqs.DeleteMessageOutput{}, nil
}

func (f *failingSQS) GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	return &sqs.GetQueueAttributesOutput{}, nil
}

// The poll loop backs off 1s, 2s, 4s after failed receives, on the
// injected clock, and ends when its context does. No network: synctest.
func TestPollLoopBacksOffAndStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &failingSQS{n: 3, polling: make(chan struct{})}
		opts := Options{Region: "eu-central-1", InterruptionQueue: testQueue}
		opts.setDefaults()
		opts.Clock = scaler.RealClock()
		c := newCloud(opts, newLookup(nil), nil, nil, nil, nil, q)
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		c.done = make(chan struct{})
		go c.loop(ctx)
		<-q.polling // the bubble's clock jumps through the backoffs meanwhile
		cancel()
		c.Wait()
		var gaps []time.Duration
		prev := start
		for _, at := range q.calls {
			gaps = append(gaps, at.Sub(prev))
			prev = at
		}
		if want := []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second}; len(gaps) != len(want) || gaps[1] != want[1] || gaps[2] != want[2] || gaps[3] != want[3] {
			t.Errorf("receives at gaps %v, want %v", gaps, want)
		}
		if got := testutil.ToFloat64(c.m.receiveErrors); got != 3 {
			t.Errorf("receive errors counted %v, want 3", got)
		}
	})
}
