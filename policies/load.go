package policies

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

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
//
// Every file is read through an os.Root on dir: a symbolic link may point
// to another file in the directory (a Kubernetes ConfigMap mount is made
// of such links) but never out of it, so a pull request that adds
// "zz.yaml -> /etc/passwd" gets a finding, not the file's content in the
// CI log. Entries that are not regular files (named pipes, devices,
// directories) are findings too, and are never opened: reading a named
// pipe would block for ever.
func (l Loader) Load(dir string) (*Policy, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("reading policy directory: %w", err)
	}
	if !st.IsDir() {
		return l.LoadFiles(dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("reading policy directory: %w", err)
	}
	defer root.Close()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading policy directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		if ext := filepath.Ext(name); ext == ".yaml" || ext == ".yml" {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, &FindingsError{Findings: []Finding{{File: dir, Message: "no *.yaml or *.yml policy files in this directory"}}}
	}
	return l.load(names, func(name string) string { return filepath.Join(dir, name) },
		func(name string) ([]byte, string) { return readPolicyFile(root, name, l.limits().MaxFileBytes) })
}

// LoadFiles is the package-level LoadFiles with l's limits. The caller
// named the files, so they may be anywhere; they must still be regular
// files.
func (l Loader) LoadFiles(paths ...string) (*Policy, error) {
	return l.load(paths, func(path string) string { return path },
		func(path string) ([]byte, string) { return readPolicyFile(nil, path, l.limits().MaxFileBytes) })
}

// load reads the named files in sorted order with read, which returns a
// file's content or a problem with the file; path names a file in findings.
func (l Loader) load(names []string, path func(name string) string, read func(name string) (data []byte, problem string)) (*Policy, error) {
	lim := l.limits()
	names = slices.Sorted(slices.Values(names)) // a sorted copy: the caller's slice stays as it was
	var ins []input
	var findings []Finding
	if len(names) > lim.MaxFiles {
		findings = append(findings, Finding{File: path(names[lim.MaxFiles]), Message: fmt.Sprintf("more than %d policy files; split the policy or raise the limit", lim.MaxFiles)})
		names = names[:lim.MaxFiles]
	}
	for _, n := range names {
		data, problem := read(n)
		if problem != "" {
			findings = append(findings, Finding{File: path(n), Line: 1, Column: 1, Message: problem})
			continue
		}
		ins = append(ins, input{name: path(n), data: data})
	}
	return build(ins, lim, findings)
}

// Parse is the package-level Parse with l's limits.
func (l Loader) Parse(name string, data []byte) (*Policy, error) {
	lim := l.limits()
	if int64(len(data)) > lim.MaxFileBytes {
		return nil, &FindingsError{Findings: []Finding{{File: name, Line: 1, Column: 1, Message: tooLarge(lim.MaxFileBytes)}}}
	}
	return build([]input{{name: name, data: data}}, lim, nil)
}

func tooLarge(limit int64) string {
	return fmt.Sprintf("file is larger than %d bytes; a policy file should be small, split it", limit)
}

// readPolicyFile reads one policy file of at most limit bytes. With root
// set, name is relative to it and may not leave it. What is wrong with the
// file itself (a link out of the directory or in a loop, not a regular
// file, unreadable, too large) comes back as a problem, a finding's
// message, so one bad entry does not hide the others.
func readPolicyFile(root *os.Root, name string, limit int64) ([]byte, string) {
	stat, open := os.Stat, os.Open
	if root != nil {
		stat, open = root.Stat, root.Open
	}
	st, err := stat(name)
	if err != nil {
		return nil, fileProblem(root, name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Sprintf("not a regular file (%s); policy files must be regular files", fileType(st.Mode()))
	}
	f, err := open(name)
	if err != nil {
		return nil, fileProblem(root, name, err)
	}
	defer f.Close()
	// The entry may have changed between Stat and Open; check what was
	// opened (a named pipe opens at once only when a writer is there).
	if ost, err := f.Stat(); err != nil || !os.SameFile(st, ost) {
		return nil, "the file changed while it was read; run again"
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fileProblem(root, name, err)
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(limit)
	}
	return data, ""
}

// fileProblem says why name could not be read, without its content or
// the target of a link.
func fileProblem(root *os.Root, name string, err error) string {
	link := false
	if root != nil {
		if lst, lerr := root.Lstat(name); lerr == nil && lst.Mode()&fs.ModeSymlink != 0 {
			link = true
		}
	}
	switch {
	case errors.Is(err, syscall.ELOOP):
		return "symbolic link loop; remove the link"
	case link && errors.Is(err, fs.ErrNotExist):
		return "symbolic link to a file that does not exist; remove the link"
	case link && !errors.Is(err, fs.ErrPermission):
		// os.Root refuses a path that leaves it with an unexported
		// error; any other failure to follow a link lands here too.
		return "symbolic link leads outside the policy directory; policy files must be inside it (a link to another file in the directory is fine)"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is the finding's file already
	}
	return fmt.Sprintf("cannot read: %v", err)
}

// fileType names a non-regular file's type.
func fileType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "type " + m.Type().String()
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
	for i := range findings {
		findings[i] = findings[i].sanitize()
	}
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
			msg = clip(msg, maxMessageBytes/2)
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
			d.fail(k, keyPath(k.Value), "unknown field %s%s", excerpt(k.Value), suggest(k.Value, []string{"apiVersion", "kind", "metadata", "spec"}))
		}
	}
	switch {
	case !seen["apiVersion"]:
		d.fail(root, "apiVersion", "missing; set apiVersion: %s", APIVersion)
	case env.APIVersion != APIVersion:
		d.fail(valueNode(root, "apiVersion"), "apiVersion", "unsupported apiVersion %s; this headroom reads %s", excerpt(env.APIVersion), APIVersion)
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
		d.fail(valueNode(root, "kind"), "kind", "unknown kind %s%s", excerpt(env.Kind), suggest(env.Kind, []string{KindCluster, KindModelClass, KindNodeGroup}))
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
