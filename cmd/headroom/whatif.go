package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/headroom-dev/headroom/policies"
	"github.com/headroom-dev/headroom/simulations"
)

// outMarkdown is whatif's pull-request comment format. Its exit codes are
// the policy commands' (exitClean, exitFound, exitTrouble): 0 head keeps
// every SLO target base met, 1 head breaks one, 2 could not run (a policy
// with findings, a bad revision or flag).
const outMarkdown = "markdown"

type whatifFlags struct {
	base, head, policyDir string
	sim                   simulateFlags
}

func newWhatifCmd(a *app) *cobra.Command {
	var f whatifFlags
	cmd := &cobra.Command{
		Use:   "whatif --base REF --head REF --trace T [--policy-dir PATH]",
		Short: "What a policy change does: base and head of a policy repo on one trace, for a pull request",
		Long: `whatif reads the policy directory at two Git revisions of the repository it
is in, lints both, and replays the trace with headroom's controller on each,
the baselines (default hpa-ca) and the clairvoyant bound on head's, all with
the same seed, so every run sees the same requests. It prints the verdict,
the totals (within SLO, worst 5-minute window, $/h, $/week), per class
within SLO, worst 5 minutes and ready replicas on base and head, and the
semantic policy diff. -o markdown is a pull-request comment (GitHub tables,
under 64 KiB), -o json is for machines.

--head defaults to HEAD; when HEAD is checked out and the policy directory
has uncommitted changes, the work tree is head. Both policies must serve the
same classes.

` + traceTimeHelp + `

Exit status: 0 head keeps every SLO target base met, 1 head breaks one,
2 could not run (a policy with findings, an unknown revision, bad input).`,
		Example: `  headroom whatif --base origin/main --head HEAD --trace traces/last-week.csv -o markdown > comment.md
  headroom whatif --base HEAD~1 --trace t.csv --policy-dir clusters/eu-central-1 --mix reader-en=0.7,reader-de=0.3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runWhatif(cmd.Context(), a, f) },
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return trouble(a, err) })
	fl := cmd.Flags()
	fl.StringVar(&f.base, "base", "", "the revision the change is judged against, e.g. origin/main (required)")
	fl.StringVar(&f.head, "head", "HEAD", "the revision with the change; HEAD with uncommitted changes means the work tree")
	fl.StringVar(&f.policyDir, "policy-dir", ".", "the policy directory inside the repository")
	s := &f.sim
	fl.StringVar(&s.trace, "trace", "", "trace file: per-request CSV, rate CSV or Prometheus query_range JSON (required)")
	fl.StringArrayVar(&s.baselines, "baseline", []string{"hpa-ca"}, "baselines to run on head's policy: hpa-ca, static or none")
	fl.StringVar(&s.mix, "mix", "", "class shares for a trace without classes, e.g. reader-en-large=0.6,reader-en-base=0.4")
	fl.Uint64Var(&s.seed, "seed", 1, "random seed (same seed, same result)")
	fl.StringVar(&s.duration, "duration", "", "replay only the first part of the trace, e.g. 72h")
	fl.Float64Var(&s.scale, "scale", 1, "load multiplier")
	fl.StringVar(&s.mode, "mode", "auto", "request, flow or auto")
	fl.StringVar(&s.packer, "packer", "greedy", "headroom's packer: greedy or binpack")
	fl.StringVarP(&s.output, "output", "o", outText, "output format: text, markdown or json")
	fl.BoolVar(&s.noBound, "no-bound", false, "do not run the clairvoyant bound")
	fl.StringVar(&s.report, "report", "", "also write the self-contained HTML report of the runs here (a CI artifact beside the comment)")
	return cmd
}

func runWhatif(ctx context.Context, a *app, f whatifFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	s := f.sim
	if err := checkFormat(s.output, outText, outMarkdown, outJSON); err != nil {
		return trouble(a, err)
	}
	if f.base == "" {
		return trouble(a, errors.New("--base is required: the revision the change is judged against, e.g. origin/main"))
	}
	if s.trace == "" {
		return trouble(a, errors.New("--trace is required"))
	}
	repo, err := openRepo(ctx, f.policyDir)
	if err != nil {
		return trouble(a, err)
	}
	tmp, err := os.MkdirTemp("", "headroom-whatif-")
	if err != nil {
		return trouble(a, err)
	}
	defer os.RemoveAll(tmp)
	baseSide, baseDir, err := repo.checkout(ctx, f.base, filepath.Join(tmp, "base"), false)
	if err != nil {
		return trouble(a, err)
	}
	headSide, headDir, err := repo.checkout(ctx, f.head, filepath.Join(tmp, "head"), true)
	if err != nil {
		return trouble(a, err)
	}
	base, err := lintSide(a, baseSide, baseDir, repo.rel)
	if err != nil {
		return err
	}
	head, err := lintSide(a, headSide, headDir, repo.rel)
	if err != nil {
		return err
	}
	if err := sameClasses(base, head); err != nil {
		return trouble(a, err)
	}
	cmp, err := whatifCompare(ctx, a, s, head, base)
	if err != nil {
		return err
	}
	wi, err := simulations.NewWhatIf(cmp, baseSide, headSide, policies.Diff(base, head))
	if err != nil {
		return trouble(a, err)
	}
	if err := writeReport(a, s.report, cmp); err != nil {
		return err
	}
	switch s.output {
	case outJSON:
		err = writeJSON(a.stdout, wi)
	case outMarkdown:
		err = wi.WriteMarkdown(a.stdout)
	default:
		err = wi.WriteText(a.stdout)
	}
	if err != nil {
		return err
	}
	if !wi.Pass {
		return exitError{exitFound}
	}
	return nil
}

// whatifCompare runs head, base, the baselines (on head) and the bound.
func whatifCompare(ctx context.Context, a *app, s simulateFlags, head, base *policies.Policy) (*simulations.Comparison, error) {
	mode, err := simulations.ParseMode(s.mode)
	if err != nil {
		return nil, trouble(a, err)
	}
	var dur time.Duration
	if s.duration != "" {
		if dur, err = time.ParseDuration(s.duration); err != nil || dur < 0 {
			return nil, trouble(a, fmt.Errorf("--duration %q: want a duration such as 72h", s.duration))
		}
	}
	mix, err := simulations.ParseMix(s.mix)
	if err != nil {
		return nil, trouble(a, err)
	}
	baselines, err := parseBaselines(s.baselines)
	if err != nil {
		return nil, trouble(a, err)
	}
	hopts, err := headroomOptions(s.packer)
	if err != nil {
		return nil, trouble(a, err)
	}
	tr, err := readTrace(s.trace)
	if err != nil {
		return nil, trouble(a, err)
	}
	var classes []string
	for _, c := range head.Classes {
		classes = append(classes, c.Name)
	}
	wl, err := simulations.NewWorkload(tr, simulations.WorkloadOptions{Classes: classes, Mix: mix, Scale: s.scale,
		Duration: dur, Seed: s.seed, Poisson: mode == simulations.ModeRequest})
	if err != nil {
		return nil, trouble(a, err)
	}
	warnTimeRules(a, wl.Start, head, base)
	cs := []simulations.Contender{
		{PolicyName: "head", Policy: head, Controller: simulations.NewHeadroom(hopts)},
		{PolicyName: "base", Policy: base, Controller: simulations.NewHeadroom(hopts)},
	}
	for _, b := range baselines {
		fac, _ := simulations.Baseline(b, simulations.HPAOptions{})
		cs = append(cs, simulations.Contender{PolicyName: "head", Policy: head, Controller: fac})
	}
	return compare(ctx, a, simulations.CompareOptions{Contenders: cs, Workload: wl, Seed: s.seed, Mode: mode, NoBound: s.noBound})
}

// lintSide loads one side's policy; findings are printed with the side's
// revision and the path in the repository, and the command exits 2.
func lintSide(a *app, side simulations.Side, dir, rel string) (*policies.Policy, error) {
	p, err := policies.Load(dir)
	if policies.IsFindings(err) {
		for _, fd := range policies.FindingsOf(err) {
			if r, err := filepath.Rel(dir, fd.File); err == nil && !strings.HasPrefix(r, "..") {
				fd.File = side.Ref + ":" + filepath.ToSlash(filepath.Join(rel, r))
			}
			fmt.Fprintln(a.stderr, fd.String())
		}
		fmt.Fprintf(a.stderr, "headroom: the policy at %s has findings; fix them first (headroom policy lint)\n", side)
		return nil, exitError{exitTrouble}
	}
	if err != nil {
		return nil, trouble(a, fmt.Errorf("policy at %s: %w", side, err))
	}
	return p, nil
}

// sameClasses checks both policies serve the same classes, and puts
// base's in head's order (the workload's).
func sameClasses(base, head *policies.Policy) error {
	idx := map[string]int{}
	for i, c := range head.Classes {
		idx[c.Name] = i
	}
	var added, removed []string
	for _, c := range base.Classes {
		if _, ok := idx[c.Name]; !ok {
			removed = append(removed, c.Name)
		}
	}
	if len(base.Classes) != len(head.Classes) || len(removed) > 0 {
		inBase := map[string]bool{}
		for _, c := range base.Classes {
			inBase[c.Name] = true
		}
		for _, c := range head.Classes {
			if !inBase[c.Name] {
				added = append(added, c.Name)
			}
		}
		return fmt.Errorf("head adds classes %v and removes %v: whatif compares policies that serve the same classes (simulate head alone with headroom simulate)", added, removed)
	}
	ordered := make([]policies.ModelClass, len(head.Classes))
	for _, c := range base.Classes {
		ordered[idx[c.Name]] = c
	}
	base.Classes = ordered
	return nil
}

// gitRepo is the repository a policy directory is in.
type gitRepo struct {
	root string // the work tree's top
	rel  string // the policy directory, relative to root, with slashes; "." at the top
}

func openRepo(ctx context.Context, dir string) (*gitRepo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("--policy-dir %s: not a directory", dir)
	}
	out, err := git(ctx, abs, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("--policy-dir %s is not in a Git work tree: %w", dir, err)
	}
	root := strings.TrimSpace(out)
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, err
	}
	rootReal, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(rootReal, real)
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("--policy-dir %s is outside the repository at %s", dir, root)
	}
	return &gitRepo{root: rootReal, rel: filepath.ToSlash(rel)}, nil
}

// checkout writes the policy files (*.yaml, *.yml directly in the
// directory, as Load reads them) at ref into dst and returns the side and
// the directory to load. For head (workTree), HEAD checked out with
// uncommitted changes in the policy directory is the work tree itself.
func (r *gitRepo) checkout(ctx context.Context, ref, dst string, workTree bool) (simulations.Side, string, error) {
	side := simulations.Side{Ref: ref}
	commit, err := git(ctx, r.root, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err != nil {
		return side, "", fmt.Errorf("revision %q: not a commit in %s", ref, r.root)
	}
	side.Commit = strings.TrimSpace(commit)
	if workTree {
		headCommit, _ := git(ctx, r.root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
		dirty, err := git(ctx, r.root, "status", "--porcelain", "--untracked-files=all", "--", r.rel)
		if err != nil {
			return side, "", err
		}
		if strings.TrimSpace(headCommit) == side.Commit && strings.TrimSpace(dirty) != "" {
			side.Dirty = true
			return side, filepath.Join(r.root, filepath.FromSlash(r.rel)), nil
		}
	}
	tree := side.Commit + ":"
	if r.rel != "." {
		tree += r.rel
	}
	ls, err := git(ctx, r.root, "ls-tree", "-z", "--end-of-options", tree)
	if err != nil {
		return side, "", fmt.Errorf("%s has no directory %s", side, r.rel)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return side, "", err
	}
	for _, e := range policyFiles(ls) {
		data, err := git(ctx, r.root, "cat-file", "blob", e.object)
		if err != nil {
			return side, "", fmt.Errorf("reading %s at %s: %w", e.name, side, err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.name), []byte(data), 0o644); err != nil {
			return side, "", err
		}
	}
	return side, dst, nil
}

// treeEntry is a file of a Git tree: its blob and its name.
type treeEntry struct{ object, name string }

// policyFiles reads `git ls-tree -z` output ("<mode> <type> <object>\t<name>"
// entries, NUL-terminated) and returns the blobs Load would read: *.yaml
// and *.yml files directly in the tree, with plain names.
func policyFiles(ls string) []treeEntry {
	var out []treeEntry
	for _, entry := range strings.Split(ls, "\x00") {
		meta, name, ok := strings.Cut(entry, "\t")
		fields := strings.Fields(meta)
		if !ok || len(fields) != 3 || fields[1] != "blob" || name != filepath.Base(name) || strings.ContainsAny(name, "/\\") {
			continue
		}
		if ext := filepath.Ext(name); ext != ".yaml" && ext != ".yml" {
			continue
		}
		out = append(out, treeEntry{object: fields[2], name: name})
	}
	return out
}

// git runs the git CLI in dir and returns its stdout; an error carries
// its stderr.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(errOut.String()); msg != "" {
			return "", fmt.Errorf("git %s: %s", args[0], msg)
		}
		return "", fmt.Errorf("git %s: %w", args[0], err)
	}
	return out.String(), nil
}
