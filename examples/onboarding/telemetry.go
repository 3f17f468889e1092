package main

import (
	"context"
	"errors"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// setupTracing exports traces over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT
// is set (the exporter reads the standard OTEL_EXPORTER_OTLP_* variables),
// and makes its provider and the W3C trace context the global ones, which
// deepvueotel.NewObserver and otelhttp use. Without the variable it does
// nothing. shutdown flushes what is buffered.
func setupTracing(ctx context.Context) (enabled bool, shutdown func(context.Context) error, err error) {
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return false, func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return false, nil, err
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName("onboarding-example")))
	if err != nil && !errors.Is(err, resource.ErrSchemaURLConflict) {
		return false, nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return true, tp.Shutdown, nil
}
