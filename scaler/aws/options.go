package aws

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/scaler"
)

// NodeGroup is one nodegroup as the policy names it.
type NodeGroup struct {
	// Name is the policy's name: NodeGroupState.Name and the nodes'
	// eks.amazonaws.com/nodegroup label.
	Name string
	// Kind is policies.NodeGroupEKSManaged or policies.NodeGroupASG.
	Kind string
	// CloudName is the EKS nodegroup or Auto Scaling group name in AWS;
	// default Name.
	CloudName string
	// Min and Max are the policy's bounds (0 Max: none), checked against
	// the cloud's by CheckBounds.
	Min, Max int
}

// FromPolicy returns the policy's nodegroups, with the policy's defaults
// (kind eks-managed, cloud name = name) applied.
func FromPolicy(p *policies.Policy) []NodeGroup {
	out := make([]NodeGroup, 0, len(p.NodeGroups))
	for _, ng := range p.NodeGroups {
		g := NodeGroup{Name: ng.Name, Kind: ng.Spec.Kind, CloudName: ng.Spec.CloudName, Min: ng.Spec.Size.Min, Max: ng.Spec.Size.Max}
		out = append(out, g.withDefaults())
	}
	return out
}

func (g NodeGroup) withDefaults() NodeGroup {
	if g.Kind == "" {
		g.Kind = policies.NodeGroupEKSManaged
	}
	if g.CloudName == "" {
		g.CloudName = g.Name
	}
	return g
}

// Endpoints override each service's endpoint (BaseEndpoint), for tests and
// the local sandbox; "" keeps the SDK's regional endpoint.
type Endpoints struct {
	EKS, AutoScaling, SQS string
}

// AllEndpoints sends every service to one endpoint (internal/awstest).
func AllEndpoints(url string) Endpoints { return Endpoints{EKS: url, AutoScaling: url, SQS: url} }

// Options configure the adapter. Zero values take the defaults in
// setDefaults; validate reports every bad field at once.
type Options struct {
	// Region is the AWS region (required), e.g. the policy's
	// spec.region or --aws-region.
	Region string
	// EKSCluster is the EKS cluster name of the eks-managed nodegroups
	// (the policy's spec.eksCluster); required when there is one.
	EKSCluster string
	// NodeGroups are the policy's nodegroups (FromPolicy); SetNodeGroups
	// replaces them when the policy reloads.
	NodeGroups []NodeGroup
	// Endpoints override the service endpoints.
	Endpoints Endpoints
	// Credentials replace the SDK's default chain (environment, IRSA web
	// identity, EKS Pod Identity, instance role); for tests and the sandbox.
	Credentials sdkaws.CredentialsProvider
	// MaxAttempts bounds the SDK's standard retryer (throttling, 5xx,
	// connection errors), first try included. Default 5.
	MaxAttempts int
	// MaxBackoff bounds the retryer's jittered exponential backoff.
	// Default 20s (the SDK's).
	MaxBackoff time.Duration
	// WriteInterval is the least time between two size writes to one
	// nodegroup (and two removals of one node); a write sooner is refused
	// with scaler.ErrThrottled, without a call. Default 10s.
	WriteInterval time.Duration
	// DescribeConcurrency bounds the DescribeNodegroup calls in flight
	// (EKS has no batched describe). Default 8.
	DescribeConcurrency int
	// DryRun makes no write call at all: size changes and removals are
	// logged, and SQS messages are not deleted (they come back after
	// their visibility timeout).
	DryRun bool

	// InterruptionQueue is the URL of the SQS queue the EventBridge rules
	// feed (docs/aws.md); "" reads no notices.
	InterruptionQueue string
	// PollWait is ReceiveMessage's long-poll wait. Default 20s, SQS's most.
	PollWait time.Duration
	// VisibilityTimeout hides a received message from other receives; a
	// message whose handling failed comes back after it. Default 60s.
	VisibilityTimeout time.Duration
	// NoticeGrace keeps a notice reported this long after its termination
	// time (a node that outlives its notice, or a late tick). Default 5m.
	NoticeGrace time.Duration
	// IgnoreRebalance drops EC2 Instance Rebalance Recommendations instead
	// of treating them as interruptions (docs/aws.md, "Rebalance").
	IgnoreRebalance bool
	// Clock times the write rate limit and the poll loop's backoff.
	// Default scaler.RealClock().
	Clock scaler.Clock
}

func (o *Options) setDefaults() {
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 5
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 20 * time.Second
	}
	if o.WriteInterval == 0 {
		o.WriteInterval = 10 * time.Second
	}
	if o.DescribeConcurrency == 0 {
		o.DescribeConcurrency = 8
	}
	if o.PollWait == 0 {
		o.PollWait = 20 * time.Second
	}
	if o.VisibilityTimeout == 0 {
		o.VisibilityTimeout = 60 * time.Second
	}
	if o.NoticeGrace == 0 {
		o.NoticeGrace = 5 * time.Minute
	}
	if o.Clock == nil {
		o.Clock = scaler.RealClock()
	}
	for i := range o.NodeGroups {
		o.NodeGroups[i] = o.NodeGroups[i].withDefaults()
	}
}

func (o *Options) validate() error {
	var errs []error
	if o.Region == "" {
		errs = append(errs, errors.New("region is required (--aws-region or the policy's spec.region)"))
	}
	if o.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("max attempts %d: must be at least 1", o.MaxAttempts))
	}
	if o.MaxBackoff < 0 || o.WriteInterval < 0 || o.NoticeGrace < 0 {
		errs = append(errs, errors.New("max backoff, write interval and notice grace must not be negative"))
	}
	if o.DescribeConcurrency < 1 {
		errs = append(errs, fmt.Errorf("describe concurrency %d: must be at least 1", o.DescribeConcurrency))
	}
	if o.PollWait < 0 || o.PollWait > 20*time.Second || o.PollWait%time.Second != 0 {
		errs = append(errs, fmt.Errorf("poll wait %v: must be whole seconds from 0 to 20s (SQS's limit)", o.PollWait))
	}
	if o.VisibilityTimeout < time.Second || o.VisibilityTimeout > 12*time.Hour || o.VisibilityTimeout%time.Second != 0 {
		errs = append(errs, fmt.Errorf("visibility timeout %v: must be whole seconds from 1s to 12h (SQS's limit)", o.VisibilityTimeout))
	}
	for name, u := range map[string]string{"eks": o.Endpoints.EKS, "autoscaling": o.Endpoints.AutoScaling, "sqs": o.Endpoints.SQS, "interruption queue": o.InterruptionQueue} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s URL %q: not an http(s) URL", name, u))
		}
	}
	if err := validateGroups(o.NodeGroups, o.EKSCluster); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func validateGroups(groups []NodeGroup, cluster string) error {
	var errs []error
	seen := map[string]bool{}
	for _, g := range groups {
		switch {
		case g.Name == "":
			errs = append(errs, errors.New("nodegroup without a name"))
		case seen[g.Name]:
			errs = append(errs, fmt.Errorf("nodegroup %s: listed twice", g.Name))
		}
		seen[g.Name] = true
		switch g.Kind {
		case policies.NodeGroupEKSManaged:
			if cluster == "" {
				errs = append(errs, fmt.Errorf("nodegroup %s: eks-managed needs the EKS cluster name (the policy's spec.eksCluster)", g.Name))
			}
		case policies.NodeGroupASG:
		default:
			errs = append(errs, fmt.Errorf("nodegroup %s: kind %q: want %s or %s", g.Name, g.Kind, policies.NodeGroupEKSManaged, policies.NodeGroupASG))
		}
	}
	return errors.Join(errs...)
}
