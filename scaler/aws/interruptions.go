package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/headroom-dev/headroom/scaler"
)

// Results of handling one queue message (the result label).
const (
	ResultHandled   = "handled"   // a notice for one of our nodes; deleted
	ResultNotOurs   = "not-ours"  // no instance is a node of ours; deleted
	ResultIgnored   = "ignored"   // an event that asks for nothing; deleted
	ResultMalformed = "malformed" // does not parse; deleted
	ResultRetry     = "retry"     // handling failed; kept for redelivery
)

// maxNoticesPerNode bounds the termination times kept per node.
const maxNoticesPerNode = 8

type metrics struct {
	messages      *prometheus.CounterVec
	receiveErrors prometheus.Counter
}

func newMetrics() metrics {
	return metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "headroom", Subsystem: "aws", Name: "interruption_messages_total",
			Help: "Interruption queue messages handled, by event kind and result (handled, not-ours, ignored, malformed, retry)."}, []string{"kind", "result"}),
		receiveErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "headroom", Subsystem: "aws", Name: "interruption_receive_errors_total",
			Help: "Failed ReceiveMessage and DeleteMessage calls on the interruption queue."}),
	}
}

func (m metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{m.messages, m.receiveErrors} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering aws metrics: %w", err)
		}
	}
	return nil
}

// Start logs the bounds findings of a first NodeGroups read (its error is
// logged, not returned) and, with an interruption queue, checks the queue
// (GetQueueAttributes: a wrong URL or missing permission fails here, not
// silently later) and starts the poll loop, which runs until ctx ends;
// Wait waits for it.
func (c *Cloud) Start(ctx context.Context) error {
	if _, err := c.NodeGroups(ctx); err != nil {
		c.log.Warn("first nodegroup read failed; the bounds check runs at the next read", zap.Error(err))
	}
	c.done = make(chan struct{})
	if c.opts.InterruptionQueue == "" {
		close(c.done)
		c.log.Info("no interruption queue: spot notices are not read")
		return nil
	}
	out, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &c.opts.InterruptionQueue,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		close(c.done)
		return fmt.Errorf("interruption queue %s: %w", c.opts.InterruptionQueue, classify("sqs:GetQueueAttributes", err))
	}
	c.log.Info("reading interruption notices", zap.String("queue", out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]), zap.Bool("dryRun", c.opts.DryRun))
	go c.loop(ctx)
	return nil
}

// Wait returns once the poll loop started by Start has ended.
func (c *Cloud) Wait() {
	if c.done != nil {
		<-c.done
	}
}

// loop polls until ctx ends; a failed receive waits 1s, doubling to 1m.
func (c *Cloud) loop(ctx context.Context) {
	defer close(c.done)
	var backoff time.Duration
	for ctx.Err() == nil {
		if _, err := c.PollOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, time.Second), time.Minute)
			c.log.Error("receiving interruption notices", zap.Error(err), zap.Duration("retryIn", backoff))
			select {
			case <-ctx.Done():
				return
			case <-c.opts.Clock.After(backoff):
			}
			continue
		}
		backoff = 0
	}
}

// Polled is what one PollOnce did: messages received, and how many of
// them had each result.
type Polled struct {
	Received int
	Results  map[string]int
}

// PollOnce receives up to 10 messages (one long poll of PollWait) and
// handles each: the poll loop's body, exported for tests and for a caller
// that drives its own loop.
func (c *Cloud) PollOnce(ctx context.Context) (Polled, error) {
	if c.opts.InterruptionQueue == "" {
		return Polled{}, errNoQueue
	}
	out, err := c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &c.opts.InterruptionQueue,
		MaxNumberOfMessages: 10, WaitTimeSeconds: int32(c.opts.PollWait / time.Second), VisibilityTimeout: int32(c.opts.VisibilityTimeout / time.Second)})
	if err != nil {
		if ctx.Err() == nil { // a poll cut short by shutdown is no failure
			c.m.receiveErrors.Inc()
		}
		return Polled{}, classify("sqs:ReceiveMessage", err)
	}
	p := Polled{Received: len(out.Messages), Results: map[string]int{}}
	for _, msg := range out.Messages {
		p.Results[c.handle(ctx, msg)]++
	}
	return p, nil
}

// handle acts on one message and deletes it unless its handling failed.
func (c *Cloud) handle(ctx context.Context, msg sqstypes.Message) string {
	log := c.log.With(zap.String("messageId", deref(msg.MessageId)))
	n, err := ParseEvent([]byte(deref(msg.Body)))
	result := ResultHandled
	switch {
	case err != nil:
		n.Kind, result = KindOther, ResultMalformed
		log.Warn("dropping an interruption queue message that does not parse", zap.Error(err))
	case len(n.Instances) == 0 || (n.Kind == KindRebalance && c.opts.IgnoreRebalance):
		result = ResultIgnored
	case !c.lookupSynced():
		result = ResultRetry
		log.Info("node cache not synced: notice kept for redelivery", zap.String("kind", n.Kind), zap.Strings("instances", n.Instances))
	default:
		result = c.record(n, log)
	}
	c.m.messages.WithLabelValues(n.Kind, result).Inc()
	if result == ResultRetry || c.opts.DryRun {
		return result
	}
	if _, err := c.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &c.opts.InterruptionQueue, ReceiptHandle: msg.ReceiptHandle}); err != nil {
		// It comes back after its visibility timeout; handling it again is harmless.
		c.m.receiveErrors.Inc()
		log.Warn("deleting an interruption queue message", zap.Error(classify("sqs:DeleteMessage", err)))
	}
	return result
}

func (c *Cloud) lookupSynced() bool {
	s, ok := c.lookup.(interface{ HasSynced() bool })
	return !ok || s.HasSynced()
}

// record keeps the notice for every instance that is a node of ours.
func (c *Cloud) record(n Notice, log *zap.Logger) string {
	result := ResultNotOurs
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range n.Instances {
		node, ok := c.lookup.NodeOf(id)
		if !ok {
			log.Info("notice for an instance that is no node of ours", zap.String("kind", n.Kind), zap.String("instance", id))
			continue
		}
		result = ResultHandled
		ts := c.notices[node]
		if !slices.ContainsFunc(ts, n.Terminates.Equal) {
			ts = append(ts, n.Terminates)
			slices.SortFunc(ts, time.Time.Compare)
			c.notices[node] = ts[:min(len(ts), maxNoticesPerNode)]
		}
		log.Info("interruption notice", zap.String("kind", n.Kind), zap.String("node", node), zap.String("instance", id), zap.Time("terminates", n.Terminates))
	}
	return result
}

// Interruptions implements scaler.Cloud: per node, the earliest pending
// termination not more than NoticeGrace in the past at now. A node with a
// rebalance notice (now + 2m) and a later scheduled change reports the
// rebalance until it is NoticeGrace past, then the scheduled change.
// It never fails: a broken queue shows in the logs and
// interruption_receive_errors_total, not as a failed tick.
func (c *Cloud) Interruptions(_ context.Context, now time.Time) ([]scaler.Interruption, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []scaler.Interruption
	for node, ts := range c.notices {
		ts = slices.DeleteFunc(ts, func(t time.Time) bool { return now.After(t.Add(c.opts.NoticeGrace)) })
		if len(ts) == 0 {
			delete(c.notices, node)
			continue
		}
		c.notices[node] = ts
		out = append(out, scaler.Interruption{Node: node, Terminates: ts[0]})
	}
	slices.SortFunc(out, func(a, b scaler.Interruption) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}

// errNoQueue is returned by PollOnce without a queue.
var errNoQueue = errors.New("no interruption queue configured")
