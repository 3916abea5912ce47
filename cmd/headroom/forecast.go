package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newForecastCmd is a placeholder until issue 4 lands.
func newForecastCmd(_ *app) *cobra.Command {
	return &cobra.Command{
		Use:    "forecast",
		Short:  "not implemented yet (issue 4)",
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return errors.New("forecast: not implemented yet") },
	}
}
