package kube

import (
	"fmt"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/headroom-dev/headroom/scaler"
)

// apiErr wraps an API error with context and the scaler sentinel callers
// branch on: NotFound -> ErrNotFound, Conflict -> ErrConflict,
// TooManyRequests -> ErrThrottled. The original error stays in the chain
// (errors.As finds the *StatusError).
func apiErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s: %w: %w", what, scaler.ErrNotFound, err)
	case apierrors.IsConflict(err):
		return fmt.Errorf("%s: %w: %w", what, scaler.ErrConflict, err)
	case apierrors.IsTooManyRequests(err):
		return fmt.Errorf("%s: %w: %w", what, scaler.ErrThrottled, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// evictErr maps an Eviction API error: a refusal by a PodDisruptionBudget
// (429, or 403 for a budget with negative disruptionsAllowed, both with a
// DisruptionBudget cause) is ErrBlocked; a 429 without that cause is API
// throttling (priority and fairness), ErrThrottled.
func evictErr(err error, format string, args ...any) error {
	if apierrors.HasStatusCause(err, policyv1.DisruptionBudgetCause) {
		return fmt.Errorf("%s: %w: %w", fmt.Sprintf(format, args...), scaler.ErrBlocked, err)
	}
	return apiErr(err, format, args...)
}
