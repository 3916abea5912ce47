// Package binpack decides where model replicas run: which GPU slice each
// replica gets, how each GPU is partitioned by MIG, and how many nodes of each
// spot or on-demand nodegroup run, at the lowest cost it finds, with a proven
// lower bound that says how far a plan is from the best possible.
//
// The GPU and instance catalog lives in the subpackage catalog. This package
// is pure: a Problem (classes with demand and options, nodegroups, the
// current state, knobs) in, a Plan out. binpack/frompolicy builds a Problem from a
// loaded policy directory and a demand file; ParseDemand, ParseState and
// ParseProblem read the file formats of docs/binpack.md.
//
// How Solve works:
//
//  1. compile checks the input (typed errors naming the class) and turns
//     every nodegroup into slot kinds and legal layouts (patterns: the
//     distinct maximal MIG layouts for mig-dynamic, the one layout for
//     mig-fixed, one slot for whole GPUs, N shares plus a memory budget for
//     time-sliced GPUs), and every class into candidates (nodegroup, slot
//     kind) where its memory fits and policy allows.
//  2. The first-fit-decreasing baseline (SolveFFD) gives a first plan.
//  3. bound runs column generation on the LP relaxation of the pattern
//     formulation (bound.go): the restricted master, a dense tableau
//     (simplex.go) that takes new columns and yields duals, holds every
//     layout and one column per round of the classes' cheapest choices at
//     the master's slot prices. Every round evaluates the Lagrangian L(π),
//     which is a proven lower bound for any π >= 0; the best one is
//     reported. Tests check the LP value against gonum's lp.Simplex.
//  4. The LP's allocation is rounded to whole replicas (solveWith/fill),
//     each nodegroup's slot demand is packed by the cutting-stock LP over
//     its layouts plus a greedy remainder (packLP), replicas move off
//     nodegroups over their max (repair), and a local search empties
//     partly used nodes when that is cheaper (improve).
//  5. With a current state, a plan that keeps current replicas and layouts
//     competes with the fresh one; the fresh one wins only if it saves more
//     than ChangeCost per replica it moves.
//  6. materialize lays GPUs out on nodes (existing nodes and GPUs with the
//     same layout first, so an unchanged demand changes nothing), seats
//     replicas (current slots first), names the nvidia.com/mig.config of each
//     node, builds the mig-parted configs, and lists the changes and the
//     reasons.
//  7. proveBound (intbound.go) makes the bound integer-aware for problems
//     of up to 100 classes: whole replicas per class at the LP's prices,
//     node costs rounded to whole nodes, and a branch and bound on node
//     counts with the plan as incumbent. A gap of 0 proves the plan
//     optimal.
//
// Everything is deterministic: no maps are iterated without sorting, ties
// break on index. Options bound the search (BoundIterations, BoundNodes,
// Deadline); the bound is valid whenever the search stops.
package binpack
