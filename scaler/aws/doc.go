// Package aws is the AWS side of the scaler: scaler.Cloud and
// scaler.NodeRemover over EKS managed nodegroups, self-managed Auto Scaling
// groups and an SQS queue of EventBridge interruption events, with
// aws-sdk-go-v2. It is a thin I/O shell; every decision is the core's
// (package scaler).
//
// Data flows like this:
//
//	NodeGroups     eks:DescribeNodegroup per eks-managed nodegroup
//	               (desired/min/max, its Auto Scaling groups), then ONE
//	               autoscaling:DescribeAutoScalingGroups (per 100 names,
//	               paginated) for the asg groups and the managed ones'
//	               groups: Current = instances Pending* or InService
//	               -> []scaler.NodeGroupState, CheckBounds findings logged once
//	SetDesiredSize eks-managed: DescribeNodegroup, then UpdateNodegroupConfig
//	               with scalingConfig {desiredSize, the current min and max}
//	               asg: SetDesiredCapacity, HonorCooldown=false
//	RemoveNode     NodeLookup.InstanceOf(node), DescribeAutoScalingGroups
//	               of the nodegroup's group(s) (is it there, is it leaving?),
//	               TerminateInstanceInAutoScalingGroup with
//	               ShouldDecrementDesiredCapacity=true
//	Start          GetQueueAttributes, then a goroutine: ReceiveMessage
//	               (long poll) -> ParseEvent -> NodeLookup.NodeOf -> notices
//	               in memory by node; DeleteMessage once handled
//	Interruptions  the notices not past (+ NoticeGrace) at now; no I/O
//
// Errors are mapped to the scaler's sentinels (throttling ErrThrottled, an
// update in progress ErrConflict, a missing group or instance ErrNotFound)
// and IAM refusals to *AccessDeniedError naming the action; the SDK error
// stays in the chain. The SDK's standard retryer (Options.MaxAttempts)
// retries throttling, 5xx and connection errors before that; a per-group
// write rate limit (Options.WriteInterval) answers ErrThrottled without a
// call. DryRun makes no write call at all.
//
// Build with New (credentials from the default chain: IRSA or EKS Pod
// Identity in a cluster), call Start, and SetNodeGroups when the policy
// reloads. Tests run the real SDK clients against internal/awstest, which
// speaks the three wire protocols. docs/aws.md is the SRE's side: IAM
// policy, EventBridge rules, queue policy, flags, failures.
package aws
