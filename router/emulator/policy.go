package emulator

import (
	"fmt"
	"strings"

	"github.com/headroom-dev/headroom/policies"
)

// FromClass fills o's service time, concurrency, load delay and model memory
// from a policy ModelClass's measured profile on the given GPU and slice
// profile, so the emulator serves like that class on that slice. gpu may be
// empty when the class lists the profile on one GPU only.
func FromClass(o Options, c *policies.ModelClass, gpu, profile string) (Options, error) {
	var match []policies.ServiceProfile
	var have []string
	for _, p := range c.Spec.Profiles {
		have = append(have, p.GPU+"/"+p.Profile)
		if p.Profile == profile && (gpu == "" || p.GPU == gpu) {
			match = append(match, p)
		}
	}
	switch len(match) {
	case 0:
		return o, fmt.Errorf("class %s has no profile %s%s (it has %s)", c.Name, profile, onGPU(gpu), strings.Join(have, ", "))
	case 1:
	default:
		return o, fmt.Errorf("class %s lists profile %s on several GPUs; name one with --gpu-model", c.Name, profile)
	}
	p := match[0]
	o.Class, o.Profile = c.Name, profile
	o.ServiceMean, o.ServiceP95 = p.ServiceTime.Mean.Duration, p.ServiceTime.P95.Duration
	if o.ServiceP95 == 0 {
		o.ServiceP95 = 2 * o.ServiceMean // the policy's documented default
	}
	if p.Concurrency > 0 {
		o.Concurrency = p.Concurrency
	}
	o.LoadDelay = c.Spec.Model.LoadTime.Duration
	if b := c.Spec.GPUMemory.Value(); b > 0 {
		o.ModelMemoryMiB = float64(b) / (1 << 20)
	}
	return o, nil
}

func onGPU(gpu string) string {
	if gpu == "" {
		return ""
	}
	return " on " + gpu
}
