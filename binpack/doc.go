// Package binpack decides where model replicas run: which GPU slice each
// replica gets, how each GPU is partitioned by MIG, and how many nodes of each
// spot or on-demand nodegroup run, at the lowest cost, with a lower bound
// that says how far a plan is from the best possible.
//
// The GPU and instance catalog lives in the subpackage catalog. This package
// is pure: a snapshot, a demand and a policy in, a plan out.
package binpack
