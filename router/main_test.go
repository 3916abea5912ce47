package router

import (
	"flag"
	"os"
	"testing"
)

// TestMain fixes rapid's seed (unless -rapid.seed or RAPID_SEED says
// otherwise), so the property tests are deterministic like the rest.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("rapid.seed"); f != nil && f.Value.String() == "0" && os.Getenv("RAPID_SEED") == "" {
		_ = f.Value.Set("20261129")
	}
	os.Exit(m.Run())
}
