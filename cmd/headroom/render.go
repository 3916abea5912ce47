package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/headroom-dev/headroom/deploy/render"
	"github.com/headroom-dev/headroom/policies"
)

func newRenderCmd(a *app) *cobra.Command {
	var dir string
	var routes bool
	var o render.Options
	cmd := &cobra.Command{
		Use:   "render --policy DIR",
		Short: "Print the Kubernetes objects that serve the policy's classes",
		Long: `render prints, for every ModelClass of the policy, its reader Deployment,
Service and PodDisruptionBudget as YAML for kubectl apply, Argo CD or Flux;
--routes prints the router config's models: entries instead. headroom owns
each Deployment's spec.replicas and the reader container's resources: have
the GitOps tool ignore them (docs/deploy.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return fmt.Errorf("--policy DIR is required")
			}
			pol, err := policies.Load(dir)
			if err != nil {
				return fmt.Errorf("loading policy %s: %w", dir, err)
			}
			r, err := render.Render(pol, o)
			if err != nil {
				return err
			}
			out, err := r.YAML()
			if routes {
				out, err = r.RoutesYAML()
			}
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "policy", "", "policy directory")
	cmd.Flags().BoolVar(&routes, "routes", false, "print the router's models: entries")
	cmd.Flags().StringVar(&o.Namespace, "namespace", "headroom", "namespace of the readers")
	cmd.Flags().StringVar(&o.ModelsClaim, "models-claim", "headroom-models", "PersistentVolumeClaim of the EFS models volume")
	cmd.Flags().StringVar(&o.EFSStorageClass, "efs-storage-class", "efs-sc", "storage class of the EFS CSI driver")
	cmd.Flags().StringVar(&o.S3Image, "s3-image", "", "image of the S3 model download step (default the AWS CLI's)")
	return cmd
}
