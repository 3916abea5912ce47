package router

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// NewTracerProvider returns the tracer provider the config asks for: a
// no-op one when tracing is off (the default), else an SDK provider that
// samples SampleRatio of new traces (respecting the caller's sampling
// decision in an incoming W3C traceparent) and exports over OTLP/HTTP, which
// Jaeger and the OpenTelemetry Collector accept. The returned shutdown
// flushes pending spans.
func NewTracerProvider(ctx context.Context, c TracingConfig) (trace.TracerProvider, func(context.Context) error, error) {
	if !c.Enabled {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(c.Endpoint)}
	if c.Insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("creating OTLP exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SampleRatio))),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(c.ServiceName))),
	)
	return tp, tp.Shutdown, nil
}
