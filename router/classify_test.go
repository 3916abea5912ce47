package router

import (
	"net/http"
	"net/url"
	"testing"
	"unicode/utf8"
)

func exampleClassifier() *Classifier {
	return NewClassifier(ClassifyConfig{
		Class: []Source{{From: "header", Name: "X-Model-Class"}, {From: "path", Segment: 2},
			{From: "body", Field: "model"}, {From: "body", Field: "meta.class"}},
		Version: []Source{{From: "header", Name: "X-Model-Version"}, {From: "query", Name: "version"}},
	})
}

func TestClassify(t *testing.T) {
	k := exampleClassifier()
	tests := []struct {
		name    string
		path    string
		header  http.Header
		query   string
		body    string
		want    Route
		wantErr string
	}{
		{name: "header wins", path: "/v1/models/pathclass/infer", header: http.Header{"X-Model-Class": {"hdr"}},
			want: Route{Class: "hdr"}},
		{name: "path segment", path: "/v1/models/reader-de/infer", want: Route{Class: "reader-de"}},
		{name: "path escaped", path: "/v1/models/reader%2Dde/infer", want: Route{Class: "reader-de"}},
		{name: "double slashes", path: "//v1///models//x", want: Route{Class: "x"}},
		{name: "body field", path: "/infer", body: `{"model":"m1","input":"hi"}`, want: Route{Class: "m1"}},
		{name: "nested body field", path: "/infer", body: `{"meta":{"class":"m2"}}`, want: Route{Class: "m2"}},
		{name: "non-string body field", path: "/infer", body: `{"model":42}`, wantErr: "no_model"},
		{name: "version from query", path: "/v1/models/a", query: "version=v2", want: Route{Class: "a", Version: "v2"}},
		{name: "version header beats query", path: "/v1/models/a", query: "version=v2",
			header: http.Header{"X-Model-Version": {"v3"}}, want: Route{Class: "a", Version: "v3"}},
		{name: "nothing", path: "/", wantErr: "no_model"},
		{name: "malformed json", path: "/infer", body: `{"model":`, wantErr: "malformed_json"},
		{name: "json array", path: "/infer", body: `["model"]`, wantErr: "malformed_json"},
		{name: "two json values", path: "/infer", body: `{"model":"a"} {"model":"b"}`, wantErr: "malformed_json"},
		{name: "duplicate header", path: "/", header: http.Header{"X-Model-Class": {"a", "b"}}, wantErr: "ambiguous_header"},
		{name: "duplicate query", path: "/v1/models/a", query: "version=1&version=2", wantErr: "ambiguous_query"},
		{name: "blank header falls through", path: "/v1/models/p", header: http.Header{"X-Model-Class": {"  "}},
			want: Route{Class: "p"}},
		{name: "malformed json unused when header matches", path: "/", header: http.Header{"X-Model-Class": {"a"}},
			body: `{{{`, want: Route{Class: "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			h := tc.header
			if h == nil {
				h = http.Header{}
			}
			got, err := k.Classify(RequestParts{Path: tc.path, Header: h, Query: q, Body: []byte(tc.body)})
			if tc.wantErr != "" {
				re := AsRequestError(err)
				if re == nil || re.Code != tc.wantErr || re.Status != http.StatusBadRequest {
					t.Fatalf("got %v, %v; want a 400 %s", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// FuzzClassify: any path, header value, query and body either classify or
// give a 400 RequestError, never a panic; a classified route has a
// non-empty class.
func FuzzClassify(f *testing.F) {
	f.Add("/v1/models/a/infer", "", "version=v1", []byte(`{"model":"x"}`))
	f.Add("/", "hdr", "", []byte(`{"meta":{"class":"y"}}`))
	f.Add("/%zz/%", "", "version=%zz;&&", []byte(`{"model":`))
	f.Add("//////", "\x00", "", []byte("\xff\xfe"))
	k := exampleClassifier()
	f.Fuzz(func(t *testing.T, path, header, query string, body []byte) {
		q, _ := url.ParseQuery(query)
		h := http.Header{}
		if header != "" {
			h.Set("X-Model-Class", header)
		}
		r, err := k.Classify(RequestParts{Path: path, Header: h, Query: q, Body: body})
		if err != nil {
			re := AsRequestError(err)
			if re == nil || re.Status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400 RequestError", err)
			}
			if !utf8.ValidString(re.Message) {
				t.Fatalf("error message is not UTF-8: %q", re.Message)
			}
			return
		}
		if r.Class == "" {
			t.Fatal("classified with an empty class")
		}
	})
}

func TestPathSegment(t *testing.T) {
	for _, tc := range []struct {
		path string
		i    int
		want string
	}{
		{"/a/b/c", 0, "a"}, {"/a/b/c", 2, "c"}, {"/a/b/c", 3, ""}, {"", 0, ""}, {"/a%2Fb/c", 0, "a/b"}, {"/%zz", 0, ""},
	} {
		if got := pathSegment(tc.path, tc.i); got != tc.want {
			t.Errorf("pathSegment(%q, %d) = %q, want %q", tc.path, tc.i, got, tc.want)
		}
	}
}
