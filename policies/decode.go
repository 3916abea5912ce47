package policies

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"
)

// pos is a 1-based line and column in a policy file.
type pos struct{ line, col int }

// docIndex remembers where one document came from and where each field it
// set sits, so a finding about a field path can point at its line.
type docIndex struct {
	file   string
	object string // "ModelClass/reader-de"
	start  pos
	fields map[string]pos // field path -> position of its value
	// bad holds the paths that failed to decode: they were reported once
	// and later checks stay quiet about them.
	bad map[string]bool
}

// at returns the position of path, or of its nearest ancestor that the file
// set (a defaulted field has no position of its own), or the document start.
func (d *docIndex) at(path string) pos {
	for p := path; p != ""; p = parentPath(p) {
		if q, ok := d.fields[p]; ok {
			return q
		}
	}
	return d.start
}

// has reports whether the file set path explicitly.
func (d *docIndex) has(path string) bool {
	_, ok := d.fields[path]
	return ok
}

// parentPath strips the last segment: "a.b[2]" -> "a.b" -> "a" -> "".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// decoder turns a YAML node tree into Go values strictly: every unknown
// field, wrong type and duplicate key becomes a finding at its line, and
// decoding goes on so one run reports everything. It follows the json tags
// of the schema types, so YAML and JSON spell fields the same way.
type decoder struct {
	idx      *docIndex
	findings *[]Finding
	budget   int // nodes left to visit; bounds alias expansion
}

var (
	durationType = reflect.TypeFor[Duration]()
	quantityType = reflect.TypeFor[resource.Quantity]()
)

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	if d.idx.bad == nil {
		d.idx.bad = map[string]bool{}
	}
	d.idx.bad[path] = true
	*d.findings = append(*d.findings, Finding{
		File: d.idx.file, Line: n.Line, Column: n.Column, Object: d.idx.object,
		Field: path, Message: fmt.Sprintf(format, args...),
	})
}

// decode fills v from n. path names v for findings.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	if d.budget--; d.budget < 0 {
		if d.budget == -1 {
			d.fail(n, path, "document too large or too many alias expansions; simplify it")
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.fail(n, path, "alias without anchor")
			return
		}
		n = n.Alias
	}
	if path != "" {
		d.idx.fields[path] = pos{n.Line, n.Column}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an explicit null leaves the default
	}
	switch v.Type() {
	case durationType:
		d.decodeDuration(n, path, v)
		return
	case quantityType:
		s, ok := d.scalar(n, path, "a quantity such as \"14Gi\" or \"500m\"")
		if !ok {
			return
		}
		q, err := resource.ParseQuantity(s)
		if err != nil {
			d.fail(n, path, "invalid quantity %q: want a number with an optional unit such as 14Gi, 512Mi or 500m", s)
			return
		}
		v.Set(reflect.ValueOf(q))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		e := reflect.New(v.Type().Elem())
		d.decode(n, path, e.Elem())
		v.Set(e)
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		d.decodeMap(n, path, v)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Int:
		var i int64
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
			d.fail(n, path, "want an integer, got %s", describe(n))
			return
		}
		if i > math.MaxInt32 || i < math.MinInt32 {
			d.fail(n, path, "integer %d out of range", i)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil {
			d.fail(n, path, "want a number, got %s", describe(n))
			return
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			d.fail(n, path, "want a finite number, got %s", n.Value)
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			d.fail(n, path, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	default:
		d.fail(n, path, "internal: cannot decode into %s", v.Type())
	}
}

// scalar returns n's text. Numbers and booleans are accepted as strings
// ("maxUnavailable: 1"); mappings and lists are not.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want %s, got %s", want, describe(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) decodeDuration(n *yaml.Node, path string, v reflect.Value) {
	s, ok := d.scalar(n, path, "a duration such as \"90s\" or \"10m\"")
	if !ok {
		return
	}
	if n.Tag != "!!str" && s != "0" {
		d.fail(n, path, "bare number %s is ambiguous: write a duration with a unit, such as \"%ss\" or \"%sms\"", s, s, s)
		return
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.fail(n, path, "invalid duration %q: want a number with a unit, such as \"90s\", \"10m\" or \"1h30m\"", s)
		return
	}
	v.Set(reflect.ValueOf(Duration{dur}))
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "keys must be plain strings, got %s", describe(k))
			continue
		}
		fp := joinPath(path, keyPath(k.Value))
		if prev, dup := seen[k.Value]; dup {
			d.fail(k, fp, "duplicate key (first at line %d); remove one", prev.Line)
			continue
		}
		seen[k.Value] = k
		idx, ok := fields.byName[k.Value]
		if !ok {
			d.fail(k, fp, "unknown field %s%s", excerpt(k.Value), suggest(k.Value, fields.names))
			continue
		}
		d.decode(val, fp, v.FieldByIndex(idx))
	}
}

func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			d.fail(k, path, "keys must be non-empty plain strings, got %s", describe(k))
			continue
		}
		fp := fmt.Sprintf("%s[%s]", path, keyPath(k.Value))
		key := reflect.ValueOf(k.Value)
		if m.MapIndex(key).IsValid() {
			d.fail(k, fp, "duplicate key %s; remove one", excerpt(k.Value))
			continue
		}
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, fp, e)
		m.SetMapIndex(key, e)
	}
	v.Set(m)
}

// keyPath is a key as a field path segment: itself, or an excerpt when
// it is long, so a hostile key cannot stretch the finding's line
// (Finding.sanitize escapes what it holds).
func keyPath(key string) string {
	if len(key) <= 2*maxExcerpt {
		return key
	}
	return excerpt(key)
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// describe names a node's YAML type for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.Tag {
	case "!!str":
		return "string " + excerpt(n.Value)
	case "!!int", "!!float":
		if len(n.Value) <= maxExcerpt {
			return "number " + n.Value
		}
		return "number " + excerpt(n.Value)
	case "!!bool":
		return "boolean " + n.Value
	case "!!null":
		return "null"
	}
	return excerpt(strings.TrimPrefix(n.Tag, "!!")) + " " + excerpt(n.Value)
}

// structFields maps the json names of a struct's fields to their index.
type structFields struct {
	byName map[string][]int
	names  []string // sorted, for suggestions
}

var fieldCache sync.Map // reflect.Type -> *structFields; read-only after fill

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{byName: map[string][]int{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if !sf.IsExported() || name == "-" || name == "" {
			continue
		}
		f.byName[name] = sf.Index
		f.names = append(f.names, name)
	}
	sort.Strings(f.names)
	fieldCache.Store(t, f)
	return f
}

// suggest returns ` (did you mean "x"?)` for the known name closest to s,
// or the list of known names when none is close.
func suggest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if strings.EqualFold(k, s) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
		if dist := editDistance(strings.ToLower(s), strings.ToLower(k)); dist < bestD {
			best, bestD = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return fmt.Sprintf(" (known: %s)", strings.Join(known, ", "))
}

// editDistance is the Levenshtein distance of a and b, capped in cost by
// the short names it is used on.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
