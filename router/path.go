package router

import (
	"net/http"
	"net/url"
	"strings"
)

// errBadPath refuses a request target the router will not pass on: one
// that climbs above the root, hides a separator in an escape, or holds a
// control character or a broken escape.
var errBadPath = &RequestError{Status: http.StatusBadRequest, Code: "bad_path",
	Message: "the request path is not a plain absolute path"}

// NormalizePath returns the escaped request path in the one form the router
// classifies and forwards (RFC 3986 section 5.2.4 and 6.2.2): dot segments
// ("." and "..", also escaped as %2e) are resolved and empty segments
// dropped, so "/v1/models/a/../b//infer" becomes "/v1/models/b/infer" and
// the class read from segment 2 is the class the reader is asked for. It
// refuses (errBadPath) what has no safe reading: a path that does not start
// with "/", ".." above the root, an escaped "/" or "\" (%2f, %5c: a reader
// that decodes them would see other segments than the router did), a raw
// "\", a control character or a malformed escape. A path that is already
// normal is returned as it is, without allocating.
func NormalizePath(p string) (string, error) {
	if p == "" || p[0] != '/' {
		return "", errBadPath
	}
	clean := true
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c < 0x20 || c == 0x7f || c == '\\':
			return "", errBadPath
		case c == '%':
			if i+2 >= len(p) || !ishex(p[i+1]) || !ishex(p[i+2]) {
				return "", errBadPath
			}
			switch v := unhex(p[i+1])<<4 | unhex(p[i+2]); {
			case v == '/' || v == '\\' || v < 0x20 || v == 0x7f:
				return "", errBadPath
			case v == '.':
				clean = false
			}
		case c == '/':
			if i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.') {
				clean = false
			}
		}
	}
	if clean {
		return p, nil
	}
	segs := make([]string, 0, 8)
	rest := p
	for len(rest) > 0 {
		rest = rest[1:] // the '/'
		seg := rest
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			seg, rest = rest[:j], rest[j:]
		} else {
			rest = ""
		}
		switch dotSegment(seg) {
		case 1:
			continue
		case 2:
			if len(segs) == 0 {
				return "", errBadPath
			}
			segs = segs[:len(segs)-1]
			continue
		}
		if seg != "" {
			segs = append(segs, seg)
		}
	}
	out := "/" + strings.Join(segs, "/")
	if len(segs) > 0 && (strings.HasSuffix(p, "/") || dotSegment(lastSegment(p)) > 0) {
		out += "/"
	}
	return out, nil
}

// dotSegment returns 1 for ".", 2 for "..", 0 otherwise, reading %2e as ".".
func dotSegment(seg string) int {
	if len(seg) > 6 || strings.IndexByte(seg, '.') < 0 && strings.IndexByte(seg, '%') < 0 {
		return 0
	}
	s := strings.ReplaceAll(strings.ReplaceAll(seg, "%2e", "."), "%2E", ".")
	switch s {
	case ".":
		return 1
	case "..":
		return 2
	}
	return 0
}

func lastSegment(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// keyParams are the names under which clients put API keys and tokens into
// URLs (Google's key=, OpenAPI's api_key, OAuth's access_token); a path
// segment "name=value" or a matrix parameter ";name=value" with one of
// these names is logged with its value redacted.
var keyParams = []string{"key", "api_key", "apikey", "api-key", "x-api-key", "access_token",
	"token", "auth", "authorization", "bearer", "password", "secret", "sig", "signature"}

// redacted replaces secrets in logged paths.
const redacted = "REDACTED"

// minKeyInPath is the shortest segment logPath checks against the keys: a
// SHA-256 per segment cost 1.3 us a request for /v1/models/<class>/infer
// with 8 tenants (BenchmarkLogPath), and keys shorter than this are too
// weak to protect anyway.
const minKeyInPath = 12

// logPath returns the path as the access log may hold it: a segment of at
// least minKeyInPath bytes whose unescaped text is one of the tenants' API
// keys is replaced whole, and the
// value of a known key parameter (keyParams) in a segment is replaced.
// Paths longer than 256 bytes are cut there.
func (ts *Tenants) logPath(p string) string {
	p = truncate(p, 256)
	segs := strings.Split(p, "/")
	changed := false
	for i, s := range segs {
		if r := ts.redactSegment(s); r != s {
			segs[i], changed = r, true
		}
	}
	if !changed {
		return p
	}
	return strings.Join(segs, "/")
}

func (ts *Tenants) redactSegment(seg string) string {
	if seg == "" {
		return seg
	}
	if len(seg) >= minKeyInPath { // an escaped key is no shorter than the key
		if u, err := url.PathUnescape(seg); err == nil && ts.isKey(u) {
			return redacted
		}
	}
	if strings.IndexByte(seg, '=') < 0 {
		return seg
	}
	// "name=value" or "base;name=value;name2=value2"
	parts := strings.Split(seg, ";")
	for i, part := range parts {
		name, _, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		if n, err := url.PathUnescape(name); err == nil {
			name = n
		}
		for _, k := range keyParams {
			if strings.EqualFold(strings.TrimSpace(name), k) {
				parts[i] = part[:strings.IndexByte(part, '=')+1] + redacted
				break
			}
		}
	}
	return strings.Join(parts, ";")
}
