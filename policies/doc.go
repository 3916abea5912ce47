// Package policies is the SRE's description of one cluster: model classes,
// their SLOs, scaling rules and placement, the nodegroups they run on, and
// cluster-wide rules, kept as YAML files in a directory of a Git repo.
//
// Flow:
//
//	*.yaml files --parse--> YAML node trees --decode (strict, positions)--> documents
//	  --merge (duplicates are findings)--> Policy --Default--> --Validate--> Policy or *FindingsError
//
// Load reads every *.yaml and *.yml file directly in a directory (not
// subdirectories, not hidden files), decodes each document strictly by its
// apiVersion and kind through a YAML node tree so every field path has a
// line and column, merges them into one Policy, applies defaults in one
// place (Default) and validates ranges and cross-references against the GPU
// catalog with the policy's overrides (Validate). All findings of a run are
// collected, each as "file:line:col: field: message", and returned together
// in a *FindingsError.
//
// The packer, scaler and simulator read the loaded Policy directly and use
// its query methods: Catalog, Options (every nodegroup and slice profile a
// class can run on, and why the others are ruled out), Horizon and
// HorizonOn (boot + MIG re-partition + model load), MinReplicasAt (scheduled
// minimums at a given time), MaxUnavailable and Disruption.AllowedAt. Diff
// and Explain compare and render loaded policies for `headroom policy`.
//
// Only files are read; nothing here keeps global state, and functions that
// depend on time take it as an argument. docs/policies.md documents the file
// format, every default and the commands.
package policies
