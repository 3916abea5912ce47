package policies

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
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

// Findings echo bits of the files they are about, and lint prints them in
// CI logs and as GitHub annotations, where a line that starts with "::" is
// a workflow command. So what a finding quotes is short and escaped.
const (
	maxExcerpt      = 48  // runes of a value quoted by excerpt
	maxMessageBytes = 320 // of a finding's message, after which it is cut
	maxFieldBytes   = 200 // of a finding's field path
)

// excerpt quotes s for a message: Go-escaped, and cut after maxExcerpt
// runes with its full length said, so a file that parsed as one long
// string is not echoed whole.
func excerpt(s string) string {
	if n := utf8.RuneCountInString(s); n > maxExcerpt {
		return fmt.Sprintf("%q... (%d bytes)", string([]rune(s)[:maxExcerpt]), len(s))
	}
	return fmt.Sprintf("%q", s)
}

// sanitize makes a finding safe to print on one line whatever the file
// held: control, format (bidi) and line-separator characters escaped,
// invalid UTF-8 replaced, and the field and message cut to a bound.
func (f Finding) sanitize() Finding {
	f.File = escapeControls(f.File)
	f.Object = clip(escapeControls(f.Object), maxFieldBytes)
	f.Field = clip(escapeControls(f.Field), maxFieldBytes)
	f.Message = clip(escapeControls(f.Message), maxMessageBytes)
	return f
}

func escapeControls(s string) string {
	unsafe := func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
	}
	if utf8.ValidString(s) && strings.IndexFunc(s, unsafe) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case unsafe(r) && r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafe(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("... (cut, %d bytes)", len(s))
}
