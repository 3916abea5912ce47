package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				b.Write([]byte("x"))
			}
		}()
	}
	wg.Wait()
	if got := b.String(); len(got) != 800 || strings.Trim(got, "x") != "" {
		t.Fatalf("%d bytes", len(got))
	}
	if b.Tail(3) != "xxx" {
		t.Errorf("tail %q", b.Tail(3))
	}
	big := make([]byte, Limit+10)
	b.Write(big)
	if n, _ := b.Write([]byte("dropped")); n != 7 || strings.HasSuffix(b.String(), "dropped") {
		t.Error("writes past the limit must be dropped, reported written")
	}
}
