package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

func newCatalogCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "List the GPU models, MIG profiles and instance types headroom plans with",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, outTable, outJSON, outYAML); err != nil {
				return err
			}
			return printCatalog(a, catalog.Default(), format)
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", outTable, "output format: table, json or yaml")
	return cmd
}

func printCatalog(a *app, c *catalog.Catalog, format string) error {
	switch format {
	case outJSON:
		return writeJSON(a.stdout, c)
	case outYAML:
		return writeYAML(a.stdout, c)
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "GPU\tMEMORY GiB\tMIG PROFILES (usable GiB)")
	for _, name := range c.GPUNames() {
		g := c.GPUs[name]
		var profiles []string
		for _, p := range g.Profiles {
			mark := ""
			if p.Source != "published" {
				mark = "~"
			}
			profiles = append(profiles, fmt.Sprintf("%s (%s%.2f)", p.Name, mark, p.UsableGiB))
		}
		if len(profiles) == 0 {
			profiles = []string{"none: whole or time-sliced"}
		}
		fmt.Fprintf(w, "%s\t%.2f\t%s\n", name, g.MemoryGiB, strings.Join(profiles, ", "))
	}
	fmt.Fprintln(w, "\nINSTANCE TYPE\tGPUS\tVCPU\tMEMORY GiB\tON-DEMAND $/h\tSPOT $/h\tPRICE DATE")
	for _, name := range c.InstanceNames() {
		t := c.Instances[name]
		gpus := "-"
		if t.GPUs > 0 {
			gpus = fmt.Sprintf("%d x %s", t.GPUs, t.GPU)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%.0f\t%.3f\t%.3f\t%s\n", name, gpus, t.VCPU, t.MemoryGiB, t.OnDemandPrice, t.SpotPrice, t.PriceDate)
	}
	fmt.Fprintf(w, "\n~ usable memory estimated, not published; spot prices are assumptions (%.0f%% of on-demand) unless observed.\n", catalog.DefaultSpotFraction*100)
	return w.Flush()
}
