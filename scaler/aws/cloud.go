package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
)

// NodeLookup maps nodes to EC2 instances and back, from the Kubernetes
// node cache (the node's spec.providerID: scaler/kube's InstanceOf and
// NodeOf).
// If it also has HasSynced() bool, a notice that arrives before the cache
// synced is kept in the queue for redelivery instead of being dropped.
type NodeLookup interface {
	InstanceOf(node string) (instanceID string, ok bool)
	NodeOf(instanceID string) (node string, ok bool)
}

// The SDK clients' methods the adapter calls (the real clients satisfy
// them; in-package tests may substitute).
type (
	eksAPI interface {
		DescribeNodegroup(context.Context, *eks.DescribeNodegroupInput, ...func(*eks.Options)) (*eks.DescribeNodegroupOutput, error)
		UpdateNodegroupConfig(context.Context, *eks.UpdateNodegroupConfigInput, ...func(*eks.Options)) (*eks.UpdateNodegroupConfigOutput, error)
	}
	asgAPI interface {
		autoscaling.DescribeAutoScalingGroupsAPIClient
		SetDesiredCapacity(context.Context, *autoscaling.SetDesiredCapacityInput, ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
		TerminateInstanceInAutoScalingGroup(context.Context, *autoscaling.TerminateInstanceInAutoScalingGroupInput, ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error)
	}
	sqsAPI interface {
		ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
		DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
		GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	}
)

// Cloud is scaler.Cloud and scaler.NodeRemover over EKS, Auto Scaling and
// SQS. Safe for concurrent use.
type Cloud struct {
	opts   Options
	log    *zap.Logger
	lookup NodeLookup
	eks    eksAPI
	asg    asgAPI
	sqs    sqsAPI
	m      metrics

	mu     sync.Mutex
	groups []NodeGroup
	// asgsOf caches a managed nodegroup's Auto Scaling groups (policy
	// name -> names), from its last DescribeNodegroup.
	asgsOf map[string][]string
	// lastWrite is the time of the last write per key ("size/<group>",
	// "remove/<node>"), for the write rate limit.
	lastWrite map[string]time.Time
	// reported holds the findings logged since the last SetNodeGroups.
	reported map[Finding]bool
	// notices are the termination times pending per node.
	notices map[string][]time.Time
	done    chan struct{}
}

var (
	_ scaler.Cloud       = (*Cloud)(nil)
	_ scaler.NodeRemover = (*Cloud)(nil)
)

// New builds the SDK clients (credentials from the default chain unless
// Options.Credentials) and the adapter; it makes no call. log and reg may
// be nil; lookup may be nil only without an interruption queue (and then
// RemoveNode cannot find instances).
func New(ctx context.Context, opts Options, lookup NodeLookup, log *zap.Logger, reg prometheus.Registerer) (*Cloud, error) {
	opts.NodeGroups = slices.Clone(opts.NodeGroups)
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("aws options: %w", err)
	}
	if opts.InterruptionQueue != "" && lookup == nil {
		return nil, fmt.Errorf("aws options: an interruption queue needs a node lookup")
	}
	loads := []func(*config.LoadOptions) error{
		config.WithRegion(opts.Region),
		config.WithRetryer(func() sdkaws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts, so.MaxBackoff = opts.MaxAttempts, opts.MaxBackoff
			})
		}),
	}
	if opts.Credentials != nil {
		loads = append(loads, config.WithCredentialsProvider(opts.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS config: %w", err)
	}
	endpoint := func(u string) *string {
		if u == "" {
			return nil
		}
		return sdkaws.String(u)
	}
	c := newCloud(opts, lookup, log, reg,
		eks.NewFromConfig(cfg, func(o *eks.Options) { o.BaseEndpoint = endpoint(opts.Endpoints.EKS) }),
		autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { o.BaseEndpoint = endpoint(opts.Endpoints.AutoScaling) }),
		sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = endpoint(opts.Endpoints.SQS) }))
	if err := c.m.register(reg); err != nil {
		return nil, err
	}
	return c, nil
}

func newCloud(opts Options, lookup NodeLookup, log *zap.Logger, reg prometheus.Registerer, e eksAPI, a asgAPI, q sqsAPI) *Cloud {
	if log == nil {
		log = zap.NewNop()
	}
	return &Cloud{opts: opts, log: log, lookup: lookup, eks: e, asg: a, sqs: q, m: newMetrics(),
		groups: opts.NodeGroups, asgsOf: map[string][]string{}, lastWrite: map[string]time.Time{},
		reported: map[Finding]bool{}, notices: map[string][]time.Time{}}
}

// SetNodeGroups replaces the nodegroups (a reloaded policy); an invalid
// list changes nothing. Bounds findings are logged again at the next
// NodeGroups.
func (c *Cloud) SetNodeGroups(groups []NodeGroup) error {
	groups = slices.Clone(groups)
	for i := range groups {
		groups[i] = groups[i].withDefaults()
	}
	if err := validateGroups(groups, c.opts.EKSCluster); err != nil {
		return fmt.Errorf("aws nodegroups: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.groups = groups
	c.asgsOf = map[string][]string{}
	c.reported = map[Finding]bool{}
	return nil
}

func (c *Cloud) group(name string) (NodeGroup, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.groups {
		if g.Name == name {
			return g, true
		}
	}
	return NodeGroup{}, false
}

// managedInfo is what DescribeNodegroup says.
type managedInfo struct {
	desired, min, max int
	status            string
	asgs              []string
}

func (c *Cloud) describeNodegroup(ctx context.Context, g NodeGroup) (managedInfo, error) {
	out, err := c.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: &c.opts.EKSCluster, NodegroupName: &g.CloudName})
	if err != nil {
		return managedInfo{}, fmt.Errorf("nodegroup %s: %w", g.Name, classify("eks:DescribeNodegroup", err))
	}
	ng := out.Nodegroup
	if ng == nil {
		return managedInfo{}, fmt.Errorf("nodegroup %s: eks:DescribeNodegroup answered no nodegroup", g.Name)
	}
	info := managedInfo{status: string(ng.Status)}
	if sc := ng.ScalingConfig; sc != nil {
		info.desired, info.min, info.max = int(deref(sc.DesiredSize)), int(deref(sc.MinSize)), int(deref(sc.MaxSize))
	}
	if ng.Resources != nil {
		for _, a := range ng.Resources.AutoScalingGroups {
			if a.Name != nil {
				info.asgs = append(info.asgs, *a.Name)
			}
		}
	}
	c.mu.Lock()
	c.asgsOf[g.Name] = info.asgs
	c.mu.Unlock()
	return info, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// describeManaged describes every managed nodegroup, DescribeConcurrency at
// a time. A nodegroup EKS does not know is left out (found[name] false);
// any other error fails the whole read.
func (c *Cloud) describeManaged(ctx context.Context, groups []NodeGroup) (map[string]managedInfo, error) {
	var (
		mu    sync.Mutex
		out   = map[string]managedInfo{}
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, c.opts.DescribeConcurrency)
	)
	for _, g := range groups {
		if g.Kind != policies.NodeGroupEKSManaged {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			info, err := c.describeNodegroup(ctx, g)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				out[g.Name] = info
			case scaler.IsNotFound(err):
			case first == nil:
				first = err
			}
		}()
	}
	wg.Wait()
	return out, first
}

// maxNamesPerDescribe: DescribeAutoScalingGroups takes up to MaxRecords
// (at most 100) names.
const maxNamesPerDescribe = 100

// describeGroups describes the named Auto Scaling groups, one call per 100
// names (and per page). A group AWS does not know is absent from the map.
func (c *Cloud) describeGroups(ctx context.Context, names []string) (map[string]asgtypes.AutoScalingGroup, error) {
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	out := map[string]asgtypes.AutoScalingGroup{}
	for chunk := range slices.Chunk(names, maxNamesPerDescribe) {
		p := autoscaling.NewDescribeAutoScalingGroupsPaginator(c.asg, &autoscaling.DescribeAutoScalingGroupsInput{
			AutoScalingGroupNames: chunk, MaxRecords: sdkaws.Int32(maxNamesPerDescribe)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, classify("autoscaling:DescribeAutoScalingGroups", err)
			}
			for _, g := range page.AutoScalingGroups {
				out[deref(g.AutoScalingGroupName)] = g
			}
		}
	}
	return out, nil
}

// running reports whether an instance counts as current: in service or on
// its way (Pending, Pending:Wait, Pending:Proceed).
func running(state asgtypes.LifecycleState) bool {
	return state == asgtypes.LifecycleStateInService || strings.HasPrefix(string(state), "Pending")
}

func currentOf(g asgtypes.AutoScalingGroup) int {
	n := 0
	for _, in := range g.Instances {
		if running(in.LifecycleState) {
			n++
		}
	}
	return n
}

// NodeGroups implements scaler.Cloud: one DescribeNodegroup per managed
// nodegroup, then one DescribeAutoScalingGroups for the self-managed groups
// and the managed nodegroups' groups together. A nodegroup AWS does not
// know is left out (the core notes it as not reported); findings of
// CheckBounds are logged once each.
func (c *Cloud) NodeGroups(ctx context.Context) ([]scaler.NodeGroupState, error) {
	c.mu.Lock()
	groups := slices.Clone(c.groups)
	c.mu.Unlock()
	managed, err := c.describeManaged(ctx, groups)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, g := range groups {
		if g.Kind == policies.NodeGroupASG {
			names = append(names, g.CloudName)
		} else {
			names = append(names, managed[g.Name].asgs...)
		}
	}
	asgs, err := c.describeGroups(ctx, names)
	if err != nil {
		return nil, err
	}
	states := make([]scaler.NodeGroupState, 0, len(groups))
	for _, g := range groups {
		if g.Kind == policies.NodeGroupASG {
			a, ok := asgs[g.CloudName]
			if !ok {
				continue
			}
			states = append(states, scaler.NodeGroupState{Name: g.Name, Desired: int(deref(a.DesiredCapacity)), Current: currentOf(a),
				Min: int(deref(a.MinSize)), Max: int(deref(a.MaxSize))})
			continue
		}
		info, ok := managed[g.Name]
		if !ok {
			continue
		}
		st := scaler.NodeGroupState{Name: g.Name, Desired: info.desired, Min: info.min, Max: info.max}
		for _, n := range info.asgs {
			st.Current += currentOf(asgs[n])
		}
		states = append(states, st)
	}
	c.logFindings(CheckBounds(groups, states))
	return states, nil
}

func (c *Cloud) logFindings(fs []Finding) {
	c.mu.Lock()
	var fresh []Finding
	for _, f := range fs {
		if !c.reported[f] {
			c.reported[f] = true
			fresh = append(fresh, f)
		}
	}
	c.mu.Unlock()
	for _, f := range fresh {
		c.log.Warn("nodegroup bounds: policy and AWS disagree", zap.String("nodegroup", f.NodeGroup), zap.String("finding", f.Message))
	}
}

// allowWrite enforces Options.WriteInterval per key; it records the write.
func (c *Cloud) allowWrite(key string) error {
	now := c.opts.Clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if last, ok := c.lastWrite[key]; ok && now.Sub(last) < c.opts.WriteInterval {
		return fmt.Errorf("%s: %w: the last write was %v ago, at most one per %v", key, scaler.ErrThrottled, now.Sub(last), c.opts.WriteInterval)
	}
	c.lastWrite[key] = now
	return nil
}

// SetDesiredSize implements scaler.Cloud. A managed nodegroup is read
// first (DescribeNodegroup), so that UpdateNodegroupConfig sends back the
// min and max as they are now, not as headroom last saw them; a size
// outside them is an error, not clipped. A self-managed group gets
// SetDesiredCapacity with HonorCooldown=false (headroom's own rate limit
// and stabilization stand in for the cooldown).
func (c *Cloud) SetDesiredSize(ctx context.Context, nodegroup string, size int) error {
	g, ok := c.group(nodegroup)
	if !ok {
		return fmt.Errorf("nodegroup %s: %w: not in the policy", nodegroup, scaler.ErrNotFound)
	}
	if size < 0 {
		return fmt.Errorf("nodegroup %s: desired size %d is negative", nodegroup, size)
	}
	if c.opts.DryRun {
		c.log.Info("dry-run: would set desired size", zap.String("nodegroup", g.Name), zap.String("kind", g.Kind), zap.String("cloudName", g.CloudName), zap.Int("size", size))
		return nil
	}
	if err := c.allowWrite("size/" + g.Name); err != nil {
		return err
	}
	if g.Kind == policies.NodeGroupASG {
		_, err := c.asg.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: &g.CloudName,
			DesiredCapacity: sdkaws.Int32(int32(size)), HonorCooldown: sdkaws.Bool(false)})
		if err != nil {
			return fmt.Errorf("nodegroup %s: %w", g.Name, classify("autoscaling:SetDesiredCapacity", err))
		}
		c.log.Info("set desired capacity", zap.String("nodegroup", g.Name), zap.String("asg", g.CloudName), zap.Int("size", size))
		return nil
	}
	info, err := c.describeNodegroup(ctx, g)
	if err != nil {
		return err
	}
	if size < info.min || size > info.max {
		return fmt.Errorf("nodegroup %s: desired size %d is outside the EKS nodegroup's bounds [%d,%d]", g.Name, size, info.min, info.max)
	}
	_, err = c.eks.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{ClusterName: &c.opts.EKSCluster, NodegroupName: &g.CloudName,
		ScalingConfig: &ekstypes.NodegroupScalingConfig{DesiredSize: sdkaws.Int32(int32(size)), MinSize: sdkaws.Int32(int32(info.min)), MaxSize: sdkaws.Int32(int32(info.max))}})
	if err != nil {
		return fmt.Errorf("nodegroup %s: %w", g.Name, classify("eks:UpdateNodegroupConfig", err))
	}
	c.log.Info("updated nodegroup config", zap.String("nodegroup", g.Name), zap.String("cluster", c.opts.EKSCluster), zap.Int("size", size),
		zap.Int("min", info.min), zap.Int("max", info.max))
	return nil
}

// RemoveNode implements scaler.NodeRemover: it terminates the node's
// instance with ShouldDecrementDesiredCapacity=true, after checking (one
// DescribeAutoScalingGroups) that the nodegroup's group holds it. An
// instance that is already terminating, or no longer in the group, is
// gone already: nil, with a log line.
func (c *Cloud) RemoveNode(ctx context.Context, nodegroup, node string) error {
	g, ok := c.group(nodegroup)
	if !ok {
		return fmt.Errorf("nodegroup %s: %w: not in the policy", nodegroup, scaler.ErrNotFound)
	}
	if c.lookup == nil {
		return fmt.Errorf("node %s: no node lookup to find its instance", node)
	}
	id, ok := c.lookup.InstanceOf(node)
	if !ok {
		return fmt.Errorf("node %s: %w: no instance id (not in the node cache, or no aws:// providerID)", node, scaler.ErrNotFound)
	}
	log := c.log.With(zap.String("nodegroup", g.Name), zap.String("node", node), zap.String("instance", id))
	if c.opts.DryRun {
		log.Info("dry-run: would terminate the instance and decrement the desired capacity")
		return nil
	}
	if err := c.allowWrite("remove/" + node); err != nil {
		return err
	}
	names := []string{g.CloudName}
	if g.Kind == policies.NodeGroupEKSManaged {
		c.mu.Lock()
		names = c.asgsOf[g.Name]
		c.mu.Unlock()
		if len(names) == 0 {
			info, err := c.describeNodegroup(ctx, g)
			if err != nil {
				return err
			}
			names = info.asgs
		}
	}
	asgs, err := c.describeGroups(ctx, names)
	if err != nil {
		return fmt.Errorf("node %s: %w", node, err)
	}
	var state asgtypes.LifecycleState
	var holder string
	for _, name := range names {
		for _, in := range asgs[name].Instances {
			if deref(in.InstanceId) == id {
				state, holder = in.LifecycleState, name
			}
		}
	}
	switch {
	case holder == "":
		log.Info("instance not in the nodegroup's Auto Scaling group: nothing to terminate", zap.Strings("asgs", names))
		return nil
	case !running(state) && state != asgtypes.LifecycleStateStandby:
		log.Info("instance already leaving its group: nothing to terminate", zap.String("state", string(state)))
		return nil
	}
	out, err := c.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: &id, ShouldDecrementDesiredCapacity: sdkaws.Bool(true)})
	if err != nil {
		err = classify("autoscaling:TerminateInstanceInAutoScalingGroup", err)
		if scaler.IsNotFound(err) {
			log.Info("instance gone before its termination: nothing to terminate", zap.Error(err))
			return nil
		}
		return fmt.Errorf("node %s: %w", node, err)
	}
	activity := ""
	if out.Activity != nil {
		activity = deref(out.Activity.ActivityId)
	}
	log.Info("terminated instance, desired capacity decremented", zap.String("asg", holder), zap.String("activity", activity))
	return nil
}
