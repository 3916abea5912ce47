package aws

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/smithy-go"

	"github.com/headroom-dev/headroom/scaler"
)

// AccessDeniedError is an API call refused by IAM: Action is the IAM action
// ("autoscaling:SetDesiredCapacity") headroom's role lacks.
type AccessDeniedError struct {
	Action string
	Err    error
}

func (e *AccessDeniedError) Error() string {
	return fmt.Sprintf("access denied to %s: headroom's IAM role needs it (docs/aws.md): %v", e.Action, e.Err)
}

func (e *AccessDeniedError) Unwrap() error { return e.Err }

// IsAccessDenied reports whether err is an AccessDeniedError.
func IsAccessDenied(err error) bool {
	var ad *AccessDeniedError
	return errors.As(err, &ad)
}

// Error codes by meaning. Throttling codes are the ones the three services
// answer (Auto Scaling "Throttling", EKS "ThrottlingException", SQS
// "RequestThrottled") and EC2's RequestLimitExceeded.
var (
	throttleCodes = map[string]bool{"Throttling": true, "ThrottlingException": true, "RequestLimitExceeded": true,
		"RequestThrottled": true, "RequestThrottledException": true, "TooManyRequestsException": true, "SlowDown": true}
	deniedCodes   = map[string]bool{"UnauthorizedOperation": true, "AuthorizationError": true}
	notFoundCodes = map[string]bool{"ResourceNotFoundException": true, "NotFoundException": true,
		"QueueDoesNotExist": true, "AWS.SimpleQueueService.NonExistentQueue": true}
	// An update already running on the nodegroup (EKS) or a pending change
	// to the group (Auto Scaling): re-read and retry later.
	conflictCodes = map[string]bool{"ResourceInUseException": true, "ResourceContention": true, "ScalingActivityInProgress": true}
)

// apiCode returns the API error code in err's chain, "" if none.
func apiCode(err error) (code, msg string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "", ""
}

// classify wraps an SDK error of action (an IAM action name) with the
// scaler's sentinels; the SDK error stays in the chain.
func classify(action string, err error) error {
	if err == nil {
		return nil
	}
	var quota ratelimit.QuotaExceededError
	if errors.As(err, &quota) {
		return fmt.Errorf("%s: %w: the SDK's retry quota is spent: %w", action, scaler.ErrThrottled, err)
	}
	code, _ := apiCode(err)
	switch {
	case throttleCodes[code]:
		return fmt.Errorf("%s: %w: %w", action, scaler.ErrThrottled, err)
	case strings.HasPrefix(code, "AccessDenied") || deniedCodes[code]:
		return &AccessDeniedError{Action: action, Err: err}
	case notFoundCodes[code] || (code == "ValidationError" && isNotFoundMessage(err)):
		return fmt.Errorf("%s: %w: %w", action, scaler.ErrNotFound, err)
	case conflictCodes[code]:
		return fmt.Errorf("%s: %w: %w", action, scaler.ErrConflict, err)
	}
	return fmt.Errorf("%s: %w", action, err)
}

// isNotFoundMessage: Auto Scaling answers a missing group or instance with
// ValidationError and a message ("AutoScalingGroup name not found - ...",
// "Instance Id not found - No managed instance found for instance ID ...").
func isNotFoundMessage(err error) bool {
	_, msg := apiCode(err)
	return strings.Contains(strings.ToLower(msg), "not found")
}
