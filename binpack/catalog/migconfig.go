package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// MIG configs: the one form in which headroom names, reads and publishes a
// node's MIG layout. The scaler and binpack produce them, the Kubernetes
// adapter writes them into the mig-parted ConfigMap and the
// nvidia.com/mig.config label, and the simulator's MIG manager reads them
// back the way the GPU operator's does.
//
// Names (the nvidia.com/mig.config value):
//
//	all-disabled                       MIG off on every GPU (whole GPUs)
//	all-2x3g.40gb                      every GPU the same, profiles largest first:
//	all-1x4g.40gb-1x3g.40gb            "<count>x<profile>" joined by "-"
//	all-3g.40gb                        mig-parted's stock names: as many as fit
//	headroom-1a2b3c4d                  GPUs differ: an FNV-1a hash of the layouts,
//	                                   readable only from the published ConfigMap
//
// A name that is none of these (a mig-fixed nodegroup's own name, or a
// hashed one) is known only through the configs published in the mig-parted
// ConfigMap; ResolveMIGConfig looks there first.

// MIGDisabledName is mig-parted's stock config with MIG off on every GPU.
const MIGDisabledName = "all-disabled"

// MIGConfig is one named MIG configuration: mig-parted's `mig-configs`
// entry, a list of device groups each with its per-GPU profile counts.
type MIGConfig struct {
	Name    string
	Entries []MIGEntry
}

// MIGEntry is one device group of a mig-parted config.
type MIGEntry struct {
	// Devices are the GPU indexes the entry applies to; nil is mig-parted's
	// "all".
	Devices MIGDevices `json:"devices"`
	// DeviceFilter is mig-parted's optional PCI device-id filter; headroom
	// writes none and keeps any it reads.
	DeviceFilter json.RawMessage `json:"device-filter,omitempty"`
	MIGEnabled   bool            `json:"mig-enabled"`
	// MIGDevices counts the instances of each profile on every GPU of the
	// entry (mig-parted's mig-devices).
	MIGDevices map[string]int `json:"mig-devices,omitempty"`
}

// MIGDevices is a mig-parted `devices` value: "all" (nil) or GPU indexes.
type MIGDevices []int

// MarshalJSON writes "all" for nil.
func (d MIGDevices) MarshalJSON() ([]byte, error) {
	if d == nil {
		return []byte(`"all"`), nil
	}
	return json.Marshal([]int(d))
}

// UnmarshalJSON reads "all" or a list of non-negative indexes.
func (d *MIGDevices) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != "all" {
			return fmt.Errorf("devices: want \"all\" or a list of GPU indexes, got %q", s)
		}
		*d = nil
		return nil
	}
	var idx []int
	if err := json.Unmarshal(b, &idx); err != nil {
		return errors.New("devices: want \"all\" or a list of GPU indexes")
	}
	if len(idx) == 0 {
		return errors.New("devices: empty list")
	}
	for _, i := range idx {
		if i < 0 {
			return fmt.Errorf("devices: negative GPU index %d", i)
		}
	}
	*d = idx
	return nil
}

// MIGDisabled is the config with MIG off on every GPU.
func MIGDisabled() MIGConfig {
	return MIGConfig{Name: MIGDisabledName, Entries: []MIGEntry{{MIGEnabled: false}}}
}

// UniformMIG is the config giving every GPU the same per-GPU profile counts;
// no MIG profile (nil, or only ProfileWhole) is MIGDisabled.
func UniformMIG(counts map[string]int) MIGConfig {
	c := migCounts(counts)
	if len(c) == 0 {
		return MIGDisabled()
	}
	return MIGConfig{Name: "all-" + countsKey(c), Entries: []MIGEntry{{MIGEnabled: true, MIGDevices: c}}}
}

// NodeMIG is the config for a node whose GPU i holds perGPU[i] (an empty map
// is a GPU with MIG off). Every GPU the same gives UniformMIG's name;
// otherwise the name is headroom-<hash> and GPUs with the same counts share
// an entry, in GPU order.
func NodeMIG(perGPU []map[string]int) MIGConfig {
	keys := make([]string, len(perGPU))
	for i, c := range perGPU {
		keys[i] = countsKey(migCounts(c))
	}
	if len(perGPU) == 0 || allSame(keys) {
		if len(perGPU) == 0 {
			return MIGDisabled()
		}
		return UniformMIG(perGPU[0])
	}
	h := fnv.New32a()
	h.Write([]byte(strings.Join(keys, "|")))
	cfg := MIGConfig{Name: fmt.Sprintf("headroom-%08x", h.Sum32())}
	index := map[string]int{}
	for i, k := range keys {
		e, ok := index[k]
		if !ok {
			c := migCounts(perGPU[i])
			cfg.Entries = append(cfg.Entries, MIGEntry{Devices: MIGDevices{}, MIGEnabled: len(c) > 0})
			if len(c) > 0 {
				cfg.Entries[len(cfg.Entries)-1].MIGDevices = c
			}
			e = len(cfg.Entries) - 1
			index[k] = e
		}
		cfg.Entries[e].Devices = append(cfg.Entries[e].Devices, i)
	}
	return cfg
}

// FixedMIG is a mig-fixed nodegroup's config: its own name, the same counts
// on every GPU.
func FixedMIG(name string, counts map[string]int) MIGConfig {
	c := UniformMIG(counts)
	c.Name = name
	return c
}

// PerGPU returns the profile counts of each of a node's gpus GPUs (an empty
// map for a GPU with MIG off, or one no entry covers). The first entry that
// names a GPU wins, so a config with device filters resolves to its first
// matching group.
func (c MIGConfig) PerGPU(gpus int) []map[string]int {
	out := make([]map[string]int, gpus)
	for _, e := range c.Entries {
		for i := range gpus {
			if out[i] != nil || (e.Devices != nil && !slices.Contains(e.Devices, i)) {
				continue
			}
			out[i] = map[string]int{}
			if e.MIGEnabled {
				maps.Copy(out[i], e.MIGDevices)
			}
		}
	}
	for i := range out {
		if out[i] == nil {
			out[i] = map[string]int{}
		}
	}
	return out
}

// Same reports whether two configs give each of gpus GPUs the same counts.
func (c MIGConfig) Same(o MIGConfig, gpus int) bool {
	a, b := c.PerGPU(gpus), o.PerGPU(gpus)
	for i := range a {
		if countsKey(a[i]) != countsKey(b[i]) {
			return false
		}
	}
	return true
}

// Validate checks the config against a GPU model and a node's GPU count:
// every entry's counts form a legal layout on one GPU (GPU.LayoutFor),
// indexes are below gpus, and MIG is enabled only on a MIG-capable GPU.
func (c MIGConfig) Validate(gpu *GPU, gpus int) error {
	if len(c.Entries) == 0 {
		return fmt.Errorf("MIG config %q: no device entries", c.Name)
	}
	for _, e := range c.Entries {
		for _, i := range e.Devices {
			if i >= gpus {
				return fmt.Errorf("MIG config %q: GPU index %d, but the node has %d GPUs", c.Name, i, gpus)
			}
		}
		if !e.MIGEnabled {
			continue
		}
		if !gpu.MIG {
			return fmt.Errorf("MIG config %q: %s has no MIG", c.Name, gpu.Name)
		}
		if len(e.MIGDevices) == 0 {
			return fmt.Errorf("MIG config %q: MIG enabled with no mig-devices", c.Name)
		}
		if _, ok := gpu.LayoutFor(e.MIGDevices); !ok {
			return fmt.Errorf("MIG config %q: %s does not fit one %s (unknown profile, or no legal placement)", c.Name, countsKey(e.MIGDevices), gpu.Name)
		}
	}
	return nil
}

// ParseMIGConfigName reads a config from its name alone: all-disabled,
// all-<n>x<profile>[-<n>x<profile>...], or mig-parted's stock
// all-<profile> (as many as fit on gpu). Counts are checked against gpu
// when it is not nil. Any other name is an error: it can only be resolved
// from the published configs (ResolveMIGConfig).
func ParseMIGConfigName(name string, gpu *GPU) (MIGConfig, error) {
	if name == MIGDisabledName {
		return MIGDisabled(), nil
	}
	rest, ok := strings.CutPrefix(name, "all-")
	if !ok || rest == "" {
		return MIGConfig{}, &MIGNameError{Name: name, Reason: "not a name headroom can read (want all-disabled, all-<n>x<profile>[-...] or all-<profile>); it must be published in the mig-parted ConfigMap"}
	}
	counts := map[string]int{}
	stock := ""
	for part := range strings.SplitSeq(rest, "-") {
		n, prof, hasX := strings.Cut(part, "x")
		if !hasX || !isDigits(n) {
			stock = part
			continue
		}
		v, err := strconv.Atoi(n)
		if err != nil || v <= 0 || v > MemorySlices {
			return MIGConfig{}, &MIGNameError{Name: name, Reason: fmt.Sprintf("bad count in %q", part)}
		}
		if _, dup := counts[prof]; dup || prof == "" {
			return MIGConfig{}, &MIGNameError{Name: name, Reason: fmt.Sprintf("profile %q empty or repeated", prof)}
		}
		counts[prof] = v
	}
	switch {
	case stock != "" && (len(counts) > 0 || strings.Count(rest, "-") > 0):
		return MIGConfig{}, &MIGNameError{Name: name, Reason: fmt.Sprintf("part %q is not <count>x<profile>", stock)}
	case stock != "":
		if gpu == nil {
			return MIGConfig{}, &MIGNameError{Name: name, Reason: "a stock name (as many as fit) needs the GPU model"}
		}
		p, ok := gpu.Profile(stock)
		if !ok || p.Memory == 0 {
			return MIGConfig{}, &MIGNameError{Name: name, Reason: fmt.Sprintf("unknown MIG profile %q on %s", stock, gpu.Name)}
		}
		counts[stock] = p.MaxPerGPU()
		cfg := UniformMIG(counts)
		cfg.Name = name
		return cfg, nil
	}
	cfg := UniformMIG(counts)
	if cfg.Name != name {
		return MIGConfig{}, &MIGNameError{Name: name, Reason: fmt.Sprintf("not in canonical order (want %q)", cfg.Name)}
	}
	if gpu != nil {
		if err := cfg.Validate(gpu, 1); err != nil {
			return MIGConfig{}, &MIGNameError{Name: name, Reason: err.Error()}
		}
	}
	return cfg, nil
}

// ResolveMIGConfig finds a node's config: among the published configs
// first (the mig-parted ConfigMap), else from its name.
func ResolveMIGConfig(name string, published map[string]MIGConfig, gpu *GPU) (MIGConfig, error) {
	if c, ok := published[name]; ok {
		return c, nil
	}
	return ParseMIGConfigName(name, gpu)
}

// MIGNameError says why a nvidia.com/mig.config name cannot be read.
type MIGNameError struct {
	Name, Reason string
}

func (e *MIGNameError) Error() string { return fmt.Sprintf("MIG config %q: %s", e.Name, e.Reason) }

// MIGPartedVersion is the mig-parted config file version headroom writes.
const MIGPartedVersion = "v1"

type migPartedFile struct {
	Version    string                `json:"version"`
	MIGConfigs map[string][]MIGEntry `json:"mig-configs"`
}

// ParseMIGParted reads a mig-parted config file (the ConfigMap's config.yaml:
// `version: v1`, `mig-configs:`), strictly: unknown fields and bad entries
// are errors.
func ParseMIGParted(data []byte) (map[string]MIGConfig, error) {
	var f migPartedFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("mig-parted config: %w", err)
	}
	if f.Version != MIGPartedVersion {
		return nil, fmt.Errorf("mig-parted config: version %q, want %q", f.Version, MIGPartedVersion)
	}
	out := make(map[string]MIGConfig, len(f.MIGConfigs))
	for name, entries := range f.MIGConfigs {
		if len(entries) == 0 {
			return nil, fmt.Errorf("mig-parted config %q: no device entries", name)
		}
		for _, e := range entries {
			for p, n := range e.MIGDevices {
				if n <= 0 || p == "" {
					return nil, fmt.Errorf("mig-parted config %q: mig-devices %q: %d", name, p, n)
				}
			}
		}
		out[name] = MIGConfig{Name: name, Entries: entries}
	}
	return out, nil
}

// WriteMIGParted renders configs as a mig-parted config file, names sorted.
func WriteMIGParted(configs map[string]MIGConfig) ([]byte, error) {
	f := migPartedFile{Version: MIGPartedVersion, MIGConfigs: map[string][]MIGEntry{}}
	for name, c := range configs {
		if name != c.Name || name == "" {
			return nil, fmt.Errorf("mig-parted config: key %q holds config %q", name, c.Name)
		}
		f.MIGConfigs[name] = c.Entries
	}
	return yaml.Marshal(f)
}

// ResourceName is the Kubernetes extended resource a replica on profile
// requests, with the device plugin's mixed strategy: nvidia.com/mig-<profile>
// for a MIG slice, nvidia.com/gpu for a whole or time-sliced GPU.
func ResourceName(profile string) string {
	switch profile {
	case ProfileWhole, ProfileTimeSliced:
		return "nvidia.com/gpu"
	}
	return "nvidia.com/mig-" + profile
}

// migCounts drops zero counts and the non-MIG profile names.
func migCounts(counts map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range counts {
		if v > 0 && k != ProfileWhole && k != ProfileTimeSliced {
			out[k] = v
		}
	}
	return out
}

// countsKey renders profile counts largest compute first, ties by name
// descending: "1x4g.40gb-1x3g.40gb"; "" for none.
func countsKey(c map[string]int) string {
	names := make([]string, 0, len(c))
	for k, v := range c {
		if v > 0 {
			names = append(names, k)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		if x, y := profileCompute(a), profileCompute(b); x != y {
			return y - x
		}
		return strings.Compare(b, a)
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%dx%s", c[n], n)
	}
	return strings.Join(parts, "-")
}

// profileCompute reads the compute slices from a profile name ("3g.40gb" -> 3).
func profileCompute(name string) int {
	n, _, _ := strings.Cut(name, "g")
	v, _ := strconv.Atoi(n)
	return v
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func allSame(keys []string) bool {
	for _, k := range keys {
		if k != keys[0] {
			return false
		}
	}
	return true
}
