package policies

import (
	"errors"
	"fmt"
	"strings"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// PriceSourcePolicy marks catalog prices and instance types that came from
// the policy's spec.catalog rather than the built-in data.
const PriceSourcePolicy = "policy"

// Catalog returns the built-in GPU and instance catalog with the policy's
// spec.catalog applied: added instance types and overridden prices. The
// result is a fresh copy the caller may change.
func (p *Policy) Catalog() (*catalog.Catalog, error) {
	if p.cat != nil {
		return p.cat.Clone(), nil
	}
	return p.buildCatalog()
}

// catalog returns the cached catalog, or builds one (nil on errors).
func (p *Policy) catalog() *catalog.Catalog {
	if p.cat != nil {
		return p.cat
	}
	c, _ := p.buildCatalog()
	return c
}

func (p *Policy) buildCatalog() (*catalog.Catalog, error) {
	c := catalog.Default()
	var errs []error
	for _, o := range applyOverrides(c, p.Cluster.Spec.Catalog) {
		errs = append(errs, fmt.Errorf("spec.catalog.%s: %s", o.path, o.msg))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

type overrideProblem struct{ path, msg string }

// applyOverrides changes c as the overrides say and returns what it could
// not apply, with the field path of each problem.
func applyOverrides(c *catalog.Catalog, o CatalogOverrides) []overrideProblem {
	var probs []overrideProblem
	builtin := catalog.Default()
	for i, s := range o.InstanceTypes {
		path := fmt.Sprintf("instanceTypes[%d]", i)
		if _, ok := builtin.Instance(s.Name); ok {
			probs = append(probs, overrideProblem{path + ".name", fmt.Sprintf("instance type %q is already in the catalog; change its price under spec.catalog.prices instead", s.Name)})
			continue
		}
		if _, ok := c.Instance(s.Name); ok {
			probs = append(probs, overrideProblem{path + ".name", fmt.Sprintf("instance type %q is added twice", s.Name)})
			continue
		}
		err := c.AddInstance(catalog.InstanceType{
			Name: s.Name, GPU: s.GPU, GPUs: s.GPUs, VCPU: s.VCPU, MemoryGiB: s.MemoryGiB,
			OnDemandPrice: s.OnDemandPrice, SpotPrice: s.SpotPrice,
			PriceSource: PriceSourcePolicy, SpotSource: spotSource(s.SpotPrice),
		})
		if err != nil {
			probs = append(probs, overrideProblem{path, err.Error()})
		}
	}
	seen := map[string]bool{}
	for i, pr := range o.Prices {
		path := fmt.Sprintf("prices[%d]", i)
		t, ok := c.Instance(pr.InstanceType)
		switch {
		case !ok:
			probs = append(probs, overrideProblem{path + ".instanceType", fmt.Sprintf("instance type %q is not in the catalog%s", pr.InstanceType, suggest(pr.InstanceType, c.InstanceNames()))})
			continue
		case seen[pr.InstanceType]:
			probs = append(probs, overrideProblem{path + ".instanceType", fmt.Sprintf("a second price override for %q; keep one", pr.InstanceType)})
			continue
		case pr.OnDemand < 0 || pr.Spot < 0:
			probs = append(probs, overrideProblem{path, "prices must not be negative"})
			continue
		case pr.OnDemand == 0 && pr.Spot == 0:
			probs = append(probs, overrideProblem{path, "set onDemand, spot or both ($/h)"})
			continue
		}
		seen[pr.InstanceType] = true
		if pr.OnDemand > 0 {
			t.OnDemandPrice = pr.OnDemand
			t.PriceSource = joinNonEmpty(PriceSourcePolicy, pr.Source)
			t.PriceDate = pr.Date
		}
		if pr.Spot > 0 {
			t.SpotPrice = pr.Spot
			t.SpotSource = joinNonEmpty(PriceSourcePolicy, pr.Source)
		}
		if t.SpotPrice >= t.OnDemandPrice {
			probs = append(probs, overrideProblem{path, fmt.Sprintf("spot price %.3f is not below on-demand %.3f for %s; check the numbers", t.SpotPrice, t.OnDemandPrice, t.Name)})
		}
	}
	return probs
}

func spotSource(spot float64) string {
	if spot > 0 {
		return PriceSourcePolicy
	}
	return ""
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ": ")
}
