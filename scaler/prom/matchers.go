package prom

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Matcher operators, as in PromQL.
const (
	MatchEqual     = "="
	MatchNotEqual  = "!="
	MatchRegexp    = "=~"
	MatchNotRegexp = "!~"
)

// Matcher is one PromQL label matcher, e.g. namespace="inference".
type Matcher struct {
	Name, Op, Value string
}

// String renders m as PromQL: the value is quoted with Go's escapes, which
// PromQL's string literals read back the same.
func (m Matcher) String() string { return m.Name + m.Op + strconv.Quote(m.Value) }

func (m Matcher) validate() error {
	if !validLabelName(m.Name) {
		return fmt.Errorf("%q is not a label name", m.Name)
	}
	if !utf8.ValidString(m.Value) {
		return fmt.Errorf("label %s: value is not UTF-8", m.Name)
	}
	switch m.Op {
	case MatchEqual, MatchNotEqual:
	case MatchRegexp, MatchNotRegexp:
		// PromQL anchors regular expressions; compile them the same way.
		if _, err := regexp.Compile("^(?:" + m.Value + ")$"); err != nil {
			return fmt.Errorf("label %s: %w", m.Name, err)
		}
	default:
		return fmt.Errorf("label %s: operator %q is not one of = != =~ !~", m.Name, m.Op)
	}
	return nil
}

// ParseMatchers reads a comma-separated list of PromQL label matchers, with
// or without braces: `namespace="inference", job=~"router|gateway"`. Values
// are double-quoted or back-quoted PromQL strings. An empty string gives no
// matchers.
func ParseMatchers(s string) ([]Matcher, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		if !strings.HasSuffix(s, "}") {
			return nil, errors.New("unbalanced braces")
		}
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	var out []Matcher
	for s != "" {
		n := 0
		for n < len(s) && isLabelChar(s[n], n == 0) {
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("at %q: want a label name", clip(s))
		}
		m := Matcher{Name: s[:n]}
		s = strings.TrimLeft(s[n:], " \t")
		for _, op := range []string{MatchRegexp, MatchNotRegexp, MatchNotEqual, MatchEqual} {
			if strings.HasPrefix(s, op) {
				m.Op = op
				break
			}
		}
		if m.Op == "" {
			return nil, fmt.Errorf("label %s: want one of = != =~ !~ at %q", m.Name, clip(s))
		}
		s = strings.TrimLeft(s[len(m.Op):], " \t")
		if s == "" || (s[0] != '"' && s[0] != '`') {
			return nil, fmt.Errorf("label %s: want a quoted value at %q", m.Name, clip(s))
		}
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return nil, fmt.Errorf("label %s: bad quoted value at %q", m.Name, clip(s))
		}
		if m.Value, err = strconv.Unquote(q); err != nil {
			return nil, fmt.Errorf("label %s: %w", m.Name, err)
		}
		if err := m.validate(); err != nil {
			return nil, err
		}
		out = append(out, m)
		s = strings.TrimLeft(s[len(q):], " \t")
		if s == "" {
			break
		}
		if s[0] != ',' {
			return nil, fmt.Errorf("after label %s: want a comma at %q", m.Name, clip(s))
		}
		s = strings.TrimLeft(s[1:], " \t")
	}
	return out, nil
}

// FormatMatchers renders ms as ParseMatchers reads them, without braces.
func FormatMatchers(ms []Matcher) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return strings.Join(parts, ",")
}

func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

func isLabelChar(c byte, first bool) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || (!first && '0' <= c && c <= '9')
}

// validLabelName is Prometheus's classic label name rule,
// [a-zA-Z_][a-zA-Z0-9_]*, which every Prometheus version accepts unquoted.
func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLabelChar(s[i], i == 0) {
			return false
		}
	}
	return true
}

// validMetricName is the classic metric name rule, [a-zA-Z_:][a-zA-Z0-9_:]*.
func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != ':' && !isLabelChar(s[i], i == 0) {
			return false
		}
	}
	return true
}
