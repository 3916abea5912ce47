// Package catalog holds the facts headroom plans with: GPU models with their
// MIG geometry (profiles, memory and compute slices, allowed start positions,
// usable memory) and AWS instance types with their GPUs and prices.
//
// Data flows one way: Default builds the built-in catalog, policy files may
// add instance types and override prices on a Clone, and the packer and the
// policy validator read it. Nothing here does I/O or keeps global state.
//
// MIG placement rules (NVIDIA MIG User Guide, "Supported MIG profiles"):
// a GPU has 7 compute slices and 8 memory slices; an instance takes a
// contiguous run of memory slices from one of its allowed starts; instances
// may not overlap in memory, and their compute slices add up to at most 7.
// So 3g at start 4 (memory slices 4-7) excludes a 1g at 6, 4g+3g is legal,
// and 7 x 1g is legal. GPU.ValidateLayout checks a layout, GPU.Layouts
// enumerates all of them, GPU.Place adds one instance to a layout.
package catalog
