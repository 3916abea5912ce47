package trace

import (
	"errors"
	"fmt"
)

// Sentinel errors; a *ParseError wraps one of them when it applies.
var (
	// ErrEmpty: the input has no header or no data rows.
	ErrEmpty = errors.New("empty trace")
	// ErrUnsorted: a timestamp or window start goes backwards.
	ErrUnsorted = errors.New("timestamps out of order")
	// ErrTooLarge: the input exceeds ReadOptions.MaxBytes or MaxRows.
	ErrTooLarge = errors.New("trace too large")
	// ErrFormat: the header matches no known trace format.
	ErrFormat = errors.New("unknown trace format")
)

// ParseError locates a problem in the input. Line is 1-based and counts the
// header as line 1.
type ParseError struct {
	Line   int
	Column string // "" when the problem is not in one column
	Err    error
}

func (e *ParseError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("line %d, column %s: %v", e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// IsUnsorted reports whether err says the input is out of time order.
func IsUnsorted(err error) bool { return errors.Is(err, ErrUnsorted) }

// IsTooLarge reports whether err says the input exceeded the size limits.
func IsTooLarge(err error) bool { return errors.Is(err, ErrTooLarge) }
