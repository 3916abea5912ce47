package incluster

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/headroom-dev/headroom/policies"
)

// Reloader reloads a policy directory when its files change, as a git-sync
// volume or a ConfigMap mount changes them (both swap a symlink, so the
// content hash, not a file's mtime, says what changed). A policy that does
// not load keeps the last good one in force and says so: a log line, the
// policy_reload_errors_total counter and policy_stale = 1.
type Reloader struct {
	dir  string
	log  *zap.Logger
	hash string

	reloads, errors prometheus.Counter
	stale           prometheus.Gauge
	// LastError is the last load error, nil once a load succeeds.
	LastError error
}

// NewReloader returns a reloader for dir; reg may be nil.
func NewReloader(dir string, log *zap.Logger, reg prometheus.Registerer) (*Reloader, error) {
	r := &Reloader{dir: dir, log: log,
		reloads: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "headroom", Subsystem: "controller", Name: "policy_reloads_total",
			Help: "Policy directory changes loaded and put in force."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "headroom", Subsystem: "controller", Name: "policy_reload_errors_total",
			Help: "Policy directory changes that did not load; the last good policy stays in force."}),
		stale: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "headroom", Subsystem: "controller", Name: "policy_stale",
			Help: "1 while the policy on disk does not load and an older one is in force."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{r.reloads, r.errors, r.stale} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// Load reads the policy now; the first call's error is fatal to the
// caller (there is no good policy yet).
func (r *Reloader) Load() (*policies.Policy, error) {
	h, err := dirHash(r.dir)
	if err != nil {
		return nil, err
	}
	p, err := policies.Load(r.dir)
	if err != nil {
		return nil, fmt.Errorf("loading policy %s: %w", r.dir, err)
	}
	r.hash = h
	return p, nil
}

// Check returns a new policy when the directory changed and loads, nil
// when it did not change or does not load (then the error is recorded and
// logged once per change).
func (r *Reloader) Check() *policies.Policy {
	h, err := dirHash(r.dir)
	if err != nil {
		r.fail(h, err)
		return nil
	}
	if h == r.hash {
		return nil
	}
	p, err := policies.Load(r.dir)
	if err != nil {
		r.fail(h, err)
		return nil
	}
	r.hash, r.LastError = h, nil
	r.reloads.Inc()
	r.stale.Set(0)
	r.log.Info("policy reloaded", zap.String("dir", r.dir), zap.String("hash", h[:12]))
	return p
}

func (r *Reloader) fail(h string, err error) {
	if h != "" && h == r.hash {
		return // already reported for this content
	}
	r.hash, r.LastError = h, err
	r.errors.Inc()
	r.stale.Set(1)
	r.log.Error("policy does not load; keeping the last good one", zap.String("dir", r.dir), zap.Error(err))
}

// dirHash hashes the names and contents of the policy files (*.yaml,
// *.yml) under dir, following the directory's own symlinks as
// policies.Load does.
func dirHash(dir string) (string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir // ConfigMap mounts keep old data in ..<timestamp> dirs
		}
		if ext := filepath.Ext(path); ext == ".yaml" || ext == ".yml" {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading policy dir: %w", err)
	}
	slices.Sort(files)
	h := sha256.New()
	for _, f := range files {
		// A named pipe would block the open for ever: hash that it is
		// there, and let policies.Load report it.
		if st, err := os.Stat(f); err != nil || !st.Mode().IsRegular() {
			io.WriteString(h, f+"\x00not a regular file\x00")
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			return "", fmt.Errorf("reading policy file: %w", err)
		}
		io.WriteString(h, f+"\x00")
		_, err = io.Copy(h, io.LimitReader(fh, 16<<20))
		fh.Close()
		if err != nil {
			return "", errors.Join(fmt.Errorf("reading %s", f), err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
