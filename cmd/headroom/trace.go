package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newTraceCmd is a placeholder until issue 6 lands.
func newTraceCmd(_ *app) *cobra.Command {
	return &cobra.Command{
		Use:    "trace",
		Short:  "not implemented yet (issue 6)",
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return errors.New("trace: not implemented yet") },
	}
}
