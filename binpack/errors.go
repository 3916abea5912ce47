package binpack

import (
	"errors"
	"fmt"
	"strings"
)

// ClassError says why one class's demand cannot be planned.
type ClassError struct {
	Class  string
	Reason string
}

func (e *ClassError) Error() string { return fmt.Sprintf("class %q: %s", e.Class, e.Reason) }

// ProblemError lists everything wrong with a Problem's input: classes with
// bad demand or options, nodegroups that do not exist in the catalog.
type ProblemError struct {
	Errs []error
}

func (e *ProblemError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return "invalid packing problem: " + strings.Join(msgs, "; ")
}

// Unwrap lets errors.As find each ClassError.
func (e *ProblemError) Unwrap() []error { return e.Errs }

// InfeasibleError is returned with a partial plan when some demand could not
// be placed or the plan breaks the cost ceiling. The plan is still the
// best the solver found.
type InfeasibleError struct {
	Unplaced []Unplaced
	// OverCeiling is set when the plan costs more than the ceiling.
	OverCeiling bool
	Cost        float64
	Ceiling     float64
}

func (e *InfeasibleError) Error() string {
	var parts []string
	for _, u := range e.Unplaced {
		parts = append(parts, fmt.Sprintf("class %q: %s", u.Class, u.Reason))
	}
	if e.OverCeiling {
		parts = append(parts, fmt.Sprintf("plan costs $%.2f/h, over the ceiling of $%.2f/h", e.Cost, e.Ceiling))
	}
	return "partial plan: " + strings.Join(parts, "; ")
}

// IsInfeasible reports whether err says the plan is partial.
func IsInfeasible(err error) bool {
	var ie *InfeasibleError
	return errors.As(err, &ie)
}

// IsInvalid reports whether err says the problem's input is invalid.
func IsInvalid(err error) bool {
	var pe *ProblemError
	return errors.As(err, &pe)
}
