package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

func newCatalogCmd(a *app) *cobra.Command {
	var format, policyDir string
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "List the GPU models, MIG profiles and instance types headroom plans with",
		Long: `catalog lists the built-in GPU models (MIG profiles with usable memory) and
instance types (GPUs, vCPU, memory, on-demand and spot prices with their date).
With --policy DIR it lists the catalog that policy plans with: the built-in one
plus the instance types and prices in its Cluster's spec.catalog, marked "policy".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, outTable, outJSON, outYAML); err != nil {
				return err
			}
			c := catalog.Default()
			if policyDir != "" {
				p, err := loadOrReport(a, policyDir, exitFound)
				if err != nil {
					return err
				}
				if c, err = p.Catalog(); err != nil {
					return err
				}
			}
			return printCatalog(a, c, format)
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", outTable, "output format: table, json or yaml")
	cmd.Flags().StringVar(&policyDir, "policy", "", "policy directory whose spec.catalog additions and price overrides to apply")
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
		date := t.PriceDate
		if strings.HasPrefix(t.PriceSource, "policy") || strings.HasPrefix(t.SpotSource, "policy") {
			date = strings.TrimSpace("policy " + date)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%.0f\t%.3f\t%.3f\t%s\n", name, gpus, t.VCPU, t.MemoryGiB, t.OnDemandPrice, t.SpotPrice, date)
	}
	fmt.Fprintf(w, "\n~ usable memory estimated, not published; spot prices are assumptions (%.0f%% of on-demand) unless observed.\n", catalog.DefaultSpotFraction*100)
	return w.Flush()
}
