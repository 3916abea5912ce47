package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/headroom-dev/headroom/policies"
)

// Exit codes of the policy commands, for the policy repo's CI:
//
//	lint:    0 clean, 1 findings, 2 could not run (unreadable directory, bad flag)
//	explain: 0 printed, 1 findings (printed to stderr), 2 could not run
//	diff:    0 no change, 1 changed (like diff(1)), 2 could not run or a
//	         policy has findings
const (
	exitClean   = 0
	exitFound   = 1
	exitTrouble = 2
)

func newPolicyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check, explain and compare policy directories (for the policy repo's CI)",
		Long: `A policy directory holds the YAML files that describe one cluster: its model
classes, nodegroups and cluster-wide rules (docs/policies.md). Every *.yaml and
*.yml file directly in the directory is read; subdirectories are not.`,
	}
	for _, sub := range []*cobra.Command{newPolicyLintCmd(a), newPolicyExplainCmd(a), newPolicyDiffCmd(a)} {
		// Usage errors exit 2 too, so CI can tell "policy has findings"
		// (1) from "the check did not run" (2).
		sub.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return trouble(a, err) })
		args := sub.Args
		sub.Args = func(c *cobra.Command, as []string) error {
			if err := args(c, as); err != nil {
				return trouble(a, err)
			}
			return nil
		}
		cmd.AddCommand(sub)
	}
	return cmd
}

// trouble prints err and returns the exit code 2 error.
func trouble(a *app, err error) error {
	fmt.Fprintf(a.stderr, "headroom: %v\n", err)
	return exitError{exitTrouble}
}

type lintResult struct {
	Dir        string             `json:"dir"`
	OK         bool               `json:"ok"`
	Classes    int                `json:"classes"`
	NodeGroups int                `json:"nodeGroups"`
	Findings   []policies.Finding `json:"findings"`
}

func newPolicyLintCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "lint DIR...",
		Short: "Report every finding in policy directories as file:line:col: field: message",
		Long: `lint loads each directory, applies defaults and checks every rule and
cross-reference, and prints all findings, one per line, as
file:line:col: field: message. Exit status: 0 clean, 1 findings, 2 could not run.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, dirs []string) error {
			if err := checkFormat(format, outText, outJSON, outGitHub); err != nil {
				return trouble(a, err)
			}
			var results []lintResult
			found := false
			for _, dir := range dirs {
				r := lintResult{Dir: dir, Findings: []policies.Finding{}}
				p, err := policies.Load(dir)
				switch {
				case policies.IsFindings(err):
					r.Findings = policies.FindingsOf(err)
					found = true
				case err != nil:
					return trouble(a, err)
				default:
					r.OK, r.Classes, r.NodeGroups = true, len(p.Classes), len(p.NodeGroups)
				}
				results = append(results, r)
			}
			switch format {
			case outJSON:
				if err := writeJSON(a.stdout, results); err != nil {
					return err
				}
			case outGitHub:
				for _, r := range results {
					for _, f := range r.Findings {
						fmt.Fprintln(a.stdout, githubAnnotation(f))
					}
				}
			default:
				for _, r := range results {
					for _, f := range r.Findings {
						fmt.Fprintln(a.stdout, f.String())
					}
					if r.OK {
						fmt.Fprintf(a.stdout, "%s: ok (%d classes, %d nodegroups)\n", r.Dir, r.Classes, r.NodeGroups)
					} else {
						fmt.Fprintf(a.stderr, "%s: %d finding(s)\n", r.Dir, len(r.Findings))
					}
				}
			}
			if found {
				return exitError{exitFound}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", outText, "output format: text, json, or github (workflow-command annotations for GitHub Actions)")
	return cmd
}

// outGitHub prints findings as GitHub Actions workflow commands, which show
// up as annotations on the pull request's changed lines.
const outGitHub = "github"

func githubAnnotation(f policies.Finding) string {
	esc := func(s string) string {
		return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
	}
	msg := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(strings.TrimPrefix(f.Field+": "+f.Message, ": "))
	if f.File == "" {
		return "::error::" + msg
	}
	return fmt.Sprintf("::error file=%s,line=%d,col=%d::%s", esc(f.File), max(f.Line, 1), max(f.Column, 1), msg)
}

// loadOrReport loads dir; on findings it prints them to stderr and returns
// an exitError with code.
func loadOrReport(a *app, dir string, code int) (*policies.Policy, error) {
	p, err := policies.Load(dir)
	if policies.IsFindings(err) {
		for _, f := range policies.FindingsOf(err) {
			fmt.Fprintln(a.stderr, f.String())
		}
		fmt.Fprintf(a.stderr, "headroom: %s has findings; run `headroom policy lint %s`\n", dir, dir)
		return nil, exitError{code}
	}
	if err != nil {
		return nil, trouble(a, err)
	}
	return p, nil
}

func newPolicyExplainCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "explain DIR",
		Short: "Print the effective, defaulted policy and what headroom derives from it",
		Long: `explain prints the policy with every default applied, and per class the
planning horizon and every nodegroup and slice profile it can run on, with the
reason each other nodegroup is ruled out. -o json or yaml prints the same for
machines. Exit status: 0 printed, 1 the policy has findings, 2 could not run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := checkFormat(format, outText, outJSON, outYAML); err != nil {
				return trouble(a, err)
			}
			p, err := loadOrReport(a, args[0], exitFound)
			if err != nil {
				return err
			}
			e := policies.Explain(p)
			switch format {
			case outJSON:
				return writeJSON(a.stdout, e)
			case outYAML:
				return writeYAML(a.stdout, e)
			}
			return e.WriteText(a.stdout)
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", outText, "output format: text, json or yaml")
	return cmd
}

func newPolicyDiffCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "diff OLD_DIR NEW_DIR",
		Short: "Show the semantic difference between two policy directories",
		Long: `diff loads both directories, applies defaults, and prints one line per
changed field of the cluster, each nodegroup and each class, such as
"reader-de: spec.scaling.minReplicas 2 -> 4". Writing a default explicitly,
moving documents between files or reordering lists keyed by name is no change.
Exit status (like diff(1)): 0 no change, 1 changed, 2 could not run or a
policy has findings.`,
		Args: cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := checkFormat(format, outText, outJSON); err != nil {
				return trouble(a, err)
			}
			old, err := loadOrReport(a, args[0], exitTrouble)
			if err != nil {
				return err
			}
			cur, err := loadOrReport(a, args[1], exitTrouble)
			if err != nil {
				return err
			}
			changes := policies.Diff(old, cur)
			if format == outJSON {
				if changes == nil {
					changes = []policies.Change{}
				}
				if err := writeJSON(a.stdout, struct {
					Changed bool              `json:"changed"`
					Changes []policies.Change `json:"changes"`
				}{len(changes) > 0, changes}); err != nil {
					return err
				}
			} else {
				for _, c := range changes {
					fmt.Fprintln(a.stdout, c.String())
				}
			}
			if len(changes) > 0 {
				return exitError{exitFound}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", outText, "output format: text or json")
	return cmd
}
