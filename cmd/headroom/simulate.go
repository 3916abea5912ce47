package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newSimulateCmd is a placeholder until issue 6 lands.
func newSimulateCmd(_ *app) *cobra.Command {
	return &cobra.Command{
		Use:    "simulate",
		Short:  "not implemented yet (issue 6)",
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return errors.New("simulate: not implemented yet") },
	}
}
