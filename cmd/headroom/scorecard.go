package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/headroom-dev/headroom/simulations"
)

func newScorecardCmd(a *app) *cobra.Command {
	var seeds string
	cmd := &cobra.Command{
		Use:   "scorecard [--seeds 1,2,3] SCENARIO.yaml...",
		Short: "Run scenarios over several seeds and print the goal table as Markdown",
		Long: `scorecard runs each scenario (see simulate --scenario) once per seed and
prints one Markdown table per scenario: every run's share within SLO and worst
5-minute window (the worst seed), mean cost and cost against the clairvoyant
bound, the best target of an HPA sweep (hpaUtilizations in the scenario), and
headroom's verdict against the goal: >= 99.5% within SLO at <= 1.25x the
bound, cheaper than the best HPA at equal or better attainment.`,
		Example: `  headroom scorecard --seeds 1,2,3 simulations/testdata/scorecard/*.yaml`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ss, err := parseSeeds(seeds)
			if err != nil {
				return trouble(a, err)
			}
			var scores []*simulations.Score
			for _, path := range args {
				sc, err := simulations.LoadScenario(path)
				if err != nil {
					return trouble(a, err)
				}
				s, err := simulations.RunScore(cmd.Context(), path, sc, ss)
				if err != nil {
					return trouble(a, err)
				}
				scores = append(scores, s)
			}
			return simulations.WriteScorecard(a.stdout, scores)
		},
	}
	cmd.Flags().StringVar(&seeds, "seeds", "1,2,3", "comma-separated seeds, each run of every scenario repeated with each")
	return cmd
}

// parseSeeds reads "1,2,3".
func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("--seeds %q: want positive integers separated by commas, e.g. 1,2,3", s)
		}
		out = append(out, v)
	}
	return out, nil
}
