package router

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// HeaderValues is what authentication and classification read of a
// request's headers: every value of one header. http.Header has it; the
// handler passes a view of fasthttp's headers, copying only what is read.
type HeaderValues interface {
	Values(name string) []string
}

// RequestParts is what classification reads from a request: its path,
// headers, query and (already size-limited) body.
type RequestParts struct {
	Path   string
	Header HeaderValues
	Query  url.Values
	Body   []byte
}

// Route is a classified request: the class and the version it asked for
// (Version is empty when the request named none; the split then picks one).
type Route struct {
	Class   string
	Version string
}

// Classifier reads a request's class and version from the configured sources.
// It is pure: the same parts give the same route or error.
type Classifier struct {
	class, version []Source
	needBody       bool
	needQuery      bool
}

// NewClassifier builds a classifier from the configured sources.
func NewClassifier(c ClassifyConfig) *Classifier {
	k := &Classifier{class: c.Class, version: c.Version}
	for _, s := range append(append([]Source{}, c.Class...), c.Version...) {
		switch s.From {
		case "body":
			k.needBody = true
		case "query":
			k.needQuery = true
		}
	}
	return k
}

// NeedsBody reports whether a body source is configured.
func (k *Classifier) NeedsBody() bool { return k.needBody }

// NeedsQuery reports whether a query source is configured (the router
// parses the query only then).
func (k *Classifier) NeedsQuery() bool { return k.needQuery }

// Classify returns the route named by the request. A request that names no
// class, or whose JSON body is malformed when a body source is configured,
// gets a *RequestError; whether the class exists is the caller's question.
func (k *Classifier) Classify(p RequestParts) (Route, error) {
	var body map[string]any
	var bodyErr error
	bodyParsed := false
	get := func(srcs []Source) (string, error) {
		for _, s := range srcs {
			var v string
			switch s.From {
			case "header":
				if vs := p.Header.Values(s.Name); len(vs) > 1 {
					return "", &RequestError{Status: http.StatusBadRequest, Code: "ambiguous_header",
						Message: "header " + s.Name + " appears more than once"}
				} else if len(vs) == 1 {
					v = vs[0]
				}
			case "query":
				if vs := p.Query[s.Name]; len(vs) > 1 {
					return "", &RequestError{Status: http.StatusBadRequest, Code: "ambiguous_query",
						Message: "query parameter " + s.Name + " appears more than once"}
				} else if len(vs) == 1 {
					v = vs[0]
				}
			case "path":
				v = pathSegment(p.Path, s.Segment)
			case "body":
				if !bodyParsed {
					bodyParsed = true
					body, bodyErr = parseBody(p.Body)
				}
				if bodyErr != nil {
					return "", bodyErr
				}
				v = bodyField(body, s.Field)
			}
			if v = strings.TrimSpace(v); v != "" {
				return v, nil
			}
		}
		return "", nil
	}
	class, err := get(k.class)
	if err != nil {
		return Route{}, err
	}
	if class == "" {
		return Route{}, &RequestError{Status: http.StatusBadRequest, Code: "no_model",
			Message: "the request names no model class"}
	}
	version, err := get(k.version)
	if err != nil {
		return Route{}, err
	}
	return Route{Class: class, Version: version}, nil
}

// pathSegment returns the i-th non-empty segment of an escaped path, unescaped.
func pathSegment(path string, i int) string {
	n := 0
	for len(path) > 0 {
		path = strings.TrimLeft(path, "/")
		if path == "" {
			break
		}
		seg := path
		if j := strings.IndexByte(path, '/'); j >= 0 {
			seg, path = path[:j], path[j:]
		} else {
			path = ""
		}
		if n == i {
			if u, err := url.PathUnescape(seg); err == nil {
				return u
			}
			return ""
		}
		n++
	}
	return ""
}

// parseBody parses a JSON object body; an empty body has no fields.
func parseBody(b []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, &RequestError{Status: http.StatusBadRequest, Code: "malformed_json",
			Message: "the body is not a JSON object"}
	}
	if d.More() {
		return nil, &RequestError{Status: http.StatusBadRequest, Code: "malformed_json",
			Message: "the body holds more than one JSON value"}
	}
	return m, nil
}

// bodyField follows a dotted path of object keys; only string values count.
func bodyField(m map[string]any, field string) string {
	var cur any = m
	for _, k := range strings.Split(field, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = obj[k]
	}
	s, _ := cur.(string)
	return s
}
