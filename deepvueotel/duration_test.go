package deepvueotel_test

import (
	"context"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueotel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// sleepLimiter makes every call wait at least d before each attempt.
type sleepLimiter time.Duration

func (l sleepLimiter) Wait(ctx context.Context) error {
	t := time.NewTimer(time.Duration(l))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// histograms returns the float64 histograms recorded, by metric name.
func (e *env) histograms(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, e.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if _, ok := m.Data.(metricdata.Histogram[float64]); ok {
				out[m.Name] = m
			}
		}
	}
	return out
}

func TestCallDurationHistogram(t *testing.T) {
	const wait = 30 * time.Millisecond
	e := newEnv(t, deepvue.WithRateLimiter(sleepLimiter(wait)))
	e.answer = func(n int) (int, string) {
		if n == 1 {
			return 500, "SOURCE_FAILURE" // retried: the call spans two attempts
		}
		return 200, "SUCCESS"
	}
	require.NoError(t, e.generate(context.Background()))
	e.answer = func(int) (int, string) { return 409, "VERIFICATION_PENDING" }
	require.Error(t, e.generate(context.Background()))
	e.answer = func(int) (int, string) { return 200, "SUCCESS" }
	require.NoError(t, e.verify(context.Background()))

	hs := e.histograms(t)
	m, ok := hs[deepvueotel.CallDurationMetric]
	require.True(t, ok, "%s recorded", deepvueotel.CallDurationMetric)
	assert.Equal(t, "deepvue.client.call.duration", m.Name)
	assert.Equal(t, "s", m.Unit)
	points := map[string]metricdata.HistogramDataPoint[float64]{}
	for _, p := range m.Data.(metricdata.Histogram[float64]).DataPoints {
		points[kv(p.Attributes)] = p
	}
	require.Len(t, points, 3, "one series per operation and outcome: %v", points)
	okGen, found := points["[deepvue.operation=generate-otp deepvue.outcome=ok]"]
	require.True(t, found, "%v", points)
	_, found = points["[deepvue.operation=generate-otp deepvue.outcome=ErrVerificationPending]"]
	require.True(t, found, "%v", points)
	_, found = points["[deepvue.operation=verify-otp deepvue.outcome=ok]"]
	require.True(t, found, "%v", points)
	assert.Equal(t, uint64(1), okGen.Count)

	// The whole call: the limiter's wait before each of its two attempts,
	// and both attempts.
	var attempts float64
	req := hs["http.client.request.duration"]
	for _, p := range req.Data.(metricdata.Histogram[float64]).DataPoints {
		if v, _ := p.Attributes.Value("url.template"); v.AsString() == deepvueotelGeneratePath {
			if s, _ := p.Attributes.Value("http.response.status_code"); s.AsInt64() != 409 {
				attempts += p.Sum
			}
		}
	}
	assert.Positive(t, attempts)
	assert.GreaterOrEqual(t, okGen.Sum, 2*wait.Seconds()+attempts,
		"the call duration holds the limiter waits and every attempt")
	assertNothingSensitive(t, e.everything(t))
}

const deepvueotelGeneratePath = "/v2/ekyc/aadhaar/generate-otp"

func TestAttemptDurationHasURLTemplate(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.generate(context.Background()))
	require.NoError(t, e.verify(context.Background()))
	m := e.histograms(t)["http.client.request.duration"]
	var templates []string
	for _, p := range m.Data.(metricdata.Histogram[float64]).DataPoints {
		v, ok := p.Attributes.Value(attribute.Key("url.template"))
		require.True(t, ok, "url.template on %s", kv(p.Attributes))
		templates = append(templates, v.AsString())
	}
	assert.ElementsMatch(t, []string{deepvueotelGeneratePath, "/v2/ekyc/aadhaar/verify-otp"}, templates,
		"generate-otp and verify-otp latencies in separate series")
}
