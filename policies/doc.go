// Package policies is the SRE's description of one cluster: model classes,
// their SLOs, scaling rules and placement, the nodegroups they run on, and
// cluster-wide rules, kept as YAML files in a directory of a Git repo.
//
// Flow: Load reads every *.yaml file of a directory, decodes each document
// strictly by its apiVersion and kind, merges them into one Policy, applies
// defaults in one place and validates cross-references against the GPU
// catalog. Every finding carries file, line and column. Diff and Explain
// compare and render loaded policies. Only files are read; nothing else.
package policies
