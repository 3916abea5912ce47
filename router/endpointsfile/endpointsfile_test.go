package endpointsfile

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/router/endpointslices"
)

func TestParse(t *testing.T) {
	m, err := Parse([]byte(`{"r/en": ["127.0.0.2:8000", "127.0.0.1:8000", "127.0.0.2:8000"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := m["r/en"]; !slices.Equal(got, []string{"127.0.0.1:8000", "127.0.0.2:8000"}) {
		t.Errorf("r/en = %v", got)
	}
	for _, bad := range []string{`{"en": []}`, `{"r/en": ["127.0.0.1"]}`, `[1]`} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

// The source reports the file's set, then each change, and keeps the last
// set when the file turns bad.
func TestRunFollowsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "endpoints.yaml")
	write := func(s string) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(`r/en: ["127.0.0.1:8000"]`)
	got := make(chan []string, 10)
	src := &Source{Path: path, Interval: 10 * time.Millisecond,
		Targets: []endpointslices.Target{{Class: "en", Version: "v1", Namespace: "r", Service: "en"}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(class, version string, addrs []string) error {
			if class != "en" || version != "v1" {
				t.Errorf("update %s/%s", class, version)
			}
			got <- addrs
			return nil
		})
	}()
	next := func() []string {
		t.Helper()
		select {
		case a := <-got:
			return a
		case <-time.After(5 * time.Second):
			t.Fatal("no update within 5s")
			return nil
		}
	}
	if a := next(); !slices.Equal(a, []string{"127.0.0.1:8000"}) {
		t.Fatalf("first %v", a)
	}
	write(`not: [valid`)
	write(`r/en: ["127.0.0.1:8000", "127.0.0.3:8000"]`)
	if a := next(); !slices.Equal(a, []string{"127.0.0.1:8000", "127.0.0.3:8000"}) {
		t.Fatalf("second %v", a)
	}
	write(`{}`)
	if a := next(); len(a) != 0 {
		t.Fatalf("emptied: %v", a)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
