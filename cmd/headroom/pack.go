package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newPackCmd is a placeholder until issue 3 lands.
func newPackCmd(_ *app) *cobra.Command {
	return &cobra.Command{
		Use:    "pack",
		Short:  "not implemented yet (issue 3)",
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return errors.New("pack: not implemented yet") },
	}
}
