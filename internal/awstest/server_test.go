package awstest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/headroom-dev/headroom/internal/awstest"
)

func config(url string) aws.Config {
	return aws.Config{Region: awstest.Region, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} }}
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return fmt.Sprint(err)
}

// The SDK pages through DescribeAutoScalingGroups with NextToken.
func TestDescribePagesThroughTheSDKPaginator(t *testing.T) {
	srv, url := awstest.NewTest(t)
	for i := range 5 {
		srv.PutGroup(awstest.Group{Name: fmt.Sprintf("g%d", i), Max: 3, Desired: 1, Instances: []awstest.Instance{{}}})
	}
	c := autoscaling.NewFromConfig(config(url))
	p := autoscaling.NewDescribeAutoScalingGroupsPaginator(c, &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(2)})
	var names []string
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, g := range page.AutoScalingGroups {
			names = append(names, *g.AutoScalingGroupName)
			if len(g.Instances) != 1 || g.Instances[0].LifecycleState != "InService" || *g.MaxSize != 3 {
				t.Errorf("group %+v", g)
			}
		}
	}
	if pages != 3 || fmt.Sprint(names) != "[g0 g1 g2 g3 g4]" {
		t.Errorf("%d pages, %v", pages, names)
	}
}

// Each protocol's errors arrive as the SDK's API errors with their codes.
func TestErrorShapes(t *testing.T) {
	srv, url := awstest.NewTest(t)
	srv.PutGroup(awstest.Group{Name: "g", Min: 1, Max: 3, Desired: 1})
	srv.AddQueue("q", 0)
	ctx := context.Background()
	a := autoscaling.NewFromConfig(config(url))
	e := eks.NewFromConfig(config(url))
	q := sqs.NewFromConfig(config(url))

	_, err := a.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("g"), DesiredCapacity: aws.Int32(4)})
	if code(err) != "ValidationError" {
		t.Errorf("above max: %v", err)
	}
	srv.Fail("SetDesiredCapacity", awstest.Throttle)
	_, err = a.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("g"), DesiredCapacity: aws.Int32(2)})
	if code(err) != "Throttling" || !retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() {
		t.Errorf("throttle: %v", err)
	}
	_, err = e.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("c"), NodegroupName: aws.String("nope")})
	var nf *ekstypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("EKS not found: %v", err)
	}
	srv.Fail("UpdateNodegroupConfig", awstest.InUse)
	_, err = e.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{ClusterName: aws.String("c"), NodegroupName: aws.String("x")})
	var inUse *ekstypes.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Errorf("EKS in use: %v", err)
	}
	_, err = q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String("nope")})
	if c := code(err); c != "AWS.SimpleQueueService.NonExistentQueue" && c != "QueueDoesNotExist" {
		t.Errorf("SQS no queue: %v", err)
	}
	srv.Fail("DeleteMessage", awstest.Denied)
	_, err = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String("q"), ReceiptHandle: aws.String("x")})
	if c := code(err); c != "AccessDenied" {
		t.Errorf("SQS denied: %v (%s)", err, c)
	}
}

// SendMessage, a receive that passes the SDK's MD5 check, visibility, and
// Serve on a plain listener (the sandbox's way).
func TestSQSRoundTripOnServe(t *testing.T) {
	srv := awstest.New()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { ln.Close() })
	srv.AddQueue("q", 0)
	ctx := context.Background()
	q := sqs.NewFromConfig(config("http://" + ln.Addr().String()))
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String("q"), MessageBody: aws.String("héllo")}); err != nil {
		t.Fatal(err)
	}
	out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String("q"), MaxNumberOfMessages: 10})
	if err != nil || len(out.Messages) != 1 || *out.Messages[0].Body != "héllo" {
		t.Fatalf("receive: %v %+v", err, out)
	}
	// In flight: hidden from the next receive (no wait).
	if again, _ := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String("q")}); len(again.Messages) != 0 {
		t.Errorf("in-flight message received again")
	}
	if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String("q"), ReceiptHandle: out.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if len(srv.Messages("q")) != 0 || len(srv.Deleted("q")) != 1 {
		t.Errorf("after delete: %v", srv.Messages("q"))
	}
}

func TestSetInstanceState(t *testing.T) {
	s := awstest.New()
	s.PutGroup(awstest.Group{Name: "b", Desired: 1, Instances: []awstest.Instance{{ID: "i-1", State: awstest.Pending}, {ID: "i-2", State: awstest.Terminating}}})
	s.PutGroup(awstest.Group{Name: "a"})
	if !s.SetInstanceState("b", "i-1", awstest.InService) || !s.SetInstanceState("b", "i-2", "") {
		t.Fatal("instances not found")
	}
	if s.SetInstanceState("b", "i-9", awstest.InService) || s.SetInstanceState("x", "i-1", awstest.InService) {
		t.Fatal("found an instance that is not there")
	}
	gs := s.Groups()
	if len(gs) != 2 || gs[0].Name != "a" || gs[1].Name != "b" {
		t.Fatalf("groups %+v, want a then b", gs)
	}
	if in := gs[1].Instances; len(in) != 1 || in[0].ID != "i-1" || in[0].State != awstest.InService {
		t.Fatalf("instances %+v, want i-1 awstest.InService alone", in)
	}
}

// A reclaimed spot instance is Terminated and its group, below desired,
// launches one Pending replacement.
func TestReclaim(t *testing.T) {
	s := awstest.New()
	s.PutGroup(awstest.Group{Name: "spot", Min: 1, Max: 4, Desired: 2, AvailabilityZones: []string{"eu-central-1a"},
		Instances: []awstest.Instance{{ID: "i-1", State: awstest.InService}, {ID: "i-2", State: awstest.InService}}})
	if !s.Reclaim("spot", "i-2") {
		t.Fatal("i-2 not found")
	}
	if s.Reclaim("spot", "i-9") || s.Reclaim("x", "i-1") {
		t.Fatal("reclaimed an instance that is not there")
	}
	g, _ := s.Group("spot")
	states := map[string]int{}
	for _, in := range g.Instances {
		states[in.State]++
	}
	if g.Desired != 2 || len(g.Instances) != 3 || states[awstest.InService] != 1 || states[awstest.Terminated] != 1 || states[awstest.Pending] != 1 {
		t.Fatalf("group after reclaim: desired %d, instances %+v; want i-1 InService, i-2 Terminated, one Pending", g.Desired, g.Instances)
	}
}

// FailAlways answers every request until ClearFaults; the SDK, retrying,
// still gets the throttle.
func TestFailAlways(t *testing.T) {
	srv, url := awstest.NewTest(t)
	srv.PutGroup(awstest.Group{Name: "g", Min: 1, Max: 3, Desired: 1})
	a := autoscaling.NewFromConfig(config(url))
	set := func() error {
		_, err := a.SetDesiredCapacity(context.Background(), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("g"), DesiredCapacity: aws.Int32(2)})
		return err
	}
	srv.FailAlways(awstest.Throttle, "SetDesiredCapacity")
	for range 2 {
		if err := set(); code(err) != "Throttling" {
			t.Fatalf("throttled: %v", err)
		}
	}
	srv.ClearFaults("SetDesiredCapacity")
	if err := set(); err != nil {
		t.Fatal(err)
	}
	if g, _ := srv.Group("g"); g.Desired != 2 {
		t.Errorf("desired %d, want 2", g.Desired)
	}
}
