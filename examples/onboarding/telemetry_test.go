package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueotel"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace/noop"
)

// TestTracingExportsOverOTLP runs the service as main wires it with
// OTEL_EXPORTER_OTLP_ENDPOINT set, against a local OTLP/HTTP receiver, and
// checks what reaches the collector: the SDK's spans inside the server's,
// and no Aadhaar number, OTP or secret.
func TestTracingExportsOverOTLP(t *testing.T) {
	var mu sync.Mutex
	var payloads [][]byte
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		payloads = append(payloads, b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	defer otel.SetTracerProvider(noop.NewTracerProvider())
	defer otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())

	enabled, shutdown, err := setupTracing(context.Background())
	require.NoError(t, err)
	require.True(t, enabled)
	fake := deepvuetest.NewServer()
	defer fake.Close()
	kyc, err := deepvue.NewClient(fake.ClientID, fake.ClientSecret, deepvue.WithBaseURL(fake.URL),
		deepvue.WithObserver(deepvueotel.NewObserver()))
	require.NoError(t, err)
	defer kyc.CloseIdleConnections()
	api := httptest.NewServer(otelhttp.NewHandler(newService(kyc, slog.New(slog.NewTextHandler(io.Discard, nil))).routes(), "onboarding"))
	defer api.Close()

	resp, err := http.Post(api.URL+"/kyc/otp", "application/json", strings.NewReader(otpBody("2341 2341 2346")))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, shutdown(ctx), "flushes the spans to the collector")
	mu.Lock()
	all := bytes.Join(payloads, nil)
	mu.Unlock()
	require.NotEmpty(t, all, "the collector received spans")
	for _, name := range []string{"onboarding", "deepvue generate-otp", "POST /v2/ekyc/aadhaar/generate-otp", "aadhaar_number=REDACTED"} {
		assert.Contains(t, string(all), name)
	}
	for _, s := range []string{"234123412346", "2341 2341 2346", fake.ClientSecret} {
		assert.NotContains(t, string(all), s)
	}
}
