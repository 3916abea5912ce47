// Package awstest is a small local AWS endpoint for tests and the local
// sandbox: one http.Handler that speaks the real wire protocols of the three
// services headroom calls, so the real aws-sdk-go-v2 clients (pointed at it
// with BaseEndpoint and static credentials) serialize, sign, retry and
// deserialize exactly as they do against AWS. It has no SDK dependency: what
// it parses and writes is the wire format itself.
//
//	Auto Scaling  awsQuery: form POST "Action=X&Version=2011-01-01&...",
//	              XML answers <XResponse xmlns=...><XResult>...</XResult>
//	              <ResponseMetadata><RequestId>; errors
//	              <ErrorResponse><Error><Type><Code><Message></Error><RequestId>
//	              Actions: DescribeAutoScalingGroups (names, MaxRecords,
//	              NextToken), SetDesiredCapacity, TerminateInstanceInAutoScalingGroup
//	EKS           restJson1: GET  /clusters/{name}/node-groups/{ng}
//	                         POST /clusters/{name}/node-groups/{ng}/update-config
//	              errors: status + X-Amzn-ErrorType header + {"message": ...}
//	SQS           awsJson1_0: POST / with X-Amz-Target: AmazonSQS.<Action>,
//	              application/x-amz-json-1.0; errors {"__type":
//	              "com.amazonaws.sqs#Code"} + x-amzn-query-error
//	              Actions: ReceiveMessage (long poll, visibility timeout,
//	              MD5OfBody), DeleteMessage, GetQueueAttributes, SendMessage
//
// The shapes were checked against the SDK's own wire snapshots
// (service/*/request_snapshot, response_snapshot in aws-sdk-go-v2) and the
// API references.
//
// State is plain and small: Auto Scaling groups with min/max/desired and
// instances in lifecycle states; EKS managed nodegroups, each backed by one
// of those groups (their scalingConfig is the group's); SQS queues with
// messages, receipt handles and visibility. A size change adds Pending
// instances or marks the newest live ones Terminating, at once; Settle
// moves Pending to InService and drops Terminating ones, as time would.
//
// Every request is recorded (Requests) with its action and body, so a test
// can assert the fields the SDK sent; Fail queues faults per action
// (throttling, 5xx, access denied, resource in use, or any code).
//
// In a test: srv, url := awstest.NewTest(t). Standalone (the sandbox):
//
//	srv := awstest.New()
//	ln, _ := net.Listen("tcp", "127.0.0.1:4566")
//	go srv.Serve(ln)
package awstest
