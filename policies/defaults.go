package policies

import (
	"strings"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// Defaults, in one place. The doc comments of the schema types in types.go
// state the same values; docs/policies.md lists them.
const (
	DefaultTenancy             = TenancyShared
	DefaultMaxNodesDraining    = 1
	DefaultMaxUnavailable      = "25%"
	DefaultTimeZone            = "UTC"
	DefaultLoadTime            = 60 * time.Second
	DefaultConcurrency         = 1
	DefaultP95Factor           = 2 // p95 = 2 x mean when not measured
	DefaultPercentile          = 95.0
	DefaultErrorBudget         = 0.001
	DefaultMinReplicas         = 1
	DefaultMaxReplicas         = 100
	DefaultScaleUpPercent      = 100
	DefaultScaleUpPods         = 4
	DefaultScaleDownPercent    = 100
	DefaultScalePeriod         = 15 * time.Second
	DefaultScaleDownWindow     = 300 * time.Second
	DefaultSelect              = SelectMax
	DefaultTolerance           = 0.1
	DefaultPanicThreshold      = 2.0
	DefaultPanicWindow         = 6 * time.Second
	DefaultPanicStableWindow   = 60 * time.Second
	DefaultForecastQuantile    = 0.95
	DefaultSpot                = SpotAllowed
	DefaultNodeGroupKind       = NodeGroupEKSManaged
	DefaultCapacityType        = CapacityOnDemand
	DefaultGPUBootTime         = 5 * time.Minute
	DefaultCPUBootTime         = 2 * time.Minute
	DefaultRepartitionTime     = 2 * time.Minute
	DefaultMinOnDemandFraction = 0.0
)

// Select values of a ScalingRule.
const (
	SelectMax      = "max"
	SelectMin      = "min"
	SelectDisabled = "disabled"
)

// Default fills every unset field of p with its default, in place. It is
// idempotent and never overrides a value the policy set. Load calls it
// before validation; call it on a Policy built in code before Validate.
// It also caches the parsed cron schedules (a changed Cron or TimeZone is
// re-parsed on use, so the cache is never stale) and the catalog with the
// policy's overrides.
func Default(p *Policy) {
	cat, _ := p.buildCatalog() // unknown instance types are Validate's to report
	defaultCluster(&p.Cluster.Spec)
	for i := range p.NodeGroups {
		defaultNodeGroup(&p.NodeGroups[i], cat)
	}
	for i := range p.Classes {
		defaultClass(&p.Classes[i].Spec, &p.Cluster.Spec)
	}
	if cat != nil {
		p.cat = cat
	}
}

func defaultCluster(s *ClusterSpec) {
	setStr(&s.Tenancy, DefaultTenancy)
	setInt(&s.Disruption.MaxNodesDraining, DefaultMaxNodesDraining)
	setStr(&s.Disruption.MaxUnavailable, DefaultMaxUnavailable)
	for i := range s.Disruption.Windows {
		w := &s.Disruption.Windows[i]
		setStr(&w.TimeZone, DefaultTimeZone)
		w.sched = compile(w.Cron, w.TimeZone)
	}
}

func defaultNodeGroup(ng *NodeGroup, cat *catalog.Catalog) {
	s := &ng.Spec
	setStr(&s.Kind, DefaultNodeGroupKind)
	setStr(&s.CloudName, ng.Name)
	setStr(&s.CapacityType, DefaultCapacityType)
	if s.GPU.Mode == "" && cat != nil {
		if it, ok := cat.Instance(s.InstanceType); ok {
			s.GPU.Mode = GPUModeWhole
			if it.GPUs == 0 {
				s.GPU.Mode = GPUModeNone
			}
		}
	}
	if s.BootTime.Duration == 0 {
		s.BootTime = D(DefaultGPUBootTime)
		if s.GPU.Mode == GPUModeNone {
			s.BootTime = D(DefaultCPUBootTime)
		}
	}
	if s.GPU.IsMIG() && s.GPU.RepartitionTime.Duration == 0 {
		s.GPU.RepartitionTime = D(DefaultRepartitionTime)
	}
}

func defaultClass(s *ModelClassSpec, cl *ClusterSpec) {
	if s.Model.Source == "" && s.Model.Path != "" {
		s.Model.Source = ModelSourceEFS
		if strings.HasPrefix(s.Model.Path, "s3://") {
			s.Model.Source = ModelSourceS3
		}
	}
	setDur(&s.Model.LoadTime, DefaultLoadTime)
	for i := range s.Profiles {
		pr := &s.Profiles[i]
		setInt(&pr.Concurrency, DefaultConcurrency)
		setDur(&pr.ServiceTime.P95, DefaultP95Factor*pr.ServiceTime.Mean.Duration)
	}
	setFloat(&s.SLO.Percentile, DefaultPercentile)
	setFloat(&s.SLO.ErrorBudget, DefaultErrorBudget)

	sc := &s.Scaling
	setInt(&sc.MinReplicas, DefaultMinReplicas)
	setInt(&sc.MaxReplicas, max(DefaultMaxReplicas, sc.MinReplicas))
	defaultRule(&sc.ScaleUp, 0, DefaultScaleUpPercent, DefaultScaleUpPods)
	defaultRule(&sc.ScaleDown, DefaultScaleDownWindow, DefaultScaleDownPercent, 0)
	if sc.Tolerance == nil {
		t := DefaultTolerance
		sc.Tolerance = &t
	}
	setFloat(&sc.Panic.Threshold, DefaultPanicThreshold)
	setDur(&sc.Panic.Window, DefaultPanicWindow)
	setDur(&sc.Panic.StableWindow, DefaultPanicStableWindow)
	setFloat(&sc.Forecast.Quantile, DefaultForecastQuantile)
	for i := range sc.ScheduledMinimums {
		sm := &sc.ScheduledMinimums[i]
		setStr(&sm.TimeZone, DefaultTimeZone)
		sm.sched = compile(sm.Cron, sm.TimeZone)
	}

	pl := &s.Placement
	setStr(&pl.Spot, DefaultSpot)
	if pl.Spot == SpotNever && pl.MinOnDemandFraction == 0 {
		pl.MinOnDemandFraction = 1
	}
	setStr(&s.Disruption.MaxUnavailable, cl.Disruption.MaxUnavailable)
}

// defaultRule applies HPA's behavior defaults: a rule that names neither
// percent nor pods gets both defaults (pods 0 means no pods policy); one
// that names either keeps exactly what it says, as HPA replaces its default
// policies when any is given.
func defaultRule(r *ScalingRule, window time.Duration, percent, pods int) {
	if r.StabilizationWindow == nil {
		w := D(window)
		r.StabilizationWindow = &w
	}
	if r.Percent == nil && r.Pods == nil {
		pc := percent
		r.Percent = &pc
		if pods > 0 {
			pd := pods
			r.Pods = &pd
		}
	}
	setDur(&r.Period, DefaultScalePeriod)
	setStr(&r.Select, DefaultSelect)
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setFloat(p *float64, v float64) {
	if *p == 0 {
		*p = v
	}
}

func setDur(p *Duration, v time.Duration) {
	if p.Duration == 0 {
		p.Duration = v
	}
}

// IsMIG reports whether the mode partitions GPUs with MIG.
func (g GPUConfig) IsMIG() bool {
	return g.Mode == GPUModeMIGFixed || g.Mode == GPUModeMIGDynamic
}
