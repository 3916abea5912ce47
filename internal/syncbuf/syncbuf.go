// Package syncbuf is a bounded, goroutine-safe output buffer for tests:
// the output of a server process (Prometheus, kube-apiserver, etcd) or of
// a command run in a goroutine, kept for failure messages.
package syncbuf

import (
	"bytes"
	"sync"
)

// Limit is how much a Buffer keeps; later writes are dropped (and
// reported written, so the writer never fails).
const Limit = 1 << 20

// Buffer is an io.Writer safe for concurrent use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > Limit {
		return len(p), nil
	}
	return s.b.Write(p)
}

// String returns everything kept.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tail returns the last n bytes kept.
func (s *Buffer) Tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
