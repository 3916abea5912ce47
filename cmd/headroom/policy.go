package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newPolicyCmd is a placeholder until issue 2 lands.
func newPolicyCmd(_ *app) *cobra.Command {
	return &cobra.Command{
		Use:    "policy",
		Short:  "not implemented yet (issue 2)",
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return errors.New("policy: not implemented yet") },
	}
}
