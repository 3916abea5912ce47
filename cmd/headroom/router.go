package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newRouterCmd is a placeholder until issue 7 lands.
func newRouterCmd(_ *app) *cobra.Command {
	return &cobra.Command{
		Use:    "router",
		Short:  "not implemented yet (issue 7)",
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return errors.New("router: not implemented yet") },
	}
}
