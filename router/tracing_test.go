package router

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TestOTLPExport sends a span through the real OTLP/HTTP exporter to a
// loopback endpoint standing in for Jaeger's or a Collector's 4318.
func TestOTLPExport(t *testing.T) {
	var mu sync.Mutex
	var paths, types []string
	var size int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		paths = append(paths, r.URL.Path)
		types = append(types, r.Header.Get("Content-Type"))
		size += len(b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	ctx := context.Background()
	tp, shutdown, err := NewTracerProvider(ctx, TracingConfig{Enabled: true, Endpoint: strings.TrimPrefix(srv.URL, "http://"),
		Insecure: true, SampleRatio: 1, ServiceName: "router-test"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("t").Start(ctx, "router a", trace.WithSpanKind(trace.SpanKindServer))
	span.End()
	if err := shutdown(ctx); err != nil {
		t.Fatalf("flushing spans: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) == 0 || paths[0] != "/v1/traces" || types[0] != "application/x-protobuf" || size == 0 {
		t.Fatalf("exporter sent %v %v (%d bytes)", paths, types, size)
	}
}

func TestTracingOffByDefault(t *testing.T) {
	c, err := Parse([]byte("models: [{class: a, versions: [{name: v1, endpoints: ['h:1']}]}]"))
	if err != nil {
		t.Fatal(err)
	}
	tp, shutdown, err := NewTracerProvider(context.Background(), c.Tracing)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tp.(noop.TracerProvider); !ok {
		t.Fatalf("tracer provider %T, want the no-op one", tp)
	}
	_ = shutdown(context.Background())
}
