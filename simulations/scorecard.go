package simulations

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
)

// The scorecard: the project's goal measured the same way on every trace,
// in one table per scenario, over several seeds. Goal: headroom keeps
// GoalAttainment of requests within SLO at no more than GoalCostVsBound
// times the clairvoyant bound's cost, and costs less than HPA + Cluster
// Autoscaler at its best target with equal or better attainment.
// Attainments within AttainmentTie of each other count as equal (0.01
// points: closer than seeds differ).
const (
	GoalAttainment  = 0.995
	GoalCostVsBound = 1.25
	AttainmentTie   = 1e-4
)

// Score is one scenario's runs over seeds.
type Score struct {
	Scenario string // the file's base name, without .yaml
	About    string // trace, scale, duration, mode
	Seeds    []uint64
	Rows     []ScoreRow
}

// ScoreRow is one run (a controller with a policy) over the seeds, in
// seed order.
type ScoreRow struct {
	Run        string
	Attainment []float64 // share within SLO, whole run
	Worst5m    []float64 // the worst class's worst 5-minute window
	Cost       []float64 // $
	VsBound    []float64 // cost over the clairvoyant bound's
}

// RunScore runs the scenario once per seed (the seed in the file is
// replaced) and collects every run.
func RunScore(ctx context.Context, path string, s *Scenario, seeds []uint64) (*Score, error) {
	if len(seeds) == 0 {
		return nil, fmt.Errorf("scorecard %s: no seeds", path)
	}
	sc := &Score{Scenario: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), Seeds: seeds, About: s.about()}
	index := map[string]int{}
	for _, seed := range seeds {
		run := *s
		run.Seed = seed
		cmp, err := run.Run(ctx)
		if err != nil {
			return nil, fmt.Errorf("scorecard %s, seed %d: %w", path, seed, err)
		}
		for i, r := range cmp.Runs {
			name := label(cmp, i)
			k, ok := index[name]
			if !ok {
				k = len(sc.Rows)
				index[name] = k
				sc.Rows = append(sc.Rows, ScoreRow{Run: name})
			}
			worst := 1.0
			for _, c := range r.Classes {
				worst = math.Min(worst, c.Worst5m)
			}
			row := &sc.Rows[k]
			row.Attainment = append(row.Attainment, r.Attainment)
			row.Worst5m = append(row.Worst5m, worst)
			row.Cost = append(row.Cost, r.Cost)
			row.VsBound = append(row.VsBound, r.CostVsBound)
		}
	}
	return sc, nil
}

func (s *Scenario) about() string {
	parts := []string{filepath.Base(s.Trace)}
	if s.Scale > 0 && s.Scale != 1 {
		parts = append(parts, fmt.Sprintf("x%g", s.Scale))
	}
	if s.Duration != "" {
		parts = append(parts, "first "+s.Duration)
	}
	if s.Mode != "" {
		parts = append(parts, s.Mode+" level")
	}
	return strings.Join(parts, ", ")
}

// BestHPA is the index of the hpa-ca row to compare with: among those
// that reach GoalAttainment on every seed, the cheapest on average; when
// none does, the one with the highest worst-seed attainment. -1 without
// hpa-ca rows.
func (s *Score) BestHPA() int {
	best, bestMet := -1, false
	for i, r := range s.Rows {
		if !strings.HasPrefix(r.Run, "hpa-ca") {
			continue
		}
		met := slices.Min(r.Attainment) >= GoalAttainment
		switch {
		case best < 0, met && !bestMet:
			best, bestMet = i, met
		case met == bestMet && met && mean(r.Cost) < mean(s.Rows[best].Cost):
			best = i
		case met == bestMet && !met && slices.Min(r.Attainment) > slices.Min(s.Rows[best].Attainment):
			best = i
		}
	}
	return best
}

// Verdict says, for a headroom row, whether it meets the goal on every
// seed: attainment, cost against the bound, and against the best HPA.
func (s *Score) Verdict(i int) string {
	r := s.Rows[i]
	var miss []string
	if a := slices.Min(r.Attainment); a < GoalAttainment {
		miss = append(miss, fmt.Sprintf("within SLO %.3f%% < %.1f%%", 100*a, 100*GoalAttainment))
	}
	if v := slices.Max(r.VsBound); v > GoalCostVsBound {
		miss = append(miss, fmt.Sprintf("%.2fx > %.2fx the bound", v, GoalCostVsBound))
	}
	if h := s.BestHPA(); h >= 0 {
		hr := s.Rows[h]
		lower := slices.Min(hr.Attainment) > slices.Min(r.Attainment)+AttainmentTie
		switch {
		case mean(r.Cost) >= mean(hr.Cost) && !lower:
			miss = append(miss, "not cheaper than "+hr.Run)
		case lower:
			miss = append(miss, "lower attainment than "+hr.Run)
		}
	}
	if len(miss) == 0 {
		return "met"
	}
	return "missed: " + strings.Join(miss, "; ")
}

// WriteScorecard writes the scores as GitHub-flavored Markdown: a table
// per scenario with the worst seed's attainment and worst window, the
// mean cost and its range against the bound, the best HPA target marked,
// and headroom's verdict.
func WriteScorecard(w io.Writer, scores []*Score) error {
	for _, s := range scores {
		fmt.Fprintf(w, "### %s\n\n%s; seeds %s. Within SLO and worst 5-minute window: the worst seed; cost: the mean over seeds.\n\n",
			s.Scenario, s.About, joinSeeds(s.Seeds))
		fmt.Fprintln(w, "| run | within SLO | worst 5 min | cost $ | x bound | |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|")
		best := s.BestHPA()
		for i, r := range s.Rows {
			note := ""
			switch {
			case i == best && strings.Contains(r.Run, "@"):
				note = "best HPA target"
			case r.Run == fmt.Sprintf("hpa-ca@%g", defaultHPAUtilization):
				note = "HPA default target"
			case strings.HasPrefix(r.Run, "headroom"):
				note = s.Verdict(i)
			}
			fmt.Fprintf(w, "| %s | %.3f%% | %.2f%% | %.2f | %s | %s |\n", r.Run, 100*slices.Min(r.Attainment), 100*slices.Min(r.Worst5m),
				mean(r.Cost), spread(r.VsBound), note)
		}
		fmt.Fprintln(w)
	}
	return nil
}

func joinSeeds(seeds []uint64) string {
	s := make([]string, len(seeds))
	for i, v := range seeds {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ", ")
}

func mean(v []float64) float64 {
	t := 0.0
	for _, x := range v {
		t += x
	}
	return t / float64(max(len(v), 1))
}

// spread renders the bound ratios as "1.12x" or "1.10-1.14x".
func spread(v []float64) string {
	if len(v) == 0 || slices.Max(v) == 0 {
		return "-"
	}
	lo, hi := slices.Min(v), slices.Max(v)
	if fmt.Sprintf("%.2f", lo) == fmt.Sprintf("%.2f", hi) {
		return fmt.Sprintf("%.2fx", lo)
	}
	return fmt.Sprintf("%.2f-%.2fx", lo, hi)
}
