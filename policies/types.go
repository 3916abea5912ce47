package policies

import (
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// APIVersion is the only apiVersion this package reads.
const APIVersion = "headroom.dev/v1alpha1"

// Document kinds. A policy directory holds any number of ModelClass and
// NodeGroup documents and at most one Cluster document.
const (
	KindCluster    = "Cluster"
	KindModelClass = "ModelClass"
	KindNodeGroup  = "NodeGroup"
)

// Policy is the merged, defaulted content of one policy directory: the whole
// description of one cluster. Classes and NodeGroups are sorted by name.
type Policy struct {
	Cluster    Cluster      `json:"cluster"`
	Classes    []ModelClass `json:"classes"`
	NodeGroups []NodeGroup  `json:"nodeGroups"`

	// index maps "Kind/name" to where the document came from, so findings
	// can name file, line and column. Nil for a Policy built in code.
	index map[string]*docIndex
	// cat is the catalog with spec.catalog applied, set by Default.
	cat *catalog.Catalog
	// partial is set when a file could not be parsed, so findings about
	// missing names can say they may be in that file.
	partial bool
}

// Class returns the model class with the given name.
func (p *Policy) Class(name string) (*ModelClass, bool) {
	for i := range p.Classes {
		if p.Classes[i].Name == name {
			return &p.Classes[i], true
		}
	}
	return nil, false
}

// NodeGroup returns the nodegroup with the given name.
func (p *Policy) NodeGroup(name string) (*NodeGroup, bool) {
	for i := range p.NodeGroups {
		if p.NodeGroups[i].Name == name {
			return &p.NodeGroups[i], true
		}
	}
	return nil, false
}

// Source is where a document came from, for findings and explain output.
type Source struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

// Metadata is the part of metadata headroom reads.
type Metadata struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Cluster holds the cluster-wide rules (kind Cluster). A directory without
// one gets the defaults.
type Cluster struct {
	Name   string      `json:"name"`
	Spec   ClusterSpec `json:"spec"`
	Source Source      `json:"-"`
}

// Tenancy modes.
const (
	// TenancyShared runs every tenant on shared workers; the router
	// separates them per request by API key.
	TenancyShared = "shared"
	// TenancyDedicated gives each tenant its own node pools: a nodegroup
	// with spec.tenant set serves only that tenant.
	TenancyDedicated = "dedicated"
)

// ClusterSpec is the spec of kind Cluster.
type ClusterSpec struct {
	// Region is the AWS region, e.g. eu-central-1.
	Region string `json:"region,omitempty"`
	// EKSCluster is the EKS cluster name the nodegroups belong to.
	EKSCluster string `json:"eksCluster,omitempty"`
	// Tenancy is shared (default) or dedicated.
	Tenancy string `json:"tenancy,omitempty"`
	// Disruption limits voluntary disruption by headroom (consolidation,
	// re-partition, scale-down).
	Disruption Disruption `json:"disruption,omitempty"`
	// CostCeiling is the most the cluster's nodegroups may cost in $/h;
	// 0 means no ceiling.
	CostCeiling float64 `json:"costCeiling,omitempty"`
	// DryRun makes headroom plan and report without acting.
	DryRun bool `json:"dryRun,omitempty"`
	// Catalog adds instance types and overrides prices of the built-in
	// catalog (headroom catalog lists it).
	Catalog CatalogOverrides `json:"catalog,omitempty"`
}

// Disruption is the cluster-wide disruption budget.
type Disruption struct {
	// MaxNodesDraining is how many nodes may be cordoned and draining at
	// once. Default 1.
	MaxNodesDraining int `json:"maxNodesDraining,omitempty"`
	// MaxUnavailable is how many of a class's replicas may be unavailable
	// at once because of headroom, as a count ("1") or percentage ("25%").
	// Default "25%". A class may set its own in spec.disruption.
	MaxUnavailable string `json:"maxUnavailable,omitempty"`
	// Windows are when voluntary disruption may happen; none means any time.
	Windows []Window `json:"windows,omitempty"`
}

// Window is a recurring time window: it opens at each time Cron matches in
// TimeZone and stays open for Duration.
type Window struct {
	Cron     string   `json:"cron"`
	TimeZone string   `json:"timeZone,omitempty"` // IANA name, default UTC
	Duration Duration `json:"duration"`

	sched compiled // set by Default; recompiled when Cron or TimeZone change
}

// CatalogOverrides changes the built-in GPU and instance catalog.
type CatalogOverrides struct {
	InstanceTypes []InstanceTypeSpec `json:"instanceTypes,omitempty"`
	Prices        []PriceOverride    `json:"prices,omitempty"`
}

// InstanceTypeSpec adds an instance type to the catalog.
type InstanceTypeSpec struct {
	Name          string  `json:"name"`
	GPU           string  `json:"gpu,omitempty"`
	GPUs          int     `json:"gpus,omitempty"`
	VCPU          int     `json:"vcpu"`
	MemoryGiB     float64 `json:"memoryGiB"`
	OnDemandPrice float64 `json:"onDemandPrice"`
	SpotPrice     float64 `json:"spotPrice,omitempty"`
}

// PriceOverride replaces the prices of a catalog instance type; a zero
// field keeps the catalog's value.
type PriceOverride struct {
	InstanceType string  `json:"instanceType"`
	OnDemand     float64 `json:"onDemand,omitempty"`
	Spot         float64 `json:"spot,omitempty"`
	// Date and Source say where the price came from.
	Date   string `json:"date,omitempty"`
	Source string `json:"source,omitempty"`
}

// ModelClass is one model served by a pool of identical replicas (kind
// ModelClass), e.g. a German reader of size large.
type ModelClass struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Spec   ModelClassSpec    `json:"spec"`
	Source Source            `json:"-"`
}

// ModelClassSpec is the spec of kind ModelClass.
type ModelClassSpec struct {
	// Tenants allowed to call this class; empty means every tenant.
	Tenants []string `json:"tenants,omitempty"`
	// Image is the reader container image.
	Image string `json:"image"`
	// Model says where the model artifact lives and how long it takes to load.
	Model ModelArtifact `json:"model"`
	// Resources are the reader container's CPU and memory requests; the
	// controller's vertical recommendations start from these.
	Resources Resources `json:"resources,omitempty"`
	// GPUMemory is the GPU memory one replica needs; a replica fits a slice
	// only if this fits the slice's usable memory.
	GPUMemory resource.Quantity `json:"gpuMemory"`
	// Profiles are the measured service characteristics per GPU slice
	// profile the class can run on.
	Profiles  []ServiceProfile `json:"profiles"`
	SLO       SLO              `json:"slo"`
	Scaling   Scaling          `json:"scaling,omitempty"`
	Placement Placement        `json:"placement,omitempty"`
	// Disruption overrides the cluster's per-class budget.
	Disruption ClassDisruption `json:"disruption,omitempty"`
}

// Model artifact sources.
const (
	ModelSourceEFS   = "efs"
	ModelSourceS3    = "s3"
	ModelSourceLocal = "local" // baked into the image or on the node's disk
)

// ModelArtifact is where a class's model weights live.
type ModelArtifact struct {
	// Source is efs, s3 or local; default inferred from Path (s3:// -> s3).
	Source string `json:"source,omitempty"`
	// Path is an EFS path (/models/reader-de-large), an S3 URI
	// (s3://bucket/key) or a local path.
	Path string `json:"path"`
	// LoadTime is how long a new replica takes from start to ready,
	// including the model load. Default 60s.
	LoadTime Duration `json:"loadTime,omitempty"`
}

// Resources are container requests as Kubernetes quantities.
type Resources struct {
	CPU    resource.Quantity `json:"cpu,omitempty"`
	Memory resource.Quantity `json:"memory,omitempty"`
}

// ProfileCPU is the Profile of a ServiceProfile that runs on a CPU-only
// nodegroup (GPU empty), for classes such as retrievers and document stores.
const ProfileCPU = "cpu"

// ServiceProfile is how one replica of a class serves on one GPU slice
// profile. Profile is a MIG profile name of GPU ("3g.40gb"), "whole" for a
// whole GPU, "timesliced" for a share of a time-sliced GPU, or "cpu" (GPU
// empty) for a CPU-only replica sized by spec.resources.
type ServiceProfile struct {
	GPU         string      `json:"gpu"`
	Profile     string      `json:"profile"`
	ServiceTime ServiceTime `json:"serviceTime"`
	// Concurrency is how many requests one replica serves at once.
	// Default 1.
	Concurrency int `json:"concurrency,omitempty"`
}

// ServiceTime is the measured time to serve one request alone.
type ServiceTime struct {
	Mean Duration `json:"mean"`
	// P95 is the 95th percentile; the sizing model uses it for the
	// service-time variability. Default 2 x Mean.
	P95 Duration `json:"p95,omitempty"`
}

// SLO is a class's latency objective: Percentile % of requests within
// Latency, measured at the router.
type SLO struct {
	Latency Duration `json:"latency"`
	// Percentile is 95 (default) or 99, or any value in [50, 99.99].
	Percentile float64 `json:"percentile,omitempty"`
	// ErrorBudget is the share of requests that may fail or miss the
	// latency target over a 30-day window. Default 0.001.
	ErrorBudget float64 `json:"errorBudget,omitempty"`
}

// Scaling holds a class's horizontal scaling rules.
type Scaling struct {
	// MinReplicas default 1, MaxReplicas default 100 (and >= MinReplicas).
	MinReplicas int `json:"minReplicas,omitempty"`
	MaxReplicas int `json:"maxReplicas,omitempty"`
	// ScaleUp defaults: no stabilization, +100% or +4 pods per 15s,
	// whichever is more (HPA's defaults).
	ScaleUp ScalingRule `json:"scaleUp,omitempty"`
	// ScaleDown defaults: 300s stabilization, -100% per 15s (HPA's defaults).
	ScaleDown ScalingRule `json:"scaleDown,omitempty"`
	// Tolerance is the relative change below which no scaling happens.
	// Default 0.1 (HPA's).
	Tolerance *float64     `json:"tolerance,omitempty"`
	Panic     Panic        `json:"panic,omitempty"`
	Forecast  ForecastRule `json:"forecast,omitempty"`
	// ScheduledMinimums raise MinReplicas during recurring windows.
	ScheduledMinimums []ScheduledMinimum `json:"scheduledMinimums,omitempty"`
}

// ScalingRule limits how fast replicas change in one direction, like HPA's
// behavior.scaleUp/scaleDown: within any Period the change is at most the
// larger (Select: max) or smaller (Select: min) of Percent % and Pods.
type ScalingRule struct {
	StabilizationWindow *Duration `json:"stabilizationWindow,omitempty"`
	Percent             *int      `json:"percent,omitempty"`
	Pods                *int      `json:"pods,omitempty"`
	Period              Duration  `json:"period,omitempty"`
	// Select is max (default) or min, or disabled to forbid this direction.
	Select string `json:"select,omitempty"`
}

// Panic is the fast path for spikes the forecast missed (Knative KPA): when
// the rate over Window exceeds Threshold x the current capacity, scale up
// at once and do not scale down until the panic ends (StableWindow with
// the rate back under the threshold).
type Panic struct {
	// Threshold default 2.0; Disabled turns panic mode off.
	Threshold float64 `json:"threshold,omitempty"`
	// Window default 6s; StableWindow default 60s.
	Window       Duration `json:"window,omitempty"`
	StableWindow Duration `json:"stableWindow,omitempty"`
	Disabled     bool     `json:"disabled,omitempty"`
}

// ForecastRule says what the forecast path plans for.
type ForecastRule struct {
	// Horizon is how far ahead capacity is planned. 0 (default) derives it
	// per nodegroup: node boot + MIG re-partition + image pull + model load.
	Horizon Duration `json:"horizon,omitempty"`
	// Quantile of the forecast to plan for. Default 0.95.
	Quantile float64 `json:"quantile,omitempty"`
	// Disabled turns the forecast path off: reactive scaling only.
	Disabled bool `json:"disabled,omitempty"`
}

// ScheduledMinimum keeps at least MinReplicas from each time Cron matches in
// TimeZone for Duration, e.g. weekdays 08:30 Europe/Berlin for 10h.
type ScheduledMinimum struct {
	Cron        string   `json:"cron"`
	TimeZone    string   `json:"timeZone,omitempty"`
	Duration    Duration `json:"duration"`
	MinReplicas int      `json:"minReplicas"`

	sched compiled // set by Default; recompiled when Cron or TimeZone change
}

// Spot policies of a class.
const (
	SpotNever     = "never"
	SpotAllowed   = "allowed"
	SpotPreferred = "preferred"
)

// Placement says where a class's replicas may run.
type Placement struct {
	// NodeGroups the class may run on; empty means every GPU nodegroup
	// whose GPU has one of the class's profiles.
	NodeGroups []string `json:"nodeGroups,omitempty"`
	// Spot is never, allowed (default) or preferred.
	Spot string `json:"spot,omitempty"`
	// MinOnDemandFraction of replicas on on-demand capacity, in [0,1].
	// Default 0 (1 when Spot is never).
	MinOnDemandFraction float64 `json:"minOnDemandFraction,omitempty"`
	// TimeShared lets a rarely used class go to a time-sliced GPU pool.
	TimeShared TimeShared `json:"timeShared,omitempty"`
	// DedicatedPool keeps the class's replicas on nodegroups dedicated to
	// its tenant (spec.tenant of the nodegroup); needs exactly one tenant.
	DedicatedPool bool `json:"dedicatedPool,omitempty"`
}

// TimeShared allows a class on a time-sliced GPU while its forecast rate is
// below BelowRate requests/s.
type TimeShared struct {
	Allowed   bool    `json:"allowed,omitempty"`
	BelowRate float64 `json:"belowRate,omitempty"`
}

// ClassDisruption is a class's own disruption budget.
type ClassDisruption struct {
	// MaxUnavailable as a count ("1") or percentage ("25%").
	MaxUnavailable string `json:"maxUnavailable,omitempty"`
}

// NodeGroup is one EKS managed nodegroup or self-managed Auto Scaling group
// (kind NodeGroup).
type NodeGroup struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Spec   NodeGroupSpec     `json:"spec"`
	Source Source            `json:"-"`
}

// Nodegroup kinds.
const (
	NodeGroupEKSManaged = "eks-managed"
	NodeGroupASG        = "asg"
)

// Capacity types.
const (
	CapacityOnDemand = "on-demand"
	CapacitySpot     = "spot"
)

// GPU modes of a nodegroup.
const (
	// GPUModeMIGFixed partitions every GPU with one named layout.
	GPUModeMIGFixed = "mig-fixed"
	// GPUModeMIGDynamic lets headroom choose each GPU's layout.
	GPUModeMIGDynamic = "mig-dynamic"
	// GPUModeWhole gives whole GPUs (MIG off, or GPUs without MIG).
	GPUModeWhole = "whole"
	// GPUModeTimeSliced shares each GPU among Replicas replicas.
	GPUModeTimeSliced = "time-sliced"
	// GPUModeNone is a CPU-only nodegroup (router, retrievers, stores).
	GPUModeNone = "none"
)

// NodeGroupSpec is the spec of kind NodeGroup.
type NodeGroupSpec struct {
	// Kind is eks-managed (default) or asg.
	Kind string `json:"kind,omitempty"`
	// CloudName is the EKS nodegroup or ASG name in AWS; default the
	// nodegroup's name.
	CloudName    string `json:"cloudName,omitempty"`
	InstanceType string `json:"instanceType"`
	// CapacityType is on-demand (default) or spot.
	CapacityType string            `json:"capacityType,omitempty"`
	Size         Size              `json:"size"`
	Zones        []string          `json:"zones,omitempty"`
	NodeLabels   map[string]string `json:"nodeLabels,omitempty"`
	Taints       []Taint           `json:"taints,omitempty"`
	GPU          GPUConfig         `json:"gpu,omitempty"`
	// BootTime is how long a new node takes to join and be schedulable.
	// Default 5m for GPU nodegroups, 2m for CPU-only ones.
	BootTime Duration `json:"bootTime,omitempty"`
	// Tenant dedicates the nodegroup to one tenant (tenancy: dedicated).
	Tenant string `json:"tenant,omitempty"`
}

// Size bounds the node count.
type Size struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// Taint is a Kubernetes node taint.
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"` // NoSchedule, PreferNoSchedule or NoExecute
}

// GPUConfig says how a nodegroup's GPUs are used.
type GPUConfig struct {
	// Mode default: whole for GPU instance types, none for CPU-only ones.
	Mode string `json:"mode,omitempty"`
	// Layout is the per-GPU layout of mode mig-fixed: its name (the
	// nvidia.com/mig.config value) and how many instances of each profile
	// each GPU holds.
	Layout *NamedLayout `json:"layout,omitempty"`
	// Replicas is the number of shares per GPU in mode time-sliced.
	Replicas int `json:"replicas,omitempty"`
	// RepartitionTime is how long applying a new MIG layout takes.
	// Default 2m in the MIG modes (a new mig-fixed node applies its layout
	// once too), unused otherwise.
	RepartitionTime Duration `json:"repartitionTime,omitempty"`
}

// NamedLayout is a MIG layout applied to every GPU of a node.
type NamedLayout struct {
	Name    string         `json:"name"`
	Devices map[string]int `json:"devices"`
}
