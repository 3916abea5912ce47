package policies

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones work in minimal containers without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// ServiceProfile returns the class's measured profile for a GPU and slice
// profile ("" and ProfileCPU for CPU replicas).
func (c *ModelClass) ServiceProfile(gpu, profile string) (*ServiceProfile, bool) {
	for i := range c.Spec.Profiles {
		pr := &c.Spec.Profiles[i]
		if pr.GPU == gpu && pr.Profile == profile {
			return pr, true
		}
	}
	return nil, false
}

// Option is one way a class can run: one of its service profiles on one
// nodegroup that offers that slice. The packer chooses among options.
type Option struct {
	NodeGroup *NodeGroup
	Profile   *ServiceProfile
	// Instance is the nodegroup's catalog instance type.
	Instance *catalog.InstanceType
	// Slice is the catalog profile (usable memory, MIG geometry); zero for
	// CPU options.
	Slice catalog.Profile
	// Spot says the option runs on spot capacity.
	Spot bool
}

// Rejection says why a nodegroup cannot host a class.
type Rejection struct {
	NodeGroup string `json:"nodeGroup"`
	Reason    string `json:"reason"`
}

// Options lists every (nodegroup, profile) pair the class may run on, in
// nodegroup then profile order, and why each other candidate nodegroup was
// rejected. Candidates are the class's placement.nodeGroups, or every
// nodegroup when it lists none.
func (p *Policy) Options(c *ModelClass) ([]Option, []Rejection) {
	return p.options(c, p.catalog())
}

func (p *Policy) options(c *ModelClass, cat *catalog.Catalog) ([]Option, []Rejection) {
	var opts []Option
	var rej []Rejection
	for _, name := range p.candidates(c) {
		ng, ok := p.NodeGroup(name)
		if !ok {
			rej = append(rej, Rejection{name, "no such nodegroup"})
			continue
		}
		o, why := p.optionsOn(c, ng, cat)
		if len(o) == 0 {
			rej = append(rej, Rejection{name, why})
		}
		opts = append(opts, o...)
	}
	return opts, rej
}

// NodeGroupsFor returns the nodegroups the class may run on (those with at
// least one Option), sorted by name.
func (p *Policy) NodeGroupsFor(c *ModelClass) []*NodeGroup {
	opts, _ := p.Options(c)
	var out []*NodeGroup
	for _, o := range opts {
		if len(out) == 0 || out[len(out)-1] != o.NodeGroup {
			out = append(out, o.NodeGroup)
		}
	}
	return out
}

func (p *Policy) candidates(c *ModelClass) []string {
	if len(c.Spec.Placement.NodeGroups) > 0 {
		return c.Spec.Placement.NodeGroups
	}
	names := make([]string, len(p.NodeGroups))
	for i := range p.NodeGroups {
		names[i] = p.NodeGroups[i].Name
	}
	return names
}

// optionsOn returns the class's options on one nodegroup, or none and why.
func (p *Policy) optionsOn(c *ModelClass, ng *NodeGroup, cat *catalog.Catalog) ([]Option, string) {
	pl := c.Spec.Placement
	spot := ng.Spec.CapacityType == CapacitySpot
	switch {
	case cat == nil:
		return nil, "the catalog is invalid (see spec.catalog findings)"
	case spot && pl.Spot == SpotNever:
		return nil, "it is a spot nodegroup and the class has placement.spot: never"
	case ng.Spec.GPU.Mode == GPUModeTimeSliced && !pl.TimeShared.Allowed:
		return nil, "it is time-sliced and the class does not set placement.timeShared.allowed"
	}
	if t := ng.Spec.Tenant; t != "" && !slices.Equal(c.Spec.Tenants, []string{t}) {
		return nil, fmt.Sprintf("it is dedicated to tenant %q and the class serves %s", t, tenantList(c.Spec.Tenants))
	}
	if pl.DedicatedPool && (ng.Spec.Tenant == "" || len(c.Spec.Tenants) != 1) {
		return nil, "the class has placement.dedicatedPool and the nodegroup has no spec.tenant"
	}
	it, ok := cat.Instance(ng.Spec.InstanceType)
	if !ok {
		return nil, fmt.Sprintf("instance type %q is not in the catalog", ng.Spec.InstanceType)
	}
	var gpu *catalog.GPU
	if it.GPU != "" {
		gpu, _ = cat.GPU(it.GPU)
	}
	need := c.Spec.GPUMemory.AsApproximateFloat64() / (1 << 30)
	var opts []Option
	var reasons []string
	for i := range c.Spec.Profiles {
		pr := &c.Spec.Profiles[i]
		slice, ok := offers(ng, gpu, pr)
		if !ok {
			continue
		}
		if pr.Profile != ProfileCPU && need > slice.UsableGiB {
			reasons = append(reasons, fmt.Sprintf("gpuMemory %.2f GiB does not fit %s (%.2f GiB usable)", need, pr.Profile, slice.UsableGiB))
			continue
		}
		opts = append(opts, Option{NodeGroup: ng, Profile: pr, Instance: it, Slice: slice, Spot: spot})
	}
	if len(opts) == 0 && len(reasons) == 0 {
		reasons = append(reasons, fmt.Sprintf("it offers %s and the class has no profile for it", ng.Offering(cat)))
	}
	return opts, strings.Join(reasons, "; ")
}

// offers reports whether a nodegroup with GPU gpu (nil for CPU-only) can
// give a replica the slice a service profile needs, and that slice.
func offers(ng *NodeGroup, gpu *catalog.GPU, pr *ServiceProfile) (catalog.Profile, bool) {
	mode := ng.Spec.GPU.Mode
	if pr.Profile == ProfileCPU {
		return catalog.Profile{Name: ProfileCPU}, pr.GPU == "" && mode == GPUModeNone
	}
	if gpu == nil || pr.GPU != gpu.Name {
		return catalog.Profile{}, false
	}
	slice, ok := gpu.Profile(pr.Profile)
	if !ok {
		return catalog.Profile{}, false
	}
	switch mode {
	case GPUModeWhole:
		ok = pr.Profile == catalog.ProfileWhole
	case GPUModeTimeSliced:
		ok = pr.Profile == catalog.ProfileTimeSliced
		if ng.Spec.GPU.Replicas > 0 {
			// Nothing isolates memory on a time-sliced GPU: each share
			// gets an equal part of it.
			slice.UsableGiB = gpu.MemoryGiB / float64(ng.Spec.GPU.Replicas)
		}
	case GPUModeMIGDynamic:
		ok = slice.Memory > 0
	case GPUModeMIGFixed:
		ok = ng.Spec.GPU.Layout != nil && ng.Spec.GPU.Layout.Devices[pr.Profile] > 0
	default:
		ok = false
	}
	return slice, ok
}

// Offering describes what a nodegroup's nodes give replicas, for messages:
// "H100-80GB MIG profiles (chosen by headroom)".
func (ng *NodeGroup) Offering(cat *catalog.Catalog) string {
	gpuName := "?"
	if cat != nil {
		if it, ok := cat.Instance(ng.Spec.InstanceType); ok {
			gpuName = it.GPU
		}
	}
	g := ng.Spec.GPU
	switch g.Mode {
	case GPUModeNone:
		return "CPU only (profile cpu)"
	case GPUModeWhole:
		return gpuName + " whole GPUs"
	case GPUModeTimeSliced:
		return fmt.Sprintf("%s time-sliced %d ways", gpuName, g.Replicas)
	case GPUModeMIGDynamic:
		return gpuName + " MIG profiles (layouts chosen by headroom)"
	case GPUModeMIGFixed:
		if g.Layout != nil {
			return fmt.Sprintf("%s MIG layout %s (%s)", gpuName, g.Layout.Name, formatCounts(g.Layout.Devices))
		}
	}
	return gpuName + " " + g.Mode
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%dx %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

func tenantList(ts []string) string {
	if len(ts) == 0 {
		return "every tenant"
	}
	return "tenants " + strings.Join(ts, ", ")
}

// HorizonOn is how far ahead the class must plan for capacity on one
// nodegroup: spec.scaling.forecast.horizon when set, else the time a new
// replica needs there when no node is free: node boot + MIG re-partition
// (MIG modes) + model load (which includes the image pull).
func (p *Policy) HorizonOn(c *ModelClass, ng *NodeGroup) time.Duration {
	if h := c.Spec.Scaling.Forecast.Horizon.Duration; h > 0 {
		return h
	}
	h := ng.Spec.BootTime.Duration + c.Spec.Model.LoadTime.Duration
	if ng.Spec.GPU.IsMIG() {
		h += ng.Spec.GPU.RepartitionTime.Duration
	}
	return h
}

// Horizon is the class's planning horizon: the longest HorizonOn over the
// nodegroups it may run on, so capacity is planned early enough wherever it
// lands. Without any nodegroup it is the model load time.
func (p *Policy) Horizon(c *ModelClass) time.Duration {
	if h := c.Spec.Scaling.Forecast.Horizon.Duration; h > 0 {
		return h
	}
	h := c.Spec.Model.LoadTime.Duration
	for _, ng := range p.NodeGroupsFor(c) {
		h = max(h, p.HorizonOn(c, ng))
	}
	return h
}

// MinReplicasAt is the class's replica floor at now: spec.scaling
// minReplicas raised by every scheduled minimum whose window holds now,
// capped at maxReplicas. A scheduled minimum with an unparsable cron or time
// zone is ignored here (lint reports it).
func (c *ModelClass) MinReplicasAt(now time.Time) int {
	sc := c.Spec.Scaling
	floor := max(sc.MinReplicas, 0)
	for _, sm := range sc.ScheduledMinimums {
		if sm.MinReplicas <= floor {
			continue
		}
		if active, err := sm.sched.active(sm.Cron, sm.TimeZone, sm.Duration.Duration, now); err == nil && active {
			floor = sm.MinReplicas
		}
	}
	if sc.MaxReplicas > 0 {
		floor = min(floor, sc.MaxReplicas)
	}
	return floor
}

// AllowedAt reports whether voluntary disruption may happen at now: always
// when no windows are set, else when one of them is open.
func (d Disruption) AllowedAt(now time.Time) bool {
	if len(d.Windows) == 0 {
		return true
	}
	for _, w := range d.Windows {
		if ok, err := w.sched.active(w.Cron, w.TimeZone, w.Duration.Duration, now); err == nil && ok {
			return true
		}
	}
	return false
}

// parseSchedule parses a standard 5-field cron expression (or a descriptor
// such as @daily) evaluated in the IANA time zone tz ("" = UTC).
func parseSchedule(expr, tz string) (*cron.SpecSchedule, error) {
	if strings.Contains(expr, "TZ=") {
		return nil, fmt.Errorf("put the time zone in timeZone, not in the cron expression")
	}
	if strings.HasPrefix(strings.TrimSpace(expr), "@every") {
		return nil, fmt.Errorf("@every has no fixed start time; write a 5-field cron expression")
	}
	loc, err := loadLocation(tz)
	if err != nil {
		return nil, err
	}
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid cron expression %q: %v; want 5 fields: minute hour day-of-month month day-of-week, e.g. \"30 8 * * 1-5\"", expr, err)
	}
	spec, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("unsupported cron expression %q", expr)
	}
	spec.Location = loc
	return spec, nil
}

func loadLocation(tz string) (*time.Location, error) {
	switch tz {
	case "":
		return time.UTC, nil
	case "Local":
		return nil, fmt.Errorf("time zone Local depends on the machine headroom runs on; name the zone, e.g. Europe/Berlin")
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: want an IANA name such as Europe/Berlin or UTC", tz)
	}
	return loc, nil
}

// compiled caches a parsed schedule with the expression and zone it was
// parsed from, so the scaler's per-tick lookups do not re-parse cron
// expressions or re-read time zone files.
type compiled struct {
	expr, tz string
	spec     *cron.SpecSchedule
}

func compile(expr, tz string) compiled {
	s, err := parseSchedule(expr, tz)
	if err != nil {
		return compiled{}
	}
	return compiled{expr: expr, tz: tz, spec: s}
}

// active is windowActive using the cached schedule when it still matches.
func (c compiled) active(expr, tz string, d time.Duration, now time.Time) (bool, error) {
	if c.spec == nil || c.expr != expr || c.tz != tz {
		return windowActive(expr, tz, d, now)
	}
	return activeAt(c.spec, d, now), nil
}

// windowActive reports whether a window that opens at each cron match and
// stays open for d holds now: it does when the first match after now-d is
// not after now (windows are half-open, [start, start+d)).
func windowActive(expr, tz string, d time.Duration, now time.Time) (bool, error) {
	s, err := parseSchedule(expr, tz)
	if err != nil {
		return false, err
	}
	return activeAt(s, d, now), nil
}

func activeAt(s *cron.SpecSchedule, d time.Duration, now time.Time) bool {
	if d <= 0 {
		return false
	}
	start := s.Next(now.Add(-d))
	return !start.IsZero() && !start.After(now)
}

// MaxUnavailable is how many of the class's replicas headroom may take down
// at once when it runs replicas of them: the class's
// spec.disruption.maxUnavailable (defaulted from the cluster's), a count or
// a percentage of replicas rounded up, as Kubernetes rounds maxUnavailable.
// "0" means headroom never disrupts the class voluntarily.
func (c *ModelClass) MaxUnavailable(replicas int) int {
	n, err := parseMaxUnavailable(c.Spec.Disruption.MaxUnavailable, replicas)
	if err != nil || replicas <= 0 {
		return 0
	}
	return min(n, replicas)
}

// parseMaxUnavailable reads "2" or "25%" of replicas (rounded up, as
// Kubernetes does for maxUnavailable).
func parseMaxUnavailable(s string, replicas int) (int, error) {
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.Atoi(pct)
		if err != nil || v < 0 || v > 100 {
			return 0, fmt.Errorf("invalid percentage %q: want 0%%-100%%", s)
		}
		return int(math.Ceil(float64(v) * float64(replicas) / 100)), nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid value %q: want a count such as 1 or a percentage such as 25%%", s)
	}
	return v, nil
}
