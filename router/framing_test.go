package router

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConflictingFramingRefused: a request with both Content-Length and
// Transfer-Encoding is refused with 400 and the connection closed, so a
// request smuggled after the chunked end is never served (RFC 9112 section
// 6.3: a server may reject such a message and must then close).
func TestConflictingFramingRefused(t *testing.T) {
	be, n := countingBackend(t)
	r, _ := serveRouter(t, fmt.Sprintf(`models: [{class: a, versions: [{name: v1, endpoints: [%q]}]}]`, be))
	for _, te := range []string{"chunked", "identity, chunked", "gzip, chunked"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(r.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		auth := "Authorization: Bearer " + keyAcme + "\r\nX-Model-Class: a\r\n"
		_, _ = fmt.Fprintf(conn, "POST /infer HTTP/1.1\r\nHost: x\r\n%sContent-Length: 40\r\nTransfer-Encoding: %s\r\n\r\n0\r\n\r\n"+
			"GET /smuggled HTTP/1.1\r\nHost: x\r\n%s\r\n", auth, te, auth)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("TE %q: %v", te, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotImplemented {
			t.Errorf("TE %q with Content-Length answered %d, want 400", te, resp.StatusCode)
		}
		if resp2, err := http.ReadResponse(br, nil); err == nil {
			resp2.Body.Close()
			t.Errorf("TE %q: the request after the chunked end was answered %d; the connection must close", te, resp2.StatusCode)
		}
	}
	if got := n.Load(); got != 0 {
		t.Errorf("the backend saw %d requests, want 0", got)
	}
}

// FuzzConflictingFraming: never a panic, and a header block is reported
// only when it names both framing headers.
func FuzzConflictingFraming(f *testing.F) {
	f.Add([]byte("Host: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("content-length:1\ntransfer-encoding :x"))
	f.Add([]byte("X-Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := conflictingFraming(raw)
		lower := strings.ToLower(string(raw))
		if got && !(strings.Contains(lower, "content-length") && strings.Contains(lower, "transfer-encoding")) {
			t.Fatalf("%q reported without both headers", raw)
		}
		if strings.HasPrefix(lower, "content-length:") && strings.Contains(lower, "\ntransfer-encoding:") && !got {
			t.Fatalf("%q has both headers, not reported", raw)
		}
	})
}
