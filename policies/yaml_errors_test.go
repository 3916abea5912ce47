package policies

import "testing"

// TestYAMLSyntaxErrorLines: syntax errors point at the line where the broken
// construct starts (yaml.v3 reports some 0-based; the loader corrects them).
func TestYAMLSyntaxErrorLines(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"a: 1\nb: [1, 2\nc: 3\n", "x.yaml:2:1: invalid YAML: did not find expected ',' or ']'"},
		{"a: 1\nb:\n  c: 1\n d: 2\n", "x.yaml:4:1: invalid YAML: did not find expected key"},
		{"a: 1\nb: c: d\n", "x.yaml:2:1: invalid YAML: mapping values are not allowed in this context"},
		{"a: 1\n\n\nb: *nope\n", "x.yaml:4:1: invalid YAML: unknown anchor 'nope' referenced"},
		{"a: 1\nb: \"open\n", "x.yaml:2:1: invalid YAML: found unexpected end of stream"},
	}
	for _, tt := range tests {
		_, err := Parse("x.yaml", []byte(tt.src))
		fs := FindingsOf(err)
		if len(fs) != 1 || fs[0].String() != tt.want {
			t.Errorf("%q: got %v, want %s", tt.src, fs, tt.want)
		}
	}
}
