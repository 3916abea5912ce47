package policies

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Finding is one problem in a policy directory: where it is, which field,
// and what to change. Loading and validation collect every finding of a run
// instead of stopping at the first, so one lint run shows them all.
type Finding struct {
	// File, Line and Column locate the finding (1-based). Line is 0 when the
	// problem has no single place, e.g. an unreadable directory.
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	// Object is the document the finding belongs to, "ModelClass/reader-de",
	// when known.
	Object string `json:"object,omitempty"`
	// Field is the path of the field inside the document, e.g.
	// "spec.placement.nodeGroups[1]".
	Field string `json:"field,omitempty"`
	// Message says what is wrong and what to change.
	Message string `json:"message"`
}

// String renders the finding as "file:line:col: field: message", the form
// editors and CI annotations understand. Without a file it names the object.
func (f Finding) String() string {
	var b strings.Builder
	switch {
	case f.File != "" && f.Line > 0:
		fmt.Fprintf(&b, "%s:%d:%d: ", f.File, f.Line, max(f.Column, 1))
	case f.File != "":
		fmt.Fprintf(&b, "%s: ", f.File)
	case f.Object != "":
		fmt.Fprintf(&b, "%s: ", f.Object)
	}
	if f.Field != "" {
		b.WriteString(f.Field)
		b.WriteString(": ")
	}
	b.WriteString(f.Message)
	return b.String()
}

// sortFindings orders findings by file, line, column, then text, so output
// is stable whatever order the checks ran in.
func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.String() < b.String()
	})
}

// FindingsError is the error Load returns when a policy has findings. It
// carries all of them.
type FindingsError struct {
	Findings []Finding
}

func (e *FindingsError) Error() string {
	if len(e.Findings) == 1 {
		return "policy has 1 finding: " + e.Findings[0].String()
	}
	lines := make([]string, len(e.Findings))
	for i, f := range e.Findings {
		lines[i] = f.String()
	}
	return fmt.Sprintf("policy has %d findings:\n%s", len(e.Findings), strings.Join(lines, "\n"))
}

// IsFindings reports whether err is, or wraps, a *FindingsError.
func IsFindings(err error) bool {
	var fe *FindingsError
	return errors.As(err, &fe)
}

// FindingsOf returns the findings carried by err, or nil when err is not a
// *FindingsError.
func FindingsOf(err error) []Finding {
	var fe *FindingsError
	if errors.As(err, &fe) {
		return fe.Findings
	}
	return nil
}
