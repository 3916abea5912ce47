package binpack

import "slices"

// improve is a local search over whole nodes: for each nodegroup, try the
// same plan with one node fewer (the replicas that no longer fit move, the
// cheapest to move first, to their next best options, as repair does) and
// keep the result when the plan gets cheaper and places as much. Rounding
// to whole nodes is where packing loses most against the LP bound, which
// counts GPUs, not nodes: a p5en with two busy GPUs costs as much as a
// full one.
//
// penalty, when set, charges a trial for what it disturbs (the keep plan
// charges ChangeCost per running replica it moves).
func (m *model) improve(s *solution, cost costFunc, pack packer, opts Options, penalty func(from, to *solution) float64) {
	for pass := 0; pass < opts.ImprovePasses; pass++ {
		improved := false
		for _, g := range m.groups {
			n := len(s.gpus[g.idx])
			nodes := m.nodes(g, n)
			// Only a node with free GPUs is worth emptying: removing a
			// full one moves a full node's replicas for the same price.
			if n == 0 || nodes <= g.ng.Min || nodes*g.gpn == n {
				continue
			}
			// Ways to re-home the displaced replicas: by the usual prices,
			// and for each other group with GPUs already paid for (free
			// GPUs on its last node, idle min-size nodes), with that
			// group's options looking cheap.
			variants := []costFunc{cost}
			for _, h := range m.groups {
				k := len(s.gpus[h.idx])
				if h != g && m.nodes(h, k)*h.gpn > k {
					variants = append(variants, m.sunkCost(h, cost))
				}
			}
			for _, c := range variants {
				trial := s.clone()
				trial.capGroup, trial.capGPUs = g.idx, float64((nodes-1)*g.gpn)
				blocked := make([]bool, len(m.groups))
				for r := 0; r < opts.RepairRounds; r++ {
					if !m.repair(trial, c, blocked, pack, 0) {
						break
					}
				}
				trial.capGroup = -1
				if len(trial.unplaced) > len(s.unplaced) || m.overMax(trial) {
					continue
				}
				extra := 0.0
				if penalty != nil {
					extra = penalty(s, trial)
				}
				if m.cost(trial)+extra < m.cost(s)-1e-9 {
					*s = *trial
					improved = true
					break
				}
			}
		}
		if !improved {
			return
		}
	}
}

// sunkDiscount scales the price of options on GPUs already paid for
// while the local search re-homes replicas.
const sunkDiscount = 0.2

// sunkCost wraps cost: options on group h, which has GPUs already paid
// for, look cheaper.
func (m *model) sunkCost(h *group, cost costFunc) costFunc {
	return func(ci, j int) float64 {
		if m.classes[ci].cands[j].g == h.idx {
			return sunkDiscount * cost(ci, j)
		}
		return cost(ci, j)
	}
}

func (m *model) overMax(s *solution) bool {
	for _, g := range m.groups {
		if float64(len(s.gpus[g.idx])) > m.maxGPUs(s, g) {
			return true
		}
	}
	return false
}

func (s *solution) clone() *solution {
	out := &solution{reps: make([][]int, len(s.reps)), gpus: make([][]gpuAlloc, len(s.gpus)),
		unplaced: make(map[int]string, len(s.unplaced)), strategy: s.strategy, capGroup: -1}
	for i, r := range s.reps {
		out.reps[i] = slices.Clone(r)
	}
	copy(out.gpus, s.gpus) // packings are replaced, never edited in place
	for k, v := range s.unplaced {
		out.unplaced[k] = v
	}
	return out
}
