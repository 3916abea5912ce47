// Package frompolicy builds binpack's packing problem from a loaded policy:
// the one path from policy files to the solver's input, used by `headroom
// pack` (Problem) and by the controller's packer seam (NodeGroup,
// ClassOptions), so that both pack the same nodegroups with the same
// options. It sits outside the solver so binpack imports nothing above
// binpack/catalog.
package frompolicy
