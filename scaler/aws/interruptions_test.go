package aws

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/internal/awstest"
	"github.com/headroom-dev/headroom/scaler"
)

func spotEvent(instance, at string) string {
	return fmt.Sprintf(`{"version":"0","id":"1e5527d7-bb36-4607-3370-4164db56a40e","detail-type":"EC2 Spot Instance Interruption Warning",
"source":"aws.ec2","account":"123456789012","time":%q,"region":"eu-central-1",
"resources":["arn:aws:ec2:eu-central-1a:instance/%s"],"detail":{"instance-id":%q,"instance-action":"terminate"}}`, at, instance, instance)
}

func rebalanceEvent(instance, at string) string {
	return fmt.Sprintf(`{"version":"0","id":"5f3a","detail-type":"EC2 Instance Rebalance Recommendation","source":"aws.ec2",
"account":"123456789012","time":%q,"region":"eu-central-1","resources":["arn:aws:ec2:eu-central-1a:instance/%s"],
"detail":{"instance-id":%q}}`, at, instance, instance)
}

func stateEvent(instance, state, at string) string {
	return fmt.Sprintf(`{"version":"0","id":"7bf73129","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2",
"account":"123456789012","time":%q,"region":"eu-central-1","resources":["arn:aws:ec2:eu-central-1:123456789012:instance/%s"],
"detail":{"instance-id":%q,"state":%q}}`, at, instance, instance, state)
}

func healthEvent(start string, instances ...string) string {
	ents := ""
	for i, id := range instances {
		if i > 0 {
			ents += ","
		}
		ents += fmt.Sprintf(`{"entityValue":%q}`, id)
	}
	return fmt.Sprintf(`{"version":"0","id":"7fb65329","detail-type":"AWS Health Event","source":"aws.health","account":"123456789012",
"time":"2026-03-01T06:27:57Z","region":"eu-central-1","resources":[],"detail":{"eventArn":"arn:aws:health:eu-central-1::event/id",
"service":"EC2","eventTypeCode":"AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED","eventTypeCategory":"scheduledChange",
"startTime":%q,"eventDescription":[{"language":"en_US","latestDescription":"retirement"}],"affectedEntities":[%s]}}`, start, ents)
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestInterruptionKinds(t *testing.T) {
	cases := []struct {
		name, body, kind string
		want             []scaler.Interruption
	}{
		{"spot warning", spotEvent("i-00000000000000a1", "2026-03-02T09:00:00Z"), KindSpotInterruption,
			[]scaler.Interruption{{Node: "node-a", Terminates: mustTime("2026-03-02T09:02:00Z")}}},
		{"rebalance", rebalanceEvent("i-00000000000000a2", "2026-03-02T09:00:30Z"), KindRebalance,
			[]scaler.Interruption{{Node: "node-b", Terminates: mustTime("2026-03-02T09:02:30Z")}}},
		{"health scheduled change", healthEvent("Mon, 02 Mar 2026 09:30:00 GMT", "i-00000000000000a1", "i-00000000000000c1"), KindScheduledChange,
			[]scaler.Interruption{{Node: "node-a", Terminates: mustTime("2026-03-02T09:30:00Z")}, {Node: "node-c", Terminates: mustTime("2026-03-02T09:30:00Z")}}},
		{"state change stopping", stateEvent("i-00000000000000c1", "stopping", "2026-03-02T09:01:00Z"), KindStateChange,
			[]scaler.Interruption{{Node: "node-c", Terminates: mustTime("2026-03-02T09:01:00Z")}}},
		{"state change running", stateEvent("i-00000000000000c1", "running", "2026-03-02T09:01:00Z"), KindStateChange, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			id := e.srv.Send(testQueue, c.body)
			p, err := e.cloud.PollOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			result := ResultHandled
			if c.want == nil {
				result = ResultIgnored
			}
			if p.Received != 1 || p.Results[result] != 1 || e.messages(c.kind, result) != 1 {
				t.Errorf("polled %+v, counter %s/%s = %v", p, c.kind, result, e.messages(c.kind, result))
			}
			got, _ := e.cloud.Interruptions(ctx, mustTime("2026-03-02T09:00:00Z"))
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("Interruptions = %v, want %v", got, c.want)
			}
			if d := e.srv.Deleted(testQueue); !slices.Equal(d, []string{id}) {
				t.Errorf("deleted %v, want the message %s", d, id)
			}
			// The request bodies: a long poll with our visibility timeout,
			// and the delete with the receipt handle received.
			rcv := e.srv.Requests("ReceiveMessage")[0]
			if rcv.Header.Get("X-Amz-Target") != "AmazonSQS.ReceiveMessage" || rcv.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
				t.Errorf("ReceiveMessage headers %v", rcv.Header)
			}
			if b := fmt.Sprint(rcv.JSON()); b != fmt.Sprintf("map[MaxNumberOfMessages:10 QueueUrl:%s VisibilityTimeout:60 WaitTimeSeconds:20]", testQueue) {
				t.Errorf("ReceiveMessage body %s", b)
			}
			del := e.srv.Requests("DeleteMessage")[0].JSON()
			if del["QueueUrl"] != testQueue || del["ReceiptHandle"] != "rh-"+id+"-1" {
				t.Errorf("DeleteMessage body %v", del)
			}
		})
	}
}

func TestRebalanceCanBeIgnored(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.IgnoreRebalance = true })
	e.srv.Send(testQueue, rebalanceEvent("i-00000000000000a2", "2026-03-02T09:00:30Z"))
	if _, err := e.cloud.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.cloud.Interruptions(ctx, e.clock.Now()); len(got) != 0 || e.messages(KindRebalance, ResultIgnored) != 1 || len(e.srv.Deleted(testQueue)) != 1 {
		t.Errorf("ignored rebalance: interruptions %v", got)
	}
}

func TestMalformedMessageDroppedAndCounted(t *testing.T) {
	e := newEnv(t, nil)
	for _, body := range []string{"not json", `{"detail-type":"EC2 Spot Instance Interruption Warning","time":"2026-03-02T09:00:00Z","detail":{"instance-id":"vol-1"}}`,
		`{"detail-type":"EC2 Spot Instance Interruption Warning","time":"yesterday","detail":{"instance-id":"i-1"}}`} {
		e.srv.Send(testQueue, body)
	}
	p, err := e.cloud.PollOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Results[ResultMalformed] != 3 || e.messages(KindOther, ResultMalformed) != 3 {
		t.Errorf("polled %+v", p)
	}
	if len(e.srv.Deleted(testQueue)) != 3 || len(e.srv.Messages(testQueue)) != 0 {
		t.Errorf("malformed messages not deleted: %d left", len(e.srv.Messages(testQueue)))
	}
}

func TestNoticeForAnotherInstanceDeletedAndCounted(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Send(testQueue, spotEvent("i-0000000000000bad", "2026-03-02T09:00:00Z"))
	if _, err := e.cloud.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := e.cloud.Interruptions(ctx, e.clock.Now())
	if len(got) != 0 || e.messages(KindSpotInterruption, ResultNotOurs) != 1 || len(e.srv.Deleted(testQueue)) != 1 {
		t.Errorf("not ours: interruptions %v, counter %v, deleted %v", got, e.messages(KindSpotInterruption, ResultNotOurs), e.srv.Deleted(testQueue))
	}
}

func TestDuplicateNoticesAreHarmless(t *testing.T) {
	e := newEnv(t, nil)
	body := spotEvent("i-00000000000000a1", "2026-03-02T09:00:00Z")
	e.srv.Send(testQueue, body)
	e.srv.Send(testQueue, body)
	if _, err := e.cloud.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := e.cloud.Interruptions(ctx, e.clock.Now())
	if want := "[{node-a 2026-03-02 09:02:00 +0000 UTC}]"; fmt.Sprint(got) != want {
		t.Errorf("Interruptions = %v, want %s", got, want)
	}
	if len(e.srv.Deleted(testQueue)) != 2 {
		t.Errorf("both copies should be deleted: %v", e.srv.Deleted(testQueue))
	}
}

func TestFailedHandlingKeepsTheMessage(t *testing.T) {
	e := newEnv(t, nil)
	e.lookup.setSynced(false)
	id := e.srv.Send(testQueue, spotEvent("i-00000000000000a1", "2026-03-02T09:00:00Z"))
	if _, err := e.cloud.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if len(e.srv.Deleted(testQueue)) != 0 || len(e.srv.Messages(testQueue)) != 1 || e.messages(KindSpotInterruption, ResultRetry) != 1 {
		t.Fatalf("a notice handled before the cache synced was not kept: deleted %v", e.srv.Deleted(testQueue))
	}
	// Redelivered after its visibility timeout, it is handled and deleted.
	e.lookup.setSynced(true)
	e.srv.MakeVisible(testQueue)
	if _, err := e.cloud.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if d := e.srv.Deleted(testQueue); !slices.Equal(d, []string{id}) {
		t.Errorf("deleted %v after redelivery", d)
	}
	if got, _ := e.cloud.Interruptions(ctx, e.clock.Now()); len(got) != 1 {
		t.Errorf("Interruptions = %v", got)
	}
}

func TestNoticesExpireAfterGrace(t *testing.T) {
	e := newEnv(t, nil)
	// A rebalance at 09:00 (terminates 09:02) and a retirement at 10:00.
	e.srv.Send(testQueue, rebalanceEvent("i-00000000000000a1", "2026-03-02T09:00:00Z"))
	e.srv.Send(testQueue, healthEvent("2026-03-02T10:00:00Z", "i-00000000000000a1"))
	if _, err := e.cloud.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	grace := e.cloud.opts.NoticeGrace
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{mustTime("2026-03-02T09:01:00Z"), "[{node-a 2026-03-02 09:02:00 +0000 UTC}]"},
		{mustTime("2026-03-02T09:02:00Z").Add(grace), "[{node-a 2026-03-02 09:02:00 +0000 UTC}]"},
		{mustTime("2026-03-02T09:02:01Z").Add(grace), "[{node-a 2026-03-02 10:00:00 +0000 UTC}]"},
		{mustTime("2026-03-02T10:00:01Z").Add(grace), "[]"},
	} {
		got, _ := e.cloud.Interruptions(ctx, c.at)
		if fmt.Sprint(got) != c.want {
			t.Errorf("at %v: %v, want %s", c.at, got, c.want)
		}
	}
}

func TestStartPollsUntilCancelled(t *testing.T) {
	e := newEnv(t, nil)
	deleted := make(chan struct{}, 10)
	e.srv.OnRequest(func(r awstest.Request) {
		if r.Action == "DeleteMessage" {
			deleted <- struct{}{}
		}
	})
	e.srv.Send(testQueue, spotEvent("i-00000000000000c1", "2026-03-02T09:00:00Z"))
	cctx, cancel := context.WithCancel(ctx)
	if err := e.cloud.Start(cctx); err != nil {
		t.Fatal(err)
	}
	<-deleted
	if got, _ := e.cloud.Interruptions(ctx, e.clock.Now()); len(got) != 1 || got[0].Node != "node-c" {
		t.Errorf("Interruptions = %v", got)
	}
	// The loop is in its next long poll now; cancelling ends it.
	cancel()
	e.cloud.Wait()
	if n := len(e.srv.Requests("GetQueueAttributes")); n != 1 {
		t.Errorf("%d GetQueueAttributes calls at start, want 1", n)
	}
}

func TestStartFailsOnAMissingQueue(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.InterruptionQueue = "https://sqs.eu-central-1.amazonaws.com/123456789012/nope" })
	if err := e.cloud.Start(ctx); !scaler.IsNotFound(err) {
		t.Errorf("Start on a missing queue: %v, want ErrNotFound", err)
	}
}
