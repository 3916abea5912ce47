package policies

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// Validate checks a defaulted policy (see Default) and returns every
// finding: field ranges, enums, and cross-references between classes,
// nodegroups, tenants and the catalog with the policy's overrides. Findings
// are sorted by file and line.
func Validate(p *Policy) []Finding {
	v := &validator{p: p}
	v.cat = catalog.Default()
	for _, o := range applyOverrides(v.cat, p.Cluster.Spec.Catalog) {
		v.cluster("spec.catalog."+o.path, "%s", o.msg)
	}
	v.checkCluster()
	for i := range p.NodeGroups {
		v.checkNodeGroup(&p.NodeGroups[i])
	}
	for i := range p.Classes {
		v.checkClass(&p.Classes[i])
	}
	v.checkFleet()
	sortFindings(v.findings)
	return v.findings
}

type validator struct {
	p        *Policy
	cat      *catalog.Catalog
	findings []Finding
}

func (v *validator) add(kind, name, path, format string, args ...any) {
	f := Finding{Object: kind + "/" + name, Field: path, Message: fmt.Sprintf(format, args...)}
	key := indexKey(kind, name)
	if kind == KindCluster {
		key = indexKey(KindCluster, "")
	}
	if idx := v.p.index[key]; idx != nil {
		if idx.bad[path] {
			return // the decoder reported this field already
		}
		at := idx.at(path)
		f.File, f.Line, f.Column = idx.file, at.line, at.col
	}
	v.findings = append(v.findings, f)
}

func (v *validator) cluster(path, format string, args ...any) {
	v.add(KindCluster, v.p.Cluster.Name, path, format, args...)
}

// preDefaultChecks reports explicit zeros that Default would otherwise turn
// into defaults silently, where zero is not a meaningful setting.
func preDefaultChecks(p *Policy) []Finding {
	v := &validator{p: p}
	explicit := func(kind, name, path string) bool {
		idx := p.index[indexKey(kind, name)]
		return idx != nil && idx.has(path)
	}
	for _, c := range p.Classes {
		if c.Spec.Scaling.MinReplicas == 0 && explicit(KindModelClass, c.Name, "spec.scaling.minReplicas") {
			v.add(KindModelClass, c.Name, "spec.scaling.minReplicas", "0 is not supported: headroom keeps at least 1 replica (a cold start takes the model load time); remove the field for the default 1")
		}
		for i, pr := range c.Spec.Profiles {
			path := fmt.Sprintf("spec.profiles[%d].concurrency", i)
			if pr.Concurrency == 0 && explicit(KindModelClass, c.Name, path) {
				v.add(KindModelClass, c.Name, path, "must be at least 1 (requests one replica serves at once)")
			}
		}
	}
	if p.Cluster.Spec.Disruption.MaxNodesDraining == 0 && explicit(KindCluster, "", "spec.disruption.maxNodesDraining") {
		v.cluster("spec.disruption.maxNodesDraining", "must be at least 1; to stop voluntary disruption set disruption windows or dryRun")
	}
	return v.findings
}

var (
	regionRE = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-\d+$`)
	zoneRE   = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-\d+[a-z]$`)
	labelRE  = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)
	dnsRE    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
)

func (v *validator) checkCluster() {
	s := v.p.Cluster.Spec
	if s.Region != "" && !regionRE.MatchString(s.Region) {
		v.cluster("spec.region", "%q is not an AWS region name such as eu-central-1", s.Region)
	}
	v.enum(KindCluster, "", "spec.tenancy", s.Tenancy, TenancyShared, TenancyDedicated)
	if s.Disruption.MaxNodesDraining < 0 {
		v.cluster("spec.disruption.maxNodesDraining", "must not be negative")
	}
	if _, err := parseMaxUnavailable(s.Disruption.MaxUnavailable, 100); err != nil {
		v.cluster("spec.disruption.maxUnavailable", "%v", err)
	}
	for i, w := range s.Disruption.Windows {
		v.checkWindow(KindCluster, "", fmt.Sprintf("spec.disruption.windows[%d]", i), w.Cron, w.TimeZone, w.Duration.Duration)
	}
	if s.CostCeiling < 0 {
		v.cluster("spec.costCeiling", "must not be negative ($/h; 0 means no ceiling)")
	}
}

// enum reports value when it is not one of allowed. kind Cluster ignores
// name.
func (v *validator) enum(kind, name, path, value string, allowed ...string) bool {
	if slices.Contains(allowed, value) {
		return true
	}
	if kind == KindCluster {
		name = v.p.Cluster.Name
	}
	hint := suggest(value, allowed)
	if !strings.HasPrefix(hint, " (did you mean") {
		hint = ""
	}
	v.add(kind, name, path, "%q is not one of %s%s", value, strings.Join(allowed, ", "), hint)
	return false
}

func (v *validator) checkWindow(kind, name, path, expr, tz string, d time.Duration) {
	if kind == KindCluster {
		name = v.p.Cluster.Name
	}
	if expr == "" {
		v.add(kind, name, path+".cron", "missing; set a 5-field cron expression such as \"30 8 * * 1-5\"")
	} else if _, err := loadLocation(tz); err != nil {
		v.add(kind, name, path+".timeZone", "%v", err)
	} else if s, err := parseSchedule(expr, tz); err != nil {
		v.add(kind, name, path+".cron", "%v", err)
	} else if s.Next(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		v.add(kind, name, path+".cron", "%q never matches a real date", expr)
	}
	switch {
	case d <= 0:
		v.add(kind, name, path+".duration", "missing or not positive; set how long the window stays open, e.g. 10h")
	case d > 7*24*time.Hour:
		v.add(kind, name, path+".duration", "%s is longer than a week; use a longer-lived setting instead", d)
	}
}

func (v *validator) checkNodeGroup(ng *NodeGroup) {
	s := ng.Spec
	add := func(path, format string, args ...any) { v.add(KindNodeGroup, ng.Name, path, format, args...) }
	v.enum(KindNodeGroup, ng.Name, "spec.kind", s.Kind, NodeGroupEKSManaged, NodeGroupASG)
	v.enum(KindNodeGroup, ng.Name, "spec.capacityType", s.CapacityType, CapacityOnDemand, CapacitySpot)
	var it *catalog.InstanceType
	switch t, ok := v.cat.Instance(s.InstanceType); {
	case s.InstanceType == "":
		add("spec.instanceType", "missing; set an instance type from `headroom catalog`, or add one under the Cluster's spec.catalog.instanceTypes")
	case !ok:
		add("spec.instanceType", "instance type %q is not in the catalog%s; add it under the Cluster's spec.catalog.instanceTypes", s.InstanceType, suggest(s.InstanceType, v.cat.InstanceNames()))
	default:
		it = t
	}
	switch {
	case s.Size.Min < 0:
		add("spec.size.min", "must not be negative")
	case s.Size.Max < 1:
		add("spec.size.max", "must be at least 1")
	case s.Size.Min > s.Size.Max:
		add("spec.size", "min %d is above max %d", s.Size.Min, s.Size.Max)
	}
	seen := map[string]bool{}
	for i, z := range s.Zones {
		path := fmt.Sprintf("spec.zones[%d]", i)
		switch {
		case !zoneRE.MatchString(z):
			add(path, "%q is not an availability zone name such as eu-central-1a", z)
		case v.p.Cluster.Spec.Region != "" && !strings.HasPrefix(z, v.p.Cluster.Spec.Region):
			add(path, "zone %q is not in the cluster's region %s", z, v.p.Cluster.Spec.Region)
		case seen[z]:
			add(path, "zone %q is listed twice", z)
		}
		seen[z] = true
	}
	v.checkLabels(KindNodeGroup, ng.Name, "labels", ng.Labels)
	for _, k := range slices.Sorted(maps.Keys(s.NodeLabels)) {
		if msg := checkLabel(k, s.NodeLabels[k]); msg != "" {
			add(fmt.Sprintf("spec.nodeLabels[%s]", k), "%s", msg)
		}
	}
	taints := map[string]bool{}
	for i, t := range s.Taints {
		path := fmt.Sprintf("spec.taints[%d]", i)
		if msg := checkLabel(t.Key, t.Value); msg != "" || t.Key == "" {
			add(path+".key", "invalid taint: %s", cmpOr(msg, "key is empty"))
		}
		v.enum(KindNodeGroup, ng.Name, path+".effect", t.Effect, "NoSchedule", "PreferNoSchedule", "NoExecute")
		if taints[t.Key+"/"+t.Effect] {
			add(path, "taint %s:%s is listed twice", t.Key, t.Effect)
		}
		taints[t.Key+"/"+t.Effect] = true
	}
	if s.BootTime.Duration < 0 {
		add("spec.bootTime", "must not be negative")
	}
	if s.GPU.RepartitionTime.Duration < 0 {
		add("spec.gpu.repartitionTime", "must not be negative")
	}
	if s.Tenant != "" {
		if msg := checkName(s.Tenant); msg != "" {
			add("spec.tenant", "%s", msg)
		} else if known := v.tenants(); len(known) > 0 && !slices.Contains(known, s.Tenant) {
			add("spec.tenant", "tenant %q is not a tenant of any class%s", s.Tenant, suggest(s.Tenant, known))
		}
	}
	if v.p.Cluster.Spec.Tenancy == TenancyDedicated && s.GPU.Mode != GPUModeNone && s.Tenant == "" {
		add("spec.tenant", "missing: with cluster tenancy dedicated every GPU nodegroup belongs to one tenant")
	}
	if v.enum(KindNodeGroup, ng.Name, "spec.gpu.mode", s.GPU.Mode, GPUModeMIGFixed, GPUModeMIGDynamic, GPUModeWhole, GPUModeTimeSliced, GPUModeNone) && it != nil {
		v.checkGPUMode(ng, it)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// checkLabel checks a Kubernetes label (or taint) key and value.
func checkLabel(k, val string) string {
	name := k
	if prefix, n, ok := strings.Cut(k, "/"); ok {
		if len(prefix) > 253 || !dnsRE.MatchString(prefix) {
			return fmt.Sprintf("key prefix %q must be a DNS subdomain such as example.com", prefix)
		}
		name = n
	}
	if name == "" || len(name) > 63 || !labelRE.MatchString(name) {
		return fmt.Sprintf("key %q: name part must be 1-63 letters, digits, '-', '_' or '.', starting and ending alphanumeric", k)
	}
	if len(val) > 63 || !labelRE.MatchString(val) {
		return fmt.Sprintf("value %q must be at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric", val)
	}
	return ""
}

func (v *validator) checkGPUMode(ng *NodeGroup, it *catalog.InstanceType) {
	g := ng.Spec.GPU
	add := func(path, format string, args ...any) { v.add(KindNodeGroup, ng.Name, path, format, args...) }
	var gpu *catalog.GPU
	if it.GPU != "" {
		gpu, _ = v.cat.GPU(it.GPU)
	}
	switch {
	case gpu == nil && g.Mode != GPUModeNone:
		add("spec.gpu.mode", "instance type %s has no GPU; use mode none (or omit gpu)", it.Name)
		return
	case gpu != nil && g.Mode == GPUModeNone:
		add("spec.gpu.mode", "instance type %s has %d x %s; mode none would pay for GPUs nobody uses: use whole, time-sliced or a MIG mode", it.Name, it.GPUs, gpu.Name)
		return
	case gpu != nil && g.IsMIG() && !gpu.MIG:
		add("spec.gpu.mode", "%s does not support MIG; use whole or time-sliced", gpu.Name)
		return
	}
	if g.Layout != nil && g.Mode != GPUModeMIGFixed {
		add("spec.gpu.layout", "a layout is only used with mode mig-fixed (mode is %s); remove it", g.Mode)
	}
	if g.Replicas != 0 && g.Mode != GPUModeTimeSliced {
		add("spec.gpu.replicas", "replicas is only used with mode time-sliced (mode is %s); remove it", g.Mode)
	}
	switch g.Mode {
	case GPUModeTimeSliced:
		if g.Replicas < 2 || g.Replicas > 64 {
			add("spec.gpu.replicas", "time-sliced needs replicas between 2 and 64 (shares per GPU), got %d", g.Replicas)
		}
	case GPUModeMIGFixed:
		if g.Layout == nil {
			add("spec.gpu.layout", "mode mig-fixed needs a layout: {name: <nvidia.com/mig.config value>, devices: {\"3g.40gb\": 2}}")
			return
		}
		v.checkLayout(ng, gpu, g.Layout)
	}
}

// checkLayout checks that a mig-fixed layout's instance counts fit one GPU
// under the MIG placement rules, by searching the GPU's legal layouts for
// one with exactly these counts.
func (v *validator) checkLayout(ng *NodeGroup, gpu *catalog.GPU, l *NamedLayout) {
	add := func(path, format string, args ...any) { v.add(KindNodeGroup, ng.Name, path, format, args...) }
	if l.Name == "" {
		add("spec.gpu.layout.name", "missing; set the nvidia.com/mig.config name of this layout")
	} else if msg := checkLabel("x", l.Name); msg != "" {
		add("spec.gpu.layout.name", "%q must be a valid label value", l.Name)
	}
	if len(l.Devices) == 0 {
		add("spec.gpu.layout.devices", "missing; list how many instances of each MIG profile every GPU holds, e.g. {\"3g.40gb\": 2}")
		return
	}
	compute, ok := 0, true
	for _, name := range slices.Sorted(maps.Keys(l.Devices)) {
		path := fmt.Sprintf("spec.gpu.layout.devices[%s]", name)
		p, found := gpu.Profile(name)
		switch {
		case !found || p.Memory == 0:
			add(path, "%q is not a MIG profile of %s (known: %s)", name, gpu.Name, strings.Join(migNames(gpu), ", "))
			ok = false
		case l.Devices[name] < 1:
			add(path, "count must be at least 1, got %d", l.Devices[name])
			ok = false
		default:
			compute += p.Compute * l.Devices[name]
		}
	}
	if !ok {
		return
	}
	if compute > catalog.ComputeSlices {
		add("spec.gpu.layout.devices", "%s needs %d compute slices; one %s has %d", formatCounts(l.Devices), compute, gpu.Name, catalog.ComputeSlices)
		return
	}
	if _, found := gpu.LayoutFor(l.Devices); !found {
		add("spec.gpu.layout.devices", "%s cannot be placed on one %s: the instances' memory slices overlap at every allowed start (see `headroom catalog`)", formatCounts(l.Devices), gpu.Name)
	}
}

func migNames(g *catalog.GPU) []string {
	out := make([]string, len(g.Profiles))
	for i, p := range g.Profiles {
		out[i] = p.Name
	}
	return out
}

// tenants returns every tenant named by a class, sorted.
func (v *validator) tenants() []string {
	set := map[string]bool{}
	for _, c := range v.p.Classes {
		for _, t := range c.Spec.Tenants {
			set[t] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// checkLabels checks metadata labels, which headroom copies onto the
// Kubernetes objects it manages.
func (v *validator) checkLabels(kind, name, path string, labels map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if msg := checkLabel(k, labels[k]); msg != "" {
			v.add(kind, name, fmt.Sprintf("metadata.%s[%s]", path, k), "%s", msg)
		}
	}
}

func (v *validator) checkClass(c *ModelClass) {
	s := &c.Spec
	add := func(path, format string, args ...any) { v.add(KindModelClass, c.Name, path, format, args...) }
	v.checkLabels(KindModelClass, c.Name, "labels", c.Labels)
	seen := map[string]bool{}
	for i, t := range s.Tenants {
		path := fmt.Sprintf("spec.tenants[%d]", i)
		if msg := checkName(t); msg != "" {
			add(path, "tenant %s", msg)
		} else if seen[t] {
			add(path, "tenant %q is listed twice", t)
		}
		seen[t] = true
	}
	if s.Image == "" {
		add("spec.image", "missing; set the container image, e.g. 123456789012.dkr.ecr.eu-central-1.amazonaws.com/reader:2.3.1")
	} else if strings.ContainsAny(s.Image, " \t\n") {
		add("spec.image", "image %q contains whitespace", s.Image)
	}
	v.checkModel(c)
	if s.Resources.CPU.Sign() < 0 {
		add("spec.resources.cpu", "must not be negative")
	}
	if s.Resources.Memory.Sign() < 0 {
		add("spec.resources.memory", "must not be negative")
	}
	if s.GPUMemory.Sign() < 0 {
		add("spec.gpuMemory", "must not be negative")
	}
	for path, q := range map[string]resource.Quantity{"spec.gpuMemory": s.GPUMemory, "spec.resources.memory": s.Resources.Memory} {
		if q.Sign() > 0 && q.Value() < 1<<20 {
			add(path, "%s is %d bytes, surely not meant; write a unit, e.g. %sGi", q.String(), q.Value(), q.String())
		}
	}
	v.checkProfiles(c)
	v.checkSLO(c)
	v.checkScaling(c)
	v.checkPlacement(c)
	if s.Disruption.MaxUnavailable != v.p.Cluster.Spec.Disruption.MaxUnavailable { // the cluster's is reported there
		if _, err := parseMaxUnavailable(s.Disruption.MaxUnavailable, 100); err != nil {
			add("spec.disruption.maxUnavailable", "%v", err)
		}
	}
	if v.p.Cluster.Spec.Tenancy == TenancyDedicated && len(s.Tenants) != 1 && v.usesGPU(c) {
		add("spec.tenants", "with cluster tenancy dedicated a GPU class serves exactly one tenant; split it into one class per tenant")
	}
}

func (v *validator) usesGPU(c *ModelClass) bool {
	for _, pr := range c.Spec.Profiles {
		if pr.Profile != ProfileCPU {
			return true
		}
	}
	return false
}

func (v *validator) checkModel(c *ModelClass) {
	m := c.Spec.Model
	add := func(path, format string, args ...any) { v.add(KindModelClass, c.Name, path, format, args...) }
	if m.Path == "" {
		add("spec.model.path", "missing; set an EFS path (/models/name), an S3 URI (s3://bucket/key) or a local path")
	}
	if v.enum(KindModelClass, c.Name, "spec.model.source", m.Source, ModelSourceEFS, ModelSourceS3, ModelSourceLocal) && m.Path != "" {
		switch {
		case m.Source == ModelSourceS3 && !strings.HasPrefix(m.Path, "s3://"):
			add("spec.model.path", "source s3 needs an S3 URI such as s3://bucket/models/name, got %q", m.Path)
		case m.Source == ModelSourceS3 && len(strings.SplitN(strings.TrimPrefix(m.Path, "s3://"), "/", 2)[0]) < 3:
			add("spec.model.path", "S3 URI %q has no bucket name", m.Path)
		case m.Source == ModelSourceEFS && !strings.HasPrefix(m.Path, "/"):
			add("spec.model.path", "source efs needs an absolute path on the EFS mount such as /models/name, got %q", m.Path)
		}
	}
	if m.LoadTime.Duration < 0 {
		add("spec.model.loadTime", "must not be negative")
	}
}

func (v *validator) checkProfiles(c *ModelClass) {
	s := &c.Spec
	add := func(path, format string, args ...any) { v.add(KindModelClass, c.Name, path, format, args...) }
	if len(s.Profiles) == 0 {
		add("spec.profiles", "missing; list the measured service time per GPU slice profile (or profile cpu) the class can run on")
		return
	}
	need := s.GPUMemory.AsApproximateFloat64() / (1 << 30)
	if v.usesGPU(c) && s.GPUMemory.IsZero() {
		add("spec.gpuMemory", "missing; set the GPU memory one replica needs, e.g. 14Gi")
	}
	seen := map[string]int{}
	for i, pr := range s.Profiles {
		path := fmt.Sprintf("spec.profiles[%d]", i)
		key := pr.GPU + "/" + pr.Profile
		if j, dup := seen[key]; dup {
			add(path, "a second profile for %s %s (first is profiles[%d]); keep one", pr.GPU, pr.Profile, j)
			continue
		}
		seen[key] = i
		switch {
		case pr.Profile == ProfileCPU:
			if pr.GPU != "" {
				add(path+".gpu", "profile cpu runs without a GPU; remove gpu")
			}
			if s.Resources.CPU.IsZero() || s.Resources.Memory.IsZero() {
				add("spec.resources", "profile cpu needs spec.resources.cpu and spec.resources.memory to size and pack replicas")
			}
		case pr.GPU == "":
			add(path+".gpu", "missing; set a catalog GPU (%s), or use profile cpu", strings.Join(v.cat.GPUNames(), ", "))
		default:
			v.checkGPUProfile(c, path, pr, need)
		}
		if pr.Concurrency < 0 {
			add(path+".concurrency", "must be at least 1")
		}
		st := pr.ServiceTime
		switch {
		case st.Mean.Duration <= 0:
			add(path+".serviceTime.mean", "missing or not positive; set the measured mean time to serve one request, e.g. 38ms")
		case st.P95.Duration < st.Mean.Duration:
			add(path+".serviceTime.p95", "p95 %s is below the mean %s", st.P95, st.Mean)
		case s.SLO.Latency.Duration > 0 && st.Mean.Duration >= s.SLO.Latency.Duration:
			add(path+".serviceTime.mean", "mean service time %s is not below the SLO latency %s: no number of replicas meets the SLO on this profile", st.Mean, s.SLO.Latency)
		}
	}
}

func (v *validator) checkGPUProfile(c *ModelClass, path string, pr ServiceProfile, need float64) {
	add := func(path, format string, args ...any) { v.add(KindModelClass, c.Name, path, format, args...) }
	gpu, ok := v.cat.GPU(pr.GPU)
	if !ok {
		add(path+".gpu", "GPU %q is not in the catalog%s", pr.GPU, suggest(pr.GPU, v.cat.GPUNames()))
		return
	}
	slice, ok := gpu.Profile(pr.Profile)
	if !ok {
		add(path+".profile", "%q is not a profile of %s (known: %s)", pr.Profile, gpu.Name, strings.Join(gpu.ProfileNames(), ", "))
		return
	}
	if need > slice.UsableGiB {
		add(path+".profile", "gpuMemory %.2f GiB does not fit %s %s (%.2f GiB usable); use a larger profile or lower gpuMemory", need, gpu.Name, pr.Profile, slice.UsableGiB)
	}
}

func (v *validator) checkSLO(c *ModelClass) {
	s := c.Spec.SLO
	add := func(path, format string, args ...any) { v.add(KindModelClass, c.Name, path, format, args...) }
	if s.Latency.Duration <= 0 {
		add("spec.slo.latency", "missing or not positive; set the latency target, e.g. 300ms")
	}
	if !(s.Percentile >= 50 && s.Percentile <= 99.99) {
		add("spec.slo.percentile", "%g is outside [50, 99.99]; use 95 or 99", s.Percentile)
	}
	if !(s.ErrorBudget > 0 && s.ErrorBudget < 1) {
		add("spec.slo.errorBudget", "%g is outside (0, 1); e.g. 0.001 for 99.9%%", s.ErrorBudget)
	}
}

func (v *validator) checkScaling(c *ModelClass) {
	s := c.Spec.Scaling
	add := func(path, format string, args ...any) { v.add(KindModelClass, c.Name, path, format, args...) }
	switch {
	case s.MinReplicas < 1:
		add("spec.scaling.minReplicas", "must be at least 1, got %d", s.MinReplicas)
	case s.MaxReplicas < s.MinReplicas:
		add("spec.scaling.maxReplicas", "maxReplicas %d is below minReplicas %d", s.MaxReplicas, s.MinReplicas)
	}
	v.checkRule(c, "spec.scaling.scaleUp", s.ScaleUp)
	v.checkRule(c, "spec.scaling.scaleDown", s.ScaleDown)
	if s.Tolerance != nil && !(*s.Tolerance >= 0 && *s.Tolerance < 1) {
		add("spec.scaling.tolerance", "%g is outside [0, 1)", *s.Tolerance)
	}
	pn := s.Panic
	if !pn.Disabled {
		if !(pn.Threshold > 1) {
			add("spec.scaling.panic.threshold", "%g must be above 1 (a multiple of current capacity)", pn.Threshold)
		}
		if pn.Window.Duration <= 0 {
			add("spec.scaling.panic.window", "must be positive")
		} else if pn.StableWindow.Duration <= pn.Window.Duration {
			add("spec.scaling.panic.stableWindow", "%s must be longer than the panic window %s", pn.StableWindow, pn.Window)
		}
	}
	f := s.Forecast
	if f.Horizon.Duration < 0 {
		add("spec.scaling.forecast.horizon", "must not be negative (0 derives it from boot, re-partition and load times)")
	}
	if !(f.Quantile >= 0.5 && f.Quantile < 1) {
		add("spec.scaling.forecast.quantile", "%g is outside [0.5, 1); e.g. 0.95", f.Quantile)
	}
	for i, sm := range s.ScheduledMinimums {
		path := fmt.Sprintf("spec.scaling.scheduledMinimums[%d]", i)
		v.checkWindow(KindModelClass, c.Name, path, sm.Cron, sm.TimeZone, sm.Duration.Duration)
		switch {
		case sm.MinReplicas < 1:
			add(path+".minReplicas", "must be at least 1, got %d", sm.MinReplicas)
		case sm.MinReplicas > s.MaxReplicas:
			add(path+".minReplicas", "%d is above maxReplicas %d", sm.MinReplicas, s.MaxReplicas)
		}
	}
}

func (v *validator) checkRule(c *ModelClass, path string, r ScalingRule) {
	add := func(p, format string, args ...any) { v.add(KindModelClass, c.Name, path+p, format, args...) }
	v.enum(KindModelClass, c.Name, path+".select", r.Select, SelectMax, SelectMin, SelectDisabled)
	if r.StabilizationWindow != nil && (r.StabilizationWindow.Duration < 0 || r.StabilizationWindow.Duration > time.Hour) {
		add(".stabilizationWindow", "%s is outside [0, 1h]", r.StabilizationWindow)
	}
	if r.Percent != nil && *r.Percent < 0 {
		add(".percent", "must not be negative")
	}
	if r.Pods != nil && *r.Pods < 0 {
		add(".pods", "must not be negative")
	}
	if r.Period.Duration <= 0 || r.Period.Duration > 30*time.Minute {
		add(".period", "%s is outside (0, 30m]", r.Period)
	}
	if r.Select != SelectDisabled && deref(r.Percent) == 0 && deref(r.Pods) == 0 {
		add("", "percent and pods are both 0, which forbids any change; use select: disabled to say so")
	}
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func (v *validator) checkPlacement(c *ModelClass) {
	pl := c.Spec.Placement
	add := func(path, format string, args ...any) { v.add(KindModelClass, c.Name, path, format, args...) }
	v.enum(KindModelClass, c.Name, "spec.placement.spot", pl.Spot, SpotNever, SpotAllowed, SpotPreferred)
	if !(pl.MinOnDemandFraction >= 0 && pl.MinOnDemandFraction <= 1) {
		add("spec.placement.minOnDemandFraction", "%g is outside [0, 1]", pl.MinOnDemandFraction)
	} else if pl.Spot == SpotNever && pl.MinOnDemandFraction < 1 {
		add("spec.placement.minOnDemandFraction", "with spot: never every replica is on-demand; remove minOnDemandFraction")
	}
	ts := pl.TimeShared
	hasTS := slices.ContainsFunc(c.Spec.Profiles, func(p ServiceProfile) bool { return p.Profile == catalog.ProfileTimeSliced })
	switch {
	case ts.BelowRate < 0:
		add("spec.placement.timeShared.belowRate", "must not be negative")
	case ts.Allowed && ts.BelowRate == 0:
		add("spec.placement.timeShared.belowRate", "missing: set the forecast rate (requests/s) below which the class may use a time-sliced GPU")
	case !ts.Allowed && ts.BelowRate > 0:
		add("spec.placement.timeShared.allowed", "belowRate is set but allowed is false; set allowed: true or remove belowRate")
	case ts.Allowed && !hasTS:
		add("spec.placement.timeShared", "allowed, but the class has no profile timesliced to say how it serves on a shared GPU")
	}
	if pl.DedicatedPool && len(c.Spec.Tenants) != 1 {
		add("spec.placement.dedicatedPool", "a dedicated pool needs exactly one tenant in spec.tenants, got %d", len(c.Spec.Tenants))
	}
	known := make([]string, len(v.p.NodeGroups))
	for i, ng := range v.p.NodeGroups {
		known[i] = ng.Name
	}
	seen := map[string]bool{}
	for i, name := range pl.NodeGroups {
		path := fmt.Sprintf("spec.placement.nodeGroups[%d]", i)
		if seen[name] {
			add(path, "nodegroup %q is listed twice", name)
		}
		seen[name] = true
		ng, ok := v.p.NodeGroup(name)
		if !ok {
			hint := " (the policy defines no NodeGroup)"
			if len(known) > 0 {
				hint = suggest(name, known)
				if !strings.Contains(hint, "known:") {
					hint += fmt.Sprintf(" (known: %s)", strings.Join(known, ", "))
				}
			}
			if v.p.partial {
				hint += "; it may be in a file with invalid YAML, fix that first"
			}
			add(path, "nodegroup %q does not exist%s", name, hint)
			continue
		}
		if opts, why := v.p.optionsOn(c, ng, v.cat); len(opts) == 0 {
			add(path, "the class cannot run on nodegroup %s: %s", name, why)
		}
	}
	v.checkReachable(c)
}

// checkReachable reports a class that can run nowhere, or whose spot and
// on-demand rules no allowed nodegroup can satisfy.
func (v *validator) checkReachable(c *ModelClass) {
	switch {
	case len(c.Spec.Profiles) == 0:
		return // checkProfiles reported it
	case len(v.p.NodeGroups) == 0:
		if len(c.Spec.Placement.NodeGroups) == 0 { // else each listed name was reported
			v.add(KindModelClass, c.Name, "spec.placement", "the policy has no NodeGroup documents; the class can run nowhere")
		}
		return
	}
	opts, rej := v.p.options(c, v.cat)
	pl := c.Spec.Placement
	if len(opts) == 0 {
		if len(pl.NodeGroups) > 0 {
			return // each listed nodegroup was reported with its reason
		}
		reasons := make([]string, len(rej))
		for i, r := range rej {
			reasons[i] = r.NodeGroup + ": " + r.Reason
		}
		v.add(KindModelClass, c.Name, "spec.profiles", "the class can run on no nodegroup (%s); add a profile for one of them or a nodegroup for one of its profiles", strings.Join(reasons, "; "))
		return
	}
	v.checkFloorFits(c, opts)
	var spot, onDemand bool
	for _, o := range opts {
		spot = spot || o.Spot
		onDemand = onDemand || !o.Spot
	}
	if pl.MinOnDemandFraction > 0 && !onDemand {
		v.add(KindModelClass, c.Name, "spec.placement.minOnDemandFraction", "%g of replicas must be on-demand but every nodegroup the class may use is spot", pl.MinOnDemandFraction)
	}
	if pl.Spot == SpotPreferred && !spot {
		v.add(KindModelClass, c.Name, "spec.placement.spot", "spot: preferred but no nodegroup the class may use is spot")
	}
}

// checkFloorFits reports replica floors (minReplicas, scheduled minimums)
// that cannot fit even if the class had every allowed nodegroup at its
// maximum size to itself: an upper bound, so a finding here is certain.
func (v *validator) checkFloorFits(c *ModelClass, opts []Option) {
	bound := 0
	for _, ng := range v.p.NodeGroups {
		best := 0
		for _, o := range opts {
			if o.NodeGroup.Name == ng.Name {
				best = max(best, replicasPerNode(c, o))
			}
		}
		bound += best * ng.Spec.Size.Max
	}
	sc := c.Spec.Scaling
	if sc.MinReplicas > bound {
		v.add(KindModelClass, c.Name, "spec.scaling.minReplicas", "%d replicas cannot fit: the class's nodegroups at their maximum size hold at most %d of its replicas; raise a nodegroup's size.max or lower minReplicas", sc.MinReplicas, bound)
	}
	for i, sm := range sc.ScheduledMinimums {
		if sm.MinReplicas > bound && sm.MinReplicas <= sc.MaxReplicas {
			v.add(KindModelClass, c.Name, fmt.Sprintf("spec.scaling.scheduledMinimums[%d].minReplicas", i), "%d replicas cannot fit: the class's nodegroups at their maximum size hold at most %d of its replicas", sm.MinReplicas, bound)
		}
	}
}

// replicasPerNode is how many replicas of the class one node of the
// option's nodegroup can hold at most, by GPU slices and by CPU and memory
// requests.
func replicasPerNode(c *ModelClass, o Option) int {
	it := o.Instance
	n := 0
	g := o.NodeGroup.Spec.GPU
	switch o.Profile.Profile {
	case ProfileCPU:
		n = 1 << 20
	case "whole":
		n = it.GPUs
	case "timesliced":
		n = it.GPUs * g.Replicas
	default:
		per := o.Slice.MaxPerGPU()
		if g.Mode == GPUModeMIGFixed && g.Layout != nil {
			per = g.Layout.Devices[o.Profile.Profile]
		}
		n = it.GPUs * per
	}
	if cpu := c.Spec.Resources.CPU.AsApproximateFloat64(); cpu > 0 {
		n = min(n, int(float64(it.VCPU)/cpu))
	}
	if mem := c.Spec.Resources.Memory.AsApproximateFloat64() / (1 << 30); mem > 0 {
		n = min(n, int(it.MemoryGiB/mem))
	}
	return n
}

// checkFleet checks rules that span documents.
func (v *validator) checkFleet() {
	ceiling := v.p.Cluster.Spec.CostCeiling
	if ceiling <= 0 {
		return
	}
	floor := 0.0
	for _, ng := range v.p.NodeGroups {
		if it, ok := v.cat.Instance(ng.Spec.InstanceType); ok {
			floor += float64(ng.Spec.Size.Min) * it.Price(ng.Spec.CapacityType)
		}
	}
	if floor > ceiling {
		v.cluster("spec.costCeiling", "the nodegroups' minimum sizes alone cost $%.2f/h, above the ceiling $%.2f/h; raise the ceiling or lower size.min", floor, ceiling)
	}
}
