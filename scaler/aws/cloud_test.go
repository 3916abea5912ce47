package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/headroom-dev/headroom/internal/awstest"
	"github.com/headroom-dev/headroom/scaler"
)

var ctx = context.Background()

func groupsByName(t *testing.T, c *Cloud) map[string]scaler.NodeGroupState {
	t.Helper()
	gs, err := c.NodeGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]scaler.NodeGroupState{}
	for _, g := range gs {
		out[g.Name] = g
	}
	return out
}

func TestNodeGroupsReportsManagedAndSelfManaged(t *testing.T) {
	e := newEnv(t, nil)
	got := groupsByName(t, e.cloud)
	want := map[string]scaler.NodeGroupState{
		"gpu-od": {Name: "gpu-od", Desired: 2, Current: 2, Min: 1, Max: 12},
		"cpu":    {Name: "cpu", Desired: 1, Current: 1, Min: 0, Max: 10},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("NodeGroups = %v, want %v", got, want)
	}
	// The SDK signed with the configured credentials and region.
	for _, r := range e.srv.Requests() {
		if a := r.Header.Get("Authorization"); !strings.Contains(a, "Credential=AKIDHEADROOMTEST/") || !strings.Contains(a, "/eu-central-1/") {
			t.Errorf("%s: Authorization %q", r.Action, a)
		}
	}
}

func TestSetDesiredSizeScalesBothKinds(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.cloud.SetDesiredSize(ctx, "gpu-od", 4); err != nil {
		t.Fatal(err)
	}
	if err := e.cloud.SetDesiredSize(ctx, "cpu", 3); err != nil {
		t.Fatal(err)
	}
	got := groupsByName(t, e.cloud)
	if g := got["gpu-od"]; g.Desired != 4 || g.Current != 4 {
		t.Errorf("gpu-od after scale-up = %+v, want desired 4, current 4 (2 pending)", g)
	}
	if g := got["cpu"]; g.Desired != 3 || g.Current != 3 {
		t.Errorf("cpu after scale-up = %+v, want desired 3, current 3", g)
	}

	// The bodies the SDK sent: the fields AWS reads.
	up := e.srv.Requests("UpdateNodegroupConfig")
	if len(up) != 1 || up[0].Method != "POST" || up[0].Path != "/clusters/prod/node-groups/gpu-od-ng/update-config" {
		t.Fatalf("UpdateNodegroupConfig requests = %+v", up)
	}
	body := up[0].JSON()
	if sc := fmt.Sprint(body["scalingConfig"]); sc != "map[desiredSize:4 maxSize:12 minSize:1]" {
		t.Errorf("scalingConfig = %s, want desired 4 with the group's min 1 and max 12", sc)
	}
	if tok, _ := body["clientRequestToken"].(string); tok == "" {
		t.Errorf("no clientRequestToken (idempotency) in %v", body)
	}
	// A managed nodegroup is read right before its update.
	if seq := actions(e.srv.Requests("DescribeNodegroup", "UpdateNodegroupConfig")); !strings.HasPrefix(seq, "DescribeNodegroup UpdateNodegroupConfig ") {
		t.Errorf("EKS calls = %s, want a describe right before the update", seq)
	}
	set := e.srv.Requests("SetDesiredCapacity")
	if len(set) != 1 {
		t.Fatalf("SetDesiredCapacity requests = %d", len(set))
	}
	f := set[0].Form
	for k, v := range map[string]string{"Action": "SetDesiredCapacity", "Version": "2011-01-01", "AutoScalingGroupName": "cpu-asg", "DesiredCapacity": "3", "HonorCooldown": "false"} {
		if f.Get(k) != v {
			t.Errorf("SetDesiredCapacity %s = %q, want %q (body %s)", k, f.Get(k), v, set[0].Body)
		}
	}
	if ct := set[0].Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		t.Errorf("Content-Type %q", ct)
	}

	// Scale down: the group marks the newest instance terminating.
	e.clock.advance(e.cloud.opts.WriteInterval)
	if err := e.cloud.SetDesiredSize(ctx, "cpu", 1); err != nil {
		t.Fatal(err)
	}
	e.srv.Settle()
	if g := groupsByName(t, e.cloud)["cpu"]; g.Desired != 1 || g.Current != 1 {
		t.Errorf("cpu after scale-down = %+v", g)
	}
}

func actions(rs []awstest.Request) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Action)
	}
	return strings.Join(s, " ")
}

func TestSetDesiredSizeErrors(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.cloud.SetDesiredSize(ctx, "nope", 1); !scaler.IsNotFound(err) {
		t.Errorf("unknown nodegroup: %v, want ErrNotFound", err)
	}
	// Above the EKS nodegroup's max: an error before any write, not clipped.
	err := e.cloud.SetDesiredSize(ctx, "gpu-od", 13)
	if err == nil || !strings.Contains(err.Error(), "outside the EKS nodegroup's bounds [1,12]") {
		t.Errorf("above max: %v", err)
	}
	if n := len(e.srv.Requests("UpdateNodegroupConfig")); n != 0 {
		t.Errorf("%d UpdateNodegroupConfig calls for a size above max", n)
	}
	// Above the ASG's max: AWS's own ValidationError comes back, not a sentinel.
	err = e.cloud.SetDesiredSize(ctx, "cpu", 11)
	if err == nil || !strings.Contains(err.Error(), "above max value 10") || scaler.IsThrottled(err) || scaler.IsNotFound(err) {
		t.Errorf("ASG above max: %v", err)
	}
}

func TestNodeGroupsDescribesAllGroupsInOneCall(t *testing.T) {
	for _, n := range []int{50, 150} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			srv, url := awstest.NewTest(t)
			var groups []NodeGroup
			for i := range n {
				name := fmt.Sprintf("asg-%03d", i)
				srv.PutGroup(awstest.Group{Name: name, Max: 5, Desired: 1, Instances: []awstest.Instance{{}}})
				groups = append(groups, NodeGroup{Name: name, Kind: "asg"})
			}
			for i := range 3 {
				name := fmt.Sprintf("ng-%d", i)
				srv.PutGroup(awstest.Group{Name: "eks-" + name, Min: 1, Max: 5, Desired: 1, Instances: []awstest.Instance{{}}})
				srv.PutNodegroup(awstest.Nodegroup{Cluster: testCluster, Name: name, Group: "eks-" + name})
				groups = append(groups, NodeGroup{Name: name, Kind: "eks-managed"})
			}
			c := newTestCloud(t, url, groups)
			gs, err := c.NodeGroups(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(gs) != n+3 {
				t.Fatalf("%d groups reported, want %d", len(gs), n+3)
			}
			for _, g := range gs {
				if g.Desired != 1 || g.Current != 1 {
					t.Errorf("%+v", g)
				}
			}
			// Operations, not attempts: a transport hiccup the retryer
			// absorbs is not a second call.
			desc := firstAttempts(srv.Requests("DescribeAutoScalingGroups"))
			wantCalls := (n + 3 + 99) / 100
			if len(desc) != wantCalls {
				t.Fatalf("%d DescribeAutoScalingGroups calls for %d groups, want %d", len(desc), n+3, wantCalls)
			}
			names := 0
			for _, d := range desc {
				names += len(membersOf(d, "AutoScalingGroupNames"))
				if d.Form.Get("MaxRecords") != "100" {
					t.Errorf("MaxRecords = %q", d.Form.Get("MaxRecords"))
				}
			}
			if names != n+3 {
				t.Errorf("%d names sent, want %d", names, n+3)
			}
			if got := len(firstAttempts(srv.Requests("DescribeNodegroup"))); got != 3 {
				t.Errorf("%d DescribeNodegroup calls, want 3", got)
			}
		})
	}
}

// firstAttempts keeps the first attempt of each operation (the SDK's
// amz-sdk-request header counts attempts).
func firstAttempts(rs []awstest.Request) []awstest.Request {
	return slices.DeleteFunc(rs, func(r awstest.Request) bool {
		return !strings.HasPrefix(r.Header.Get("Amz-Sdk-Request"), "attempt=1;")
	})
}

func membersOf(r awstest.Request, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v := r.Form.Get(fmt.Sprintf("%s.member.%d", name, i))
		if v == "" {
			return out
		}
		out = append(out, v)
	}
}

// newTestCloud is a Cloud without a queue or lookup over url.
func newTestCloud(t testing.TB, url string, groups []NodeGroup) *Cloud {
	t.Helper()
	c, err := New(ctx, Options{Region: "eu-central-1", EKSCluster: testCluster, NodeGroups: groups, Endpoints: AllEndpoints(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDHEADROOMTEST", "secret", ""), MaxBackoff: time.Millisecond}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNodeGroupsLeavesOutMissingGroupsAndReportsThem(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.NodeGroups = append(o.NodeGroups, NodeGroup{Name: "gone-ng", Kind: "eks-managed"}, NodeGroup{Name: "gone-asg", Kind: "asg"})
	})
	got := groupsByName(t, e.cloud)
	if _, ok := got["gone-ng"]; ok || len(got) != 2 {
		t.Errorf("NodeGroups = %v, want the two known groups only", got)
	}
	groupsByName(t, e.cloud)
	if n := logged(e.logs, "policy and AWS disagree"); n != 2 {
		t.Errorf("%d bounds lines for two missing groups over two reads, want 2 (once each)", n)
	}
}

func TestRemoveNodeTerminatesWithDecrement(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.cloud.RemoveNode(ctx, "gpu-od", "node-b"); err != nil {
		t.Fatal(err)
	}
	term := e.srv.Requests("TerminateInstanceInAutoScalingGroup")
	if len(term) != 1 {
		t.Fatalf("%d terminate calls", len(term))
	}
	if f := term[0].Form; f.Get("InstanceId") != "i-00000000000000a2" || f.Get("ShouldDecrementDesiredCapacity") != "true" {
		t.Errorf("terminate body %s", term[0].Body)
	}
	g, _ := e.srv.Group("eks-gpu-od")
	if g.Desired != 1 || g.Instances[1].State != awstest.Terminating {
		t.Errorf("group after RemoveNode: desired %d, instances %+v", g.Desired, g.Instances)
	}
	if st := groupsByName(t, e.cloud)["gpu-od"]; st.Desired != 1 || st.Current != 1 {
		t.Errorf("NodeGroups after RemoveNode: %+v", st)
	}

	// Self-managed too.
	if err := e.cloud.RemoveNode(ctx, "cpu", "node-c"); err != nil {
		t.Fatal(err)
	}
	if g, _ := e.srv.Group("cpu-asg"); g.Desired != 0 {
		t.Errorf("cpu-asg desired %d after removing its only node", g.Desired)
	}
}

func TestRemoveNodeAlreadyGoneIsNotAnError(t *testing.T) {
	e := newEnv(t, nil)
	g, _ := e.srv.Group("eks-gpu-od")
	g.Instances[0].State = "Terminating:Wait"
	e.srv.PutGroup(g)
	e.lookup.byNode["node-x"] = "i-0000000000000fff" // in no group

	for _, node := range []string{"node-a", "node-x"} {
		if err := e.cloud.RemoveNode(ctx, "gpu-od", node); err != nil {
			t.Errorf("RemoveNode(%s): %v, want nil", node, err)
		}
	}
	if n := len(e.srv.Requests("TerminateInstanceInAutoScalingGroup")); n != 0 {
		t.Errorf("%d terminate calls for instances already leaving", n)
	}
	// Gone between the describe and the terminate: AWS's ValidationError
	// "Instance Id not found" is taken as done.
	e.srv.Fail("TerminateInstanceInAutoScalingGroup", awstest.Fault{Code: "ValidationError",
		Message: "Instance Id not found - No managed instance found for instance ID: i-00000000000000a2"})
	if err := e.cloud.RemoveNode(ctx, "gpu-od", "node-b"); err != nil {
		t.Errorf("raced removal: %v", err)
	}
	if err := e.cloud.RemoveNode(ctx, "gpu-od", "node-unknown"); !scaler.IsNotFound(err) {
		t.Errorf("node without an instance: %v, want ErrNotFound", err)
	}
}

func TestThrottlingIsRetriedThenReported(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxAttempts = 3 })
	e.srv.Fail("DescribeAutoScalingGroups", awstest.Throttle, awstest.Throttle)
	if _, err := e.cloud.NodeGroups(ctx); err != nil {
		t.Fatalf("two throttles then success with 3 attempts: %v", err)
	}
	if n := len(e.srv.Requests("DescribeAutoScalingGroups")); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	for _, action := range []string{"DescribeNodegroup", "DescribeAutoScalingGroups"} {
		e.srv.Fail(action, awstest.Throttle, awstest.Throttle, awstest.Throttle)
		_, err := e.cloud.NodeGroups(ctx)
		if !scaler.IsThrottled(err) {
			t.Errorf("%s throttled past the attempts: %v, want ErrThrottled", action, err)
		}
	}
}

func TestServerErrors(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxAttempts = 2 })
	e.srv.Fail("UpdateNodegroupConfig", awstest.Internal)
	if err := e.cloud.SetDesiredSize(ctx, "gpu-od", 3); err != nil {
		t.Fatalf("one 500 then success: %v", err)
	}
	e.clock.advance(e.cloud.opts.WriteInterval)
	e.srv.Fail("UpdateNodegroupConfig", awstest.Internal, awstest.Internal)
	err := e.cloud.SetDesiredSize(ctx, "gpu-od", 4)
	if err == nil || scaler.IsThrottled(err) || scaler.IsConflict(err) || !strings.Contains(err.Error(), "eks:UpdateNodegroupConfig") {
		t.Errorf("500 past the attempts: %v, want a plain error naming the call", err)
	}
	if n := len(e.srv.Requests("UpdateNodegroupConfig")); n != 4 {
		t.Errorf("%d attempts in all, want 4", n)
	}
}

func TestAccessDeniedNamesTheAction(t *testing.T) {
	e := newEnv(t, nil)
	cases := []struct {
		action, iam string
		call        func() error
	}{
		{"SetDesiredCapacity", "autoscaling:SetDesiredCapacity", func() error { return e.cloud.SetDesiredSize(ctx, "cpu", 2) }},
		{"UpdateNodegroupConfig", "eks:UpdateNodegroupConfig", func() error { return e.cloud.SetDesiredSize(ctx, "gpu-od", 3) }},
		{"DescribeNodegroup", "eks:DescribeNodegroup", func() error { _, err := e.cloud.NodeGroups(ctx); return err }},
		{"TerminateInstanceInAutoScalingGroup", "autoscaling:TerminateInstanceInAutoScalingGroup", func() error { return e.cloud.RemoveNode(ctx, "cpu", "node-c") }},
		{"GetQueueAttributes", "sqs:GetQueueAttributes", func() error { return e.cloud.Start(ctx) }},
	}
	for _, c := range cases {
		e.srv.ResetRequests()
		e.srv.Fail(c.action, awstest.Denied)
		err := c.call()
		if !IsAccessDenied(err) || !strings.Contains(err.Error(), "access denied to "+c.iam) {
			t.Errorf("%s denied: %v", c.action, err)
		}
		if n := len(e.srv.Requests(c.action)); n != 1 {
			t.Errorf("%s denied: %d attempts, want 1 (not retried)", c.action, n)
		}
	}
}

func TestUpdateInProgressIsConflict(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.SetNodegroupStatus(testCluster, "gpu-od-ng", "UPDATING")
	if err := e.cloud.SetDesiredSize(ctx, "gpu-od", 3); !scaler.IsConflict(err) {
		t.Errorf("nodegroup UPDATING: %v, want ErrConflict", err)
	}
	if n := len(e.srv.Requests("UpdateNodegroupConfig")); n != 1 {
		t.Errorf("%d attempts, want 1 (a conflict is not retried by the SDK)", n)
	}
	e.srv.SetNodegroupStatus(testCluster, "gpu-od-ng", "ACTIVE")
	e.clock.advance(e.cloud.opts.WriteInterval)
	e.srv.Fail("SetDesiredCapacity", awstest.InUse)
	if err := e.cloud.SetDesiredSize(ctx, "cpu", 2); !scaler.IsConflict(err) {
		t.Errorf("ResourceContention: %v, want ErrConflict", err)
	}
}

func TestWriteRateLimitPerGroup(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.cloud.SetDesiredSize(ctx, "cpu", 2); err != nil {
		t.Fatal(err)
	}
	if err := e.cloud.SetDesiredSize(ctx, "cpu", 3); !scaler.IsThrottled(err) {
		t.Errorf("second write within the interval: %v, want ErrThrottled", err)
	}
	if err := e.cloud.SetDesiredSize(ctx, "gpu-od", 3); err != nil {
		t.Errorf("another group is not limited: %v", err)
	}
	e.clock.advance(e.cloud.opts.WriteInterval)
	if err := e.cloud.SetDesiredSize(ctx, "cpu", 3); err != nil {
		t.Errorf("after the interval: %v", err)
	}
	if n := len(e.srv.Requests("SetDesiredCapacity")); n != 2 {
		t.Errorf("%d SetDesiredCapacity calls, want 2 (the limited one makes none)", n)
	}
}

func TestDryRunMakesNoWriteCall(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.DryRun = true })
	e.srv.Send(testQueue, spotEvent("i-00000000000000a1", "2026-03-02T09:00:00Z"))
	if err := e.cloud.SetDesiredSize(ctx, "gpu-od", 5); err != nil {
		t.Fatal(err)
	}
	if err := e.cloud.SetDesiredSize(ctx, "cpu", 5); err != nil {
		t.Fatal(err)
	}
	if err := e.cloud.RemoveNode(ctx, "gpu-od", "node-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cloud.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if w := e.writes(); len(w) != 0 {
		t.Errorf("dry run made write calls: %s", actions(w))
	}
	if in, _ := e.cloud.Interruptions(ctx, e.clock.Now()); len(in) != 1 {
		t.Errorf("dry run still reads notices: %v", in)
	}
	if n := logged(e.logs, "dry-run: would"); n != 3 {
		t.Errorf("%d dry-run lines, want 3", n)
	}
}

func TestCheckBounds(t *testing.T) {
	groups := []NodeGroup{
		{Name: "a", Kind: "asg", Min: 0, Max: 20},
		{Name: "b", Kind: "eks-managed", Min: 1, Max: 12},
		{Name: "c", Kind: "asg", Min: 0, Max: 4},
		{Name: "d", Kind: "asg", Min: 6, Max: 8},
		{Name: "e", Kind: "asg", Min: 1, Max: 2},
	}
	states := []scaler.NodeGroupState{
		{Name: "a", Min: 0, Max: 12}, {Name: "b", Min: 1, Max: 12}, {Name: "c", Min: 2, Max: 4}, {Name: "d", Min: 0, Max: 5},
	}
	var got []string
	for _, f := range CheckBounds(groups, states) {
		got = append(got, f.NodeGroup+": "+f.Message)
	}
	want := []string{
		"a: policy max 20 is above the Auto Scaling group a max 12: headroom will not ask for more than 12 nodes; raise the max in AWS or lower the policy's",
		"c: policy min 0 is below the Auto Scaling group c min 2: the group never goes below 2 nodes",
		"d: policy max 8 is above the Auto Scaling group d max 5: headroom will not ask for more than 5 nodes; raise the max in AWS or lower the policy's",
		"d: policy min 6 is above the Auto Scaling group d max 5: the policy's floor cannot be met",
		"e: Auto Scaling group e not found in AWS: the nodegroup is not sized",
	}
	if !slices.Equal(got, want) {
		t.Errorf("CheckBounds:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBoundsFindingLoggedOnceAtStartAndAfterReload(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.NodeGroups[0].Max = 20
		o.InterruptionQueue = ""
	})
	if err := e.cloud.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.cloud.Wait()
	groupsByName(t, e.cloud)
	if n := logged(e.logs, "policy and AWS disagree"); n != 1 {
		t.Errorf("%d bounds lines after start and a read, want 1", n)
	}
	if err := e.cloud.SetNodeGroups(FromPolicyGroups(e.cloud)); err != nil {
		t.Fatal(err)
	}
	groupsByName(t, e.cloud)
	if n := logged(e.logs, "policy and AWS disagree"); n != 2 {
		t.Errorf("%d bounds lines after a reload, want 2", n)
	}
	if err := e.cloud.SetNodeGroups([]NodeGroup{{Name: "x", Kind: "karpenter"}}); err == nil {
		t.Error("SetNodeGroups accepted an unknown kind")
	}
}

// FromPolicyGroups returns the cloud's current nodegroups (a reload of the
// same policy).
func FromPolicyGroups(c *Cloud) []NodeGroup {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.groups)
}

func TestOptionsValidation(t *testing.T) {
	_, err := New(ctx, Options{NodeGroups: []NodeGroup{{Name: "a"}, {Name: "a", Kind: "asg"}, {Name: "b", Kind: "fargate"}},
		PollWait: 30e9, Endpoints: Endpoints{SQS: "localhost:4566"}}, nil, nil, nil)
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, want := range []string{"region is required", "nodegroup a: eks-managed needs the EKS cluster name", "nodegroup a: listed twice",
		`nodegroup b: kind "fargate"`, "poll wait 30s", `sqs URL "localhost:4566"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := New(ctx, Options{Region: "eu-central-1", InterruptionQueue: testQueue}, nil, nil, nil); err == nil {
		t.Error("a queue without a lookup accepted")
	}
}
