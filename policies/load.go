package policies

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Limits bound what a load reads, so a stray or hostile file cannot exhaust
// memory. Exceeding one is a finding, not a crash.
type Limits struct {
	// MaxFileBytes is the largest policy file read. Default 1 MiB.
	MaxFileBytes int64
	// MaxFiles is the most policy files in one directory. Default 256.
	MaxFiles int
	// MaxDocuments is the most YAML documents in one file. Default 256.
	MaxDocuments int
	// MaxNodes is the most YAML nodes decoded per document, aliases
	// expanded. Default 100000.
	MaxNodes int
}

// DefaultLimits returns the limits Load uses.
func DefaultLimits() Limits {
	return Limits{MaxFileBytes: 1 << 20, MaxFiles: 256, MaxDocuments: 256, MaxNodes: 100000}
}

// Loader reads policy directories with explicit limits. The zero value uses
// DefaultLimits.
type Loader struct {
	Limits Limits
}

func (l Loader) limits() Limits {
	d := DefaultLimits()
	if l.Limits.MaxFileBytes > 0 {
		d.MaxFileBytes = l.Limits.MaxFileBytes
	}
	if l.Limits.MaxFiles > 0 {
		d.MaxFiles = l.Limits.MaxFiles
	}
	if l.Limits.MaxDocuments > 0 {
		d.MaxDocuments = l.Limits.MaxDocuments
	}
	if l.Limits.MaxNodes > 0 {
		d.MaxNodes = l.Limits.MaxNodes
	}
	return d
}

// Load reads every *.yaml and *.yml file directly in dir (not in
// subdirectories, and not hidden files), merges their documents into one
// Policy, applies defaults and validates it. When the policy has findings it
// returns a nil Policy and a *FindingsError carrying all of them; other
// errors are I/O errors.
func Load(dir string) (*Policy, error) { return Loader{}.Load(dir) }

// LoadFiles is Load for an explicit list of files.
func LoadFiles(paths ...string) (*Policy, error) { return Loader{}.LoadFiles(paths...) }

// Parse loads a policy from one file's content; name is used in findings.
func Parse(name string, data []byte) (*Policy, error) { return Loader{}.Parse(name, data) }

// Load is the package-level Load with l's limits.
func (l Loader) Load(dir string) (*Policy, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("reading policy directory: %w", err)
	}
	if !st.IsDir() {
		return l.LoadFiles(dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading policy directory: %w", err)
	}
	var paths []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		if ext := filepath.Ext(name); ext == ".yaml" || ext == ".yml" {
			paths = append(paths, filepath.Join(dir, name))
		}
	}
	if len(paths) == 0 {
		return nil, &FindingsError{Findings: []Finding{{File: dir, Message: "no *.yaml or *.yml policy files in this directory"}}}
	}
	return l.LoadFiles(paths...)
}

// LoadFiles is the package-level LoadFiles with l's limits.
func (l Loader) LoadFiles(paths ...string) (*Policy, error) {
	lim := l.limits()
	paths = slices.Sorted(slices.Values(paths)) // a sorted copy: the caller's slice stays as it was
	var ins []input
	var findings []Finding
	if len(paths) > lim.MaxFiles {
		findings = append(findings, Finding{File: paths[lim.MaxFiles], Message: fmt.Sprintf("more than %d policy files; split the policy or raise the limit", lim.MaxFiles)})
		paths = paths[:lim.MaxFiles]
	}
	for _, p := range paths {
		data, err := readLimited(p, lim.MaxFileBytes)
		if errors.Is(err, errTooLarge) {
			findings = append(findings, Finding{File: p, Line: 1, Column: 1, Message: fmt.Sprintf("file is larger than %d bytes; a policy file should be small, split it", lim.MaxFileBytes)})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading policy file: %w", err)
		}
		ins = append(ins, input{name: p, data: data})
	}
	return build(ins, lim, findings)
}

// Parse is the package-level Parse with l's limits.
func (l Loader) Parse(name string, data []byte) (*Policy, error) {
	lim := l.limits()
	if int64(len(data)) > lim.MaxFileBytes {
		return nil, &FindingsError{Findings: []Finding{{File: name, Line: 1, Column: 1, Message: fmt.Sprintf("file is larger than %d bytes; a policy file should be small, split it", lim.MaxFileBytes)}}}
	}
	return build([]input{{name: name, data: data}}, lim, nil)
}

var errTooLarge = errors.New("file too large")

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errTooLarge
	}
	return data, nil
}

type input struct {
	name string
	data []byte
}

// build parses, merges, defaults and validates.
func build(ins []input, lim Limits, findings []Finding) (*Policy, error) {
	p := &Policy{index: map[string]*docIndex{}}
	for _, in := range ins {
		findings = parseFile(p, in, lim, findings)
	}
	sort.Slice(p.Classes, func(i, j int) bool { return p.Classes[i].Name < p.Classes[j].Name })
	sort.Slice(p.NodeGroups, func(i, j int) bool { return p.NodeGroups[i].Name < p.NodeGroups[j].Name })
	findings = append(findings, preDefaultChecks(p)...)
	Default(p)
	findings = append(findings, Validate(p)...)
	if len(findings) > 0 {
		sortFindings(findings)
		return nil, &FindingsError{Findings: findings}
	}
	return p, nil
}

var (
	yamlLine      = regexp.MustCompile(`line (\d+)`)
	unknownAnchor = regexp.MustCompile(`unknown anchor '([^']*)' referenced`)
)

// parseFile decodes every document of one file into p.
func parseFile(p *Policy, in input, lim Limits, findings []Finding) (out []Finding) {
	out = findings
	defer func() {
		// The YAML parser is not ours; if it ever panics on odd input,
		// report the file instead of crashing the linter.
		if r := recover(); r != nil {
			p.partial = true
			out = append(out, Finding{File: in.name, Line: 1, Column: 1, Message: fmt.Sprintf("cannot parse YAML: %v", r)})
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(in.data))
	for n := 0; ; n++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			return out
		}
		if err != nil {
			line := 1
			if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
				line, _ = strconv.Atoi(m[1])
			}
			p.partial = true
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			msg = strings.TrimPrefix(msg, fmt.Sprintf("line %d: ", line))
			if strings.HasPrefix(msg, "did not find expected") {
				// yaml.v3 reports parser (not scanner) errors with a
				// 0-based line; scanner errors are 1-based.
				line++
			}
			if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
				// This error has no line; find the alias in the text.
				if i := bytes.Index(in.data, []byte("*"+m[1])); i >= 0 {
					line = 1 + bytes.Count(in.data[:i], []byte("\n"))
				}
			}
			return append(out, Finding{File: in.name, Line: line, Column: 1, Message: "invalid YAML: " + msg})
		}
		if n >= lim.MaxDocuments {
			return append(out, Finding{File: in.name, Line: doc.Line, Column: 1, Message: fmt.Sprintf("more than %d documents in one file; split it", lim.MaxDocuments)})
		}
		if len(doc.Content) == 0 {
			continue // an empty document, e.g. a trailing "---"
		}
		out = decodeDocument(p, in.name, doc.Content[0], lim, out)
	}
}

// decodeDocument reads one apiVersion/kind/metadata/spec document.
func decodeDocument(p *Policy, file string, root *yaml.Node, lim Limits, findings []Finding) []Finding {
	idx := &docIndex{file: file, start: pos{root.Line, root.Column}, fields: map[string]pos{}}
	d := &decoder{idx: idx, findings: &findings, budget: lim.MaxNodes}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return findings
	}
	if root.Kind != yaml.MappingNode {
		d.fail(root, "", "a policy document must be a mapping with apiVersion, kind, metadata and spec, got %s", describe(root))
		return findings
	}
	var env struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Metadata   Metadata `json:"metadata"`
	}
	var specNode *yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k, "", "keys must be plain strings, got %s", describe(k))
			continue
		}
		if seen[k.Value] {
			d.fail(k, k.Value, "duplicate key; remove one")
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "apiVersion":
			d.decode(v, "apiVersion", reflect.ValueOf(&env.APIVersion).Elem())
		case "kind":
			d.decode(v, "kind", reflect.ValueOf(&env.Kind).Elem())
		case "metadata":
			d.decode(v, "metadata", reflect.ValueOf(&env.Metadata).Elem())
		case "spec":
			specNode = v
		default:
			d.fail(k, k.Value, "unknown field %q%s", k.Value, suggest(k.Value, []string{"apiVersion", "kind", "metadata", "spec"}))
		}
	}
	switch {
	case !seen["apiVersion"]:
		d.fail(root, "apiVersion", "missing; set apiVersion: %s", APIVersion)
	case env.APIVersion != APIVersion:
		d.fail(valueNode(root, "apiVersion"), "apiVersion", "unsupported apiVersion %q; this headroom reads %s", env.APIVersion, APIVersion)
		return findings
	}
	var target reflect.Value
	switch env.Kind {
	case KindCluster:
		target = reflect.ValueOf(&Cluster{}).Elem()
	case KindModelClass:
		target = reflect.ValueOf(&ModelClass{}).Elem()
	case KindNodeGroup:
		target = reflect.ValueOf(&NodeGroup{}).Elem()
	case "":
		d.fail(root, "kind", "missing; set kind to %s, %s or %s", KindCluster, KindModelClass, KindNodeGroup)
		return findings
	default:
		d.fail(valueNode(root, "kind"), "kind", "unknown kind %q%s", env.Kind, suggest(env.Kind, []string{KindCluster, KindModelClass, KindNodeGroup}))
		return findings
	}
	name := env.Metadata.Name
	idx.object = env.Kind + "/" + name
	if name == "" {
		d.fail(root, "metadata.name", "missing; every %s needs a name", env.Kind)
	} else if msg := checkName(name); msg != "" {
		d.fail(valueNode(root, "metadata"), "metadata.name", "%s", msg)
	}
	target.FieldByName("Name").SetString(name)
	if env.Kind != KindCluster {
		target.FieldByName("Labels").Set(reflect.ValueOf(env.Metadata.Labels))
	} else if env.Metadata.Labels != nil {
		d.fail(valueNode(valueNode(root, "metadata"), "labels"), "metadata.labels", "a Cluster has no labels headroom uses; remove them")
	}
	src := Source{File: file, Line: root.Line}
	target.FieldByName("Source").Set(reflect.ValueOf(src))
	if specNode == nil {
		if env.Kind != KindCluster {
			d.fail(root, "spec", "missing; a %s needs a spec", env.Kind)
		}
	} else {
		d.decode(specNode, "spec", target.FieldByName("Spec"))
	}
	return mergeDocument(p, env.Kind, target, idx, findings)
}

// mergeDocument adds one decoded document to p, reporting duplicates at the
// second place with a pointer to the first.
func mergeDocument(p *Policy, kind string, v reflect.Value, idx *docIndex, findings []Finding) []Finding {
	key := indexKey(kind, v.FieldByName("Name").String())
	if kind == KindCluster {
		key = indexKey(KindCluster, "")
	}
	if prev, dup := p.index[key]; dup {
		what := fmt.Sprintf("duplicate %s %q", kind, v.FieldByName("Name").String())
		if kind == KindCluster {
			what = "a second Cluster document; a policy has at most one"
		}
		return append(findings, Finding{File: idx.file, Line: idx.start.line, Column: idx.start.col, Object: idx.object,
			Field: "metadata.name", Message: fmt.Sprintf("%s (first defined at %s:%d); rename or remove one", what, prev.file, prev.start.line)})
	}
	p.index[key] = idx
	switch x := v.Addr().Interface().(type) {
	case *Cluster:
		p.Cluster = *x
	case *ModelClass:
		p.Classes = append(p.Classes, *x)
	case *NodeGroup:
		p.NodeGroups = append(p.NodeGroups, *x)
	}
	return findings
}

func indexKey(kind, name string) string { return kind + "/" + name }

// valueNode returns the value of key in mapping m, or m when key is absent.
func valueNode(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return m
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// checkName enforces Kubernetes DNS-1123 label names: the class and
// nodegroup names become label values and resource names.
func checkName(name string) string {
	if len(name) > 63 {
		return fmt.Sprintf("name %q is longer than 63 characters", name)
	}
	if !nameRE.MatchString(name) {
		return fmt.Sprintf("name %q must be lowercase letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return ""
}
