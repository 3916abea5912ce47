package catalog

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Placement is one MIG GPU instance at an exact memory-slice start.
type Placement struct {
	Profile string `json:"profile"`
	Start   int    `json:"start"`
}

// Layout is the set of GPU instances on one GPU, sorted by start.
type Layout []Placement

// String renders a layout as "3g.40gb@0+2g.20gb@4+1g.10gb@6".
func (l Layout) String() string {
	if len(l) == 0 {
		return "empty"
	}
	parts := make([]string, len(l))
	for i, p := range l {
		parts[i] = fmt.Sprintf("%s@%d", p.Profile, p.Start)
	}
	return strings.Join(parts, "+")
}

// Counts returns how many instances of each profile the layout holds, the
// form mig-parted's `mig-devices` takes.
func (l Layout) Counts() map[string]int {
	out := map[string]int{}
	for _, p := range l {
		out[p.Profile]++
	}
	return out
}

// LayoutError says why a layout is illegal on a GPU.
type LayoutError struct {
	GPU    string
	Layout Layout
	Reason string
}

func (e *LayoutError) Error() string {
	return fmt.Sprintf("layout %s on %s: %s", e.Layout, e.GPU, e.Reason)
}

// ValidateLayout checks a layout against the GPU's MIG placement rules: every
// profile exists and starts at an allowed position, memory slices do not
// overlap and stay within the GPU, and compute slices add up to at most 7.
// It returns a *LayoutError naming the first rule broken.
func (g *GPU) ValidateLayout(l Layout) error {
	fail := func(format string, args ...any) error {
		return &LayoutError{GPU: g.Name, Layout: l, Reason: fmt.Sprintf(format, args...)}
	}
	if !g.MIG {
		if len(l) == 0 {
			return nil
		}
		return fail("GPU has no MIG")
	}
	var used uint16
	compute := 0
	for _, pl := range l {
		p, ok := g.Profile(pl.Profile)
		if !ok || p.Memory == 0 {
			return fail("unknown MIG profile %q", pl.Profile)
		}
		if !slices.Contains(p.Starts, pl.Start) {
			return fail("%s may not start at memory slice %d (allowed: %v)", p.Name, pl.Start, p.Starts)
		}
		if pl.Start+p.Memory > MemorySlices {
			return fail("%s at %d runs past memory slice %d", p.Name, pl.Start, MemorySlices-1)
		}
		mask := sliceMask(pl.Start, p.Memory)
		if used&mask != 0 {
			return fail("%s at %d overlaps another instance's memory slices", p.Name, pl.Start)
		}
		used |= mask
		compute += p.Compute
	}
	if compute > ComputeSlices {
		return fail("uses %d compute slices, more than %d", compute, ComputeSlices)
	}
	return nil
}

func sliceMask(start, n int) uint16 {
	return uint16((1<<n)-1) << start
}

// Layouts returns every legal non-empty layout of the GPU, in a
// deterministic order. With maximalOnly it keeps only layouts to which no
// further instance can be added. A GPU without MIG has none.
func (g *GPU) Layouts(maximalOnly bool) []Layout {
	if !g.MIG {
		return nil
	}
	var out []Layout
	var cur Layout
	// Instances are added in order of (start, profile index) so each set is
	// produced once.
	var rec func(minStart, minProfile int, used uint16, compute int)
	rec = func(minStart, minProfile int, used uint16, compute int) {
		extended := false
		for start := 0; start < MemorySlices; start++ {
			for pi, p := range g.Profiles {
				if !g.fits(p, start, used, compute) {
					continue
				}
				extended = true
				if start < minStart || (start == minStart && pi < minProfile) {
					continue
				}
				cur = append(cur, Placement{Profile: p.Name, Start: start})
				rec(start, pi+1, used|sliceMask(start, p.Memory), compute+p.Compute)
				cur = cur[:len(cur)-1]
			}
		}
		if len(cur) > 0 && (!maximalOnly || !extended) {
			out = append(out, slices.Clone(cur))
		}
	}
	rec(0, 0, 0, 0)
	return out
}

func (g *GPU) fits(p Profile, start int, used uint16, compute int) bool {
	return slices.Contains(p.Starts, start) && start+p.Memory <= MemorySlices &&
		used&sliceMask(start, p.Memory) == 0 && compute+p.Compute <= ComputeSlices
}

// Place finds a legal start for one more instance of profile on a GPU that
// already holds layout l. ok is false when it does not fit.
func (g *GPU) Place(l Layout, profile string) (Layout, bool) {
	p, found := g.Profile(profile)
	if !found || p.Memory == 0 {
		return nil, false
	}
	var used uint16
	compute := 0
	for _, pl := range l {
		q, _ := g.Profile(pl.Profile)
		used |= sliceMask(pl.Start, q.Memory)
		compute += q.Compute
	}
	// Prefer the highest legal start: small instances fill the top of the
	// GPU so the low starts stay free for 4g and 7g, which can only start at 0.
	for i := len(p.Starts) - 1; i >= 0; i-- {
		if g.fits(p, p.Starts[i], used, compute) {
			out := append(slices.Clone(l), Placement{Profile: p.Name, Start: p.Starts[i]})
			slices.SortFunc(out, func(a, b Placement) int { return a.Start - b.Start })
			return out, true
		}
	}
	return nil, false
}

// LayoutFor finds a legal layout holding exactly counts[profile] instances
// of each profile (the form of a mig-parted `mig-devices` entry or a
// mig-fixed nodegroup's layout), placing the largest instances first and
// backtracking over starts, so it finds one whenever one exists. ok is false
// for unknown profiles, negative counts or counts that fit no layout.
func (g *GPU) LayoutFor(counts map[string]int) (l Layout, ok bool) {
	var want []Profile
	compute := 0
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		p, found := g.Profile(name)
		if !found || p.Memory == 0 || counts[name] < 0 {
			return nil, false
		}
		for range counts[name] {
			want = append(want, p)
			compute += p.Compute
		}
	}
	if compute > ComputeSlices || len(want) > MemorySlices {
		return nil, false
	}
	slices.SortStableFunc(want, func(a, b Profile) int { return b.Memory - a.Memory })
	var place func(i int, used uint16) bool
	place = func(i int, used uint16) bool {
		if i == len(want) {
			return true
		}
		p := want[i]
		for _, s := range p.Starts {
			mask := sliceMask(s, p.Memory)
			if s+p.Memory > MemorySlices || used&mask != 0 {
				continue
			}
			l = append(l, Placement{Profile: p.Name, Start: s})
			if place(i+1, used|mask) {
				return true
			}
			l = l[:len(l)-1]
		}
		return false
	}
	if !place(0, 0) {
		return nil, false
	}
	slices.SortFunc(l, func(a, b Placement) int { return a.Start - b.Start })
	return l, g.ValidateLayout(l) == nil
}
