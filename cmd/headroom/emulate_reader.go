package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newEmulateReaderCmd is a placeholder until issue 7 lands.
func newEmulateReaderCmd(_ *app) *cobra.Command {
	return &cobra.Command{
		Use:    "emulate-reader",
		Short:  "not implemented yet (issue 7)",
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return errors.New("emulate-reader: not implemented yet") },
	}
}
