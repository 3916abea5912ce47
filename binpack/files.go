package binpack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// File kinds and the apiVersion they carry.
const (
	FileAPIVersion   = "headroom.dev/v1alpha1"
	KindDemand       = "Demand"
	KindClusterState = "ClusterState"
	KindProblem      = "PackingProblem"
)

// Demand is the demand file: what each class must serve now, read by
// `headroom pack --demand`. See docs/binpack.md.
type Demand struct {
	APIVersion string `yaml:"apiVersion" json:"apiVersion"`
	Kind       string `yaml:"kind" json:"kind"`
	// ChangeCost is Problem.ChangeCost; nil keeps DefaultChangeCost.
	ChangeCost *float64      `yaml:"changeCost,omitempty" json:"changeCost,omitempty"`
	Classes    []ClassDemand `yaml:"classes" json:"classes"`
}

// DefaultChangeCost is the $/h a plan must save per running replica it
// moves, when the problem or demand does not say: about a 3g.40gb slice's
// share of a p5.48xlarge (55.04 $/h / 8 GPUs / 2 slices = 3.44), so a move
// must pay for the slice it frees. The controller's packer and `headroom
// pack` use this one default.
const DefaultChangeCost = 3.44

// ClassDemand is one class's demand: Rate requests/s at its SLO, or
// Replicas. Capacity overrides the per-replica capacity frompolicy.Problem derives
// from the class's service profiles. Line is where the entry starts.
type ClassDemand struct {
	Name     string           `yaml:"name" json:"name"`
	Rate     *float64         `yaml:"rate,omitempty" json:"rate,omitempty"`
	Replicas *int             `yaml:"replicas,omitempty" json:"replicas,omitempty"`
	Capacity []CapacityRecord `yaml:"capacity,omitempty" json:"capacity,omitempty"`
	Line     int              `yaml:"-" json:"-"`
}

// CapacityRecord is the requests/s one replica of a class serves within its
// SLO on one GPU slice profile, as profiling measures it: also the GPU
// memory a replica needs on that profile (MemoryGiB, in place of the
// class's one gpuMemory), or that the model does not fit it at all
// (Fits false: too little memory, or the SLO cannot be met there).
type CapacityRecord struct {
	GPU     string  `yaml:"gpu" json:"gpu"`
	Profile string  `yaml:"profile" json:"profile"`
	Rate    float64 `yaml:"rate,omitempty" json:"rate,omitempty"`
	// MemoryGiB, when set, is the GPU memory one replica needs on this
	// profile; Rate may then be left out (the policy's rule gives it).
	MemoryGiB *float64 `yaml:"memoryGiB,omitempty" json:"memoryGiB,omitempty"`
	// Fits false leaves the profile out for the class; nil or true is the
	// default.
	Fits *bool `yaml:"fits,omitempty" json:"fits,omitempty"`
}

// NoFit reports whether the record says the model does not fit the
// profile.
func (cr CapacityRecord) NoFit() bool { return cr.Fits != nil && !*cr.Fits }

// check validates one capacity record; the message names the field.
func (cr CapacityRecord) check() string {
	what := fmt.Sprintf("capacity for %s %s", cr.GPU, cr.Profile)
	switch {
	case cr.GPU == "" || cr.Profile == "":
		return what + ": gpu and profile are required"
	case cr.NoFit() && (cr.Rate != 0 || cr.MemoryGiB != nil):
		return what + ": fits: false takes no rate or memoryGiB"
	case cr.NoFit():
		return ""
	case cr.MemoryGiB != nil && (math.IsNaN(*cr.MemoryGiB) || math.IsInf(*cr.MemoryGiB, 0) || *cr.MemoryGiB <= 0):
		return fmt.Sprintf("%s: memoryGiB must be a positive number of GiB, got %v", what, *cr.MemoryGiB)
	case cr.MemoryGiB != nil && cr.Rate == 0:
		return ""
	case math.IsNaN(cr.Rate) || math.IsInf(cr.Rate, 0) || cr.Rate <= 0:
		return fmt.Sprintf("%s: rate must be a positive number of requests/s, got %v", what, cr.Rate)
	}
	return ""
}

// FileError is a problem in an input file, with its line.
type FileError struct {
	File string
	Line int
	Msg  string
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// MaxFileBytes is the largest demand, state or problem file the parsers
// take (16 MiB): a demand for thousands of classes is a few hundred KB.
// Readers should read at most one byte more, so an endless input such as
// /dev/zero ends as this error.
const MaxFileBytes = 16 << 20

// decodeStrict decodes one YAML (or JSON) document into v, rejecting
// unknown fields, and checks apiVersion and kind. Errors carry the line.
func decodeStrict(name string, data []byte, kind string, v any) (*yaml.Node, error) {
	if len(data) > MaxFileBytes {
		return nil, &FileError{File: name, Msg: fmt.Sprintf("file is larger than %d bytes (binpack.MaxFileBytes)", MaxFileBytes)}
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &FileError{File: name, Msg: "empty file"}
		}
		return nil, &FileError{File: name, Msg: yamlMsg(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &FileError{File: name, Line: extra.Line, Msg: "more than one document; want exactly one"}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return nil, &FileError{File: name, Line: doc.Line, Msg: "want a mapping with apiVersion, kind and fields"}
	}
	var head struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
	}
	_ = doc.Decode(&head)
	if head.APIVersion != FileAPIVersion {
		return nil, &FileError{File: name, Line: doc.Line, Msg: fmt.Sprintf("apiVersion %q: want %s", head.APIVersion, FileAPIVersion)}
	}
	if head.Kind != kind {
		return nil, &FileError{File: name, Line: doc.Line, Msg: fmt.Sprintf("kind %q: want %s", head.Kind, kind)}
	}
	// Decode again, strictly.
	sd := yaml.NewDecoder(bytes.NewReader(data))
	sd.KnownFields(true)
	if err := sd.Decode(v); err != nil {
		return nil, &FileError{File: name, Msg: yamlMsg(err)}
	}
	return doc, nil
}

// yamlMsg turns yaml.v3's errors into one line ("line 7: field rat not
// found in type binpack.ClassDemand"), with 1-based lines.
func yamlMsg(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// seqLines returns the line of each item of the sequence under key.
func seqLines(doc *yaml.Node, key string) []int {
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value == key && doc.Content[i+1].Kind == yaml.SequenceNode {
			var out []int
			for _, it := range doc.Content[i+1].Content {
				out = append(out, it.Line)
			}
			return out
		}
	}
	return nil
}

// ParseDemand reads a demand file (YAML or JSON): strict, every error with
// its line. It checks numbers and duplicates; whether each class exists is
// FromPolicy's job.
func ParseDemand(name string, data []byte) (*Demand, error) {
	var d Demand
	doc, err := decodeStrict(name, data, KindDemand, &d)
	if err != nil {
		return nil, err
	}
	lines := seqLines(doc, "classes")
	var errs []error
	seen := map[string]int{}
	for i := range d.Classes {
		c := &d.Classes[i]
		if i < len(lines) {
			c.Line = lines[i]
		}
		fail := func(format string, args ...any) {
			errs = append(errs, &FileError{File: name, Line: c.Line, Msg: fmt.Sprintf("class %q: ", c.Name) + fmt.Sprintf(format, args...)})
		}
		switch {
		case c.Name == "":
			fail("name is empty")
		case seen[c.Name] > 0:
			fail("listed twice (first at line %d)", seen[c.Name])
		}
		seen[c.Name] = c.Line
		switch {
		case c.Rate == nil && c.Replicas == nil:
			fail("set rate (requests/s) or replicas")
		case c.Rate != nil && c.Replicas != nil:
			fail("set rate or replicas, not both")
		case c.Rate != nil && (math.IsNaN(*c.Rate) || math.IsInf(*c.Rate, 0) || *c.Rate < 0):
			fail("rate must be a finite non-negative number of requests/s, got %v", *c.Rate)
		case c.Replicas != nil && *c.Replicas < 0:
			fail("replicas must not be negative, got %d", *c.Replicas)
		}
		profiles := map[string]bool{}
		for _, cr := range c.Capacity {
			if msg := cr.check(); msg != "" {
				fail("%s", msg)
			}
			if key := cr.GPU + " " + cr.Profile; profiles[key] {
				fail("capacity for %s listed twice", key)
			} else {
				profiles[key] = true
			}
		}
	}
	if d.ChangeCost != nil && badNumber(*d.ChangeCost) {
		errs = append(errs, &FileError{File: name, Msg: fmt.Sprintf("changeCost must be a finite non-negative number, got %v", *d.ChangeCost)})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &d, nil
}

// StateFile is the current-state file read by `headroom pack --current`:
// the nodes that run now, their GPU layouts and where replicas sit. A
// plan's nodes (headroom pack -o yaml) have the same shape.
type StateFile struct {
	APIVersion string      `yaml:"apiVersion" json:"apiVersion"`
	Kind       string      `yaml:"kind" json:"kind"`
	Nodes      []StateNode `yaml:"nodes" json:"nodes"`
}

// StateNode is one node of the current state.
type StateNode struct {
	Name      string     `yaml:"name" json:"name"`
	NodeGroup string     `yaml:"nodeGroup" json:"nodeGroup"`
	MIGConfig string     `yaml:"migConfig,omitempty" json:"migConfig,omitempty"`
	GPUs      []StateGPU `yaml:"gpus" json:"gpus"`
}

// StateGPU is one GPU: its MIG layout (none for whole or time-sliced GPUs)
// and the replicas on it.
type StateGPU struct {
	Index  int              `yaml:"index" json:"index"`
	Layout []StatePlacement `yaml:"layout,omitempty" json:"layout,omitempty"`
	Slots  []StateSlot      `yaml:"slots,omitempty" json:"slots,omitempty"`
}

// StatePlacement is one MIG instance at its memory-slice start.
type StatePlacement struct {
	Profile string `yaml:"profile" json:"profile"`
	Start   int    `yaml:"start" json:"start"`
}

// StateSlot is one replica.
type StateSlot struct {
	Class   string `yaml:"class" json:"class"`
	Profile string `yaml:"profile" json:"profile"`
	Start   int    `yaml:"start" json:"start"`
}

// ParseState reads a current-state file (YAML or JSON), strict, with line
// numbers in errors. It checks the file's own consistency (names, duplicate
// GPUs, slots that match the layout); the solver checks nodegroups and
// layouts against the catalog.
func ParseState(name string, data []byte) (*State, error) {
	var f StateFile
	doc, err := decodeStrict(name, data, KindClusterState, &f)
	if err != nil {
		return nil, err
	}
	lines := seqLines(doc, "nodes")
	var errs []error
	st := &State{}
	seen := map[string]bool{}
	for i, n := range f.Nodes {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		fail := func(format string, args ...any) {
			errs = append(errs, &FileError{File: name, Line: line, Msg: fmt.Sprintf("node %q: ", n.Name) + fmt.Sprintf(format, args...)})
		}
		if n.Name == "" || n.NodeGroup == "" {
			fail("name and nodeGroup are required")
		}
		if seen[n.Name] {
			fail("listed twice")
		}
		seen[n.Name] = true
		node := Node{Name: n.Name, NodeGroup: n.NodeGroup, MIGConfig: n.MIGConfig}
		idx := map[int]bool{}
		for _, g := range n.GPUs {
			if idx[g.Index] || g.Index < 0 {
				fail("GPU index %d is negative or listed twice", g.Index)
			}
			idx[g.Index] = true
			gpu := GPU{Index: g.Index}
			for _, p := range g.Layout {
				gpu.Layout = append(gpu.Layout, catalog.Placement{Profile: p.Profile, Start: p.Start})
			}
			for _, s := range g.Slots {
				if s.Class == "" {
					fail("GPU %d: a slot has no class", g.Index)
				}
				gpu.Slots = append(gpu.Slots, Slot(s))
			}
			node.GPUs = append(node.GPUs, gpu)
		}
		st.Nodes = append(st.Nodes, node)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return st, nil
}

// ProblemFile is a self-contained packing problem, for `headroom pack
// --problem` and the tests: classes with their options and nodegroups,
// without policy files.
type ProblemFile struct {
	APIVersion  string      `yaml:"apiVersion" json:"apiVersion"`
	Kind        string      `yaml:"kind" json:"kind"`
	ChangeCost  float64     `yaml:"changeCost,omitempty" json:"changeCost,omitempty"`
	CostCeiling float64     `yaml:"costCeiling,omitempty" json:"costCeiling,omitempty"`
	Classes     []FileClass `yaml:"classes" json:"classes"`
	NodeGroups  []FileGroup `yaml:"nodeGroups" json:"nodeGroups"`
}

// FileClass is Class in a problem file.
type FileClass struct {
	Name                string       `yaml:"name" json:"name"`
	Tenant              string       `yaml:"tenant,omitempty" json:"tenant,omitempty"`
	Rate                float64      `yaml:"rate,omitempty" json:"rate,omitempty"`
	Replicas            int          `yaml:"replicas,omitempty" json:"replicas,omitempty"`
	MinReplicas         int          `yaml:"minReplicas,omitempty" json:"minReplicas,omitempty"`
	Options             []FileOption `yaml:"options" json:"options"`
	NodeGroups          []string     `yaml:"nodeGroups,omitempty" json:"nodeGroups,omitempty"`
	Spot                string       `yaml:"spot,omitempty" json:"spot,omitempty"`
	MinOnDemandFraction float64      `yaml:"minOnDemandFraction,omitempty" json:"minOnDemandFraction,omitempty"`
}

// FileOption is Option in a problem file. Fits false says the model does
// not fit the profile (as profiling data does): the option is left out,
// with the reason in the plan.
type FileOption struct {
	GPU       string  `yaml:"gpu" json:"gpu"`
	Profile   string  `yaml:"profile" json:"profile"`
	Capacity  float64 `yaml:"capacity,omitempty" json:"capacity,omitempty"`
	MemoryGiB float64 `yaml:"memoryGiB,omitempty" json:"memoryGiB,omitempty"`
	Fits      *bool   `yaml:"fits,omitempty" json:"fits,omitempty"`
}

// fileOptions turns a problem file's options into a class's, leaving out
// those marked fits: false (with a note); an error names the option and
// field.
func fileOptions(c FileClass) (opts []Option, notes []string, err error) {
	for i, o := range c.Options {
		if o.Fits != nil && !*o.Fits {
			if o.Capacity != 0 || o.MemoryGiB != 0 {
				return nil, nil, fmt.Errorf("option %d (%s %s): fits: false takes no capacity or memoryGiB", i, o.GPU, o.Profile)
			}
			notes = append(notes, fmt.Sprintf("%s %s: the model does not fit (fits: false)", o.GPU, o.Profile))
			continue
		}
		opts = append(opts, Option{GPU: o.GPU, Profile: o.Profile, Capacity: o.Capacity, MemoryGiB: o.MemoryGiB})
	}
	return opts, notes, nil
}

// FileGroup is NodeGroup in a problem file; Layout is mig-parted's counts.
type FileGroup struct {
	Name         string         `yaml:"name" json:"name"`
	InstanceType string         `yaml:"instanceType" json:"instanceType"`
	CapacityType string         `yaml:"capacityType,omitempty" json:"capacityType,omitempty"`
	Mode         string         `yaml:"mode,omitempty" json:"mode,omitempty"`
	Layout       map[string]int `yaml:"layout,omitempty" json:"layout,omitempty"`
	LayoutName   string         `yaml:"layoutName,omitempty" json:"layoutName,omitempty"`
	TimeSlices   int            `yaml:"timeSlices,omitempty" json:"timeSlices,omitempty"`
	Min          int            `yaml:"min" json:"min"`
	Max          int            `yaml:"max" json:"max"`
	Tenants      []string       `yaml:"tenants,omitempty" json:"tenants,omitempty"`
	Price        float64        `yaml:"price,omitempty" json:"price,omitempty"`
}

// ParseProblem reads a problem file (YAML or JSON), strict, with lines.
// Mig-fixed layouts given as counts are placed with LayoutFromCounts.
func ParseProblem(name string, data []byte, cat *catalog.Catalog) (*Problem, error) {
	var f ProblemFile
	doc, err := decodeStrict(name, data, KindProblem, &f)
	if err != nil {
		return nil, err
	}
	if cat == nil {
		cat = catalog.Default()
	}
	p := &Problem{Catalog: cat, ChangeCost: f.ChangeCost, CostCeiling: f.CostCeiling}
	lines := seqLines(doc, "classes")
	for i, c := range f.Classes {
		cl := Class{Name: c.Name, Tenant: c.Tenant, Rate: c.Rate, Replicas: c.Replicas, MinReplicas: c.MinReplicas,
			NodeGroups: c.NodeGroups, Spot: c.Spot, MinOnDemandFraction: c.MinOnDemandFraction}
		opts, notes, err := fileOptions(c)
		if err != nil {
			fe := &FileError{File: name, Msg: fmt.Sprintf("class %q: %v", c.Name, err)}
			if i < len(lines) {
				fe.Line = lines[i]
			}
			return nil, fe
		}
		cl.Options, cl.Notes = opts, notes
		p.Classes = append(p.Classes, cl)
	}
	for _, g := range f.NodeGroups {
		ng := NodeGroup{Name: g.Name, InstanceType: g.InstanceType, CapacityType: g.CapacityType, Mode: g.Mode,
			LayoutName: g.LayoutName, TimeSlices: g.TimeSlices, Min: g.Min, Max: g.Max, Tenants: g.Tenants, Price: g.Price}
		if len(g.Layout) > 0 {
			l, err := LayoutFromCounts(cat, g.InstanceType, g.Layout)
			if err != nil {
				return nil, &FileError{File: name, Msg: fmt.Sprintf("nodegroup %q: %v", g.Name, err)}
			}
			ng.Layout = l
		}
		p.NodeGroups = append(p.NodeGroups, ng)
	}
	return p, nil
}

// LayoutFromCounts finds a legal placement of mig-parted style counts
// ({"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}) on the GPU of an instance
// type: the first enumerated legal layout with exactly those counts.
func LayoutFromCounts(cat *catalog.Catalog, instanceType string, counts map[string]int) (catalog.Layout, error) {
	it, ok := cat.Instance(instanceType)
	if !ok || it.GPU == "" {
		return nil, fmt.Errorf("instance type %q has no GPU in the catalog", instanceType)
	}
	gpu, _ := cat.GPU(it.GPU)
	for name := range counts {
		if p, ok := gpu.Profile(name); !ok || p.Memory == 0 {
			return nil, fmt.Errorf("layout %v: %s has no MIG profile %q", counts, gpu.Name, name)
		}
	}
	want := fmt.Sprint(counts)
	for _, l := range gpu.Layouts(false) {
		if fmt.Sprint(l.Counts()) == want {
			return l, nil
		}
	}
	return nil, fmt.Errorf("layout %v does not fit on a %s", counts, gpu.Name)
}
