// Package rapidseed makes the property tests deterministic: a package's
// TestMain calls Main, which fixes pgregory.net/rapid's seed unless the run
// chose one (-rapid.seed=N or RAPID_SEED), so CI and a developer see the
// same cases, and a failure reproduces with the seed rapid prints.
package rapidseed

import (
	"flag"
	"os"
	"testing"
)

// Seed is the seed used when the run does not choose one.
const Seed = "20261129"

// Main parses the test flags, fixes rapid's seed and runs the tests.
func Main(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("rapid.seed"); f != nil && f.Value.String() == "0" && os.Getenv("RAPID_SEED") == "" {
		_ = f.Value.Set(Seed)
	}
	os.Exit(m.Run())
}
