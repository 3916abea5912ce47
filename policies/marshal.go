package policies

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

// MarshalDocuments writes p as policy files would hold it: one YAML stream
// of Cluster, NodeGroup and ModelClass documents separated by "---". Loading
// the result gives p back (a property the tests check), so tools can emit
// generated or effective policies that lint and the controller read.
func (p *Policy) MarshalDocuments() ([]byte, error) {
	var out bytes.Buffer
	write := func(kind string, meta Metadata, spec any) error {
		doc := map[string]any{"apiVersion": APIVersion, "kind": kind, "metadata": meta, "spec": spec}
		b, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("marshalling %s %s: %w", kind, meta.Name, err)
		}
		y, err := yaml.JSONToYAML(b)
		if err != nil {
			return fmt.Errorf("marshalling %s %s: %w", kind, meta.Name, err)
		}
		if out.Len() > 0 {
			out.WriteString("---\n")
		}
		out.Write(y)
		return nil
	}
	if err := write(KindCluster, Metadata{Name: p.Cluster.Name}, p.Cluster.Spec); err != nil {
		return nil, err
	}
	for _, ng := range p.NodeGroups {
		if err := write(KindNodeGroup, Metadata{Name: ng.Name, Labels: ng.Labels}, ng.Spec); err != nil {
			return nil, err
		}
	}
	for _, c := range p.Classes {
		if err := write(KindModelClass, Metadata{Name: c.Name, Labels: c.Labels}, c.Spec); err != nil {
			return nil, err
		}
	}
	return out.Bytes(), nil
}
