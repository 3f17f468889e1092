package deepvueotel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueotel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(benchServeEnv) != "" {
		serveBench() // this binary as the loopback benchmark's server (bench_test.go)
		return
	}
	goleak.VerifyTestMain(m)
}

// Synthetic test values: a valid Aadhaar number (python-stdnum's vector),
// a made-up OTP and mobile, and a secret.
const (
	number  = "234123412346"
	otp     = "482913"
	mobile  = "9123456780"
	secret  = "live_otel_secret_never_recorded"
	purpose = "KYC for loan account opening"
)

// sensitive is what must never appear in a span or a metric, in the
// spellings a server may echo.
var sensitive = []string{number, "2341 2341 2346", otp, mobile, secret, "aadhaar_number=2", "otp=4", "mobile_number=9"}

// env is a fake Deepvue that echoes the request (URL, query, secret) into
// every field and header of every answer, with OpenTelemetry's in-memory
// recorders around an SDK client.
type env struct {
	srv     *httptest.Server
	spans   *tracetest.SpanRecorder
	reader  *sdkmetric.ManualReader
	tp      *sdktrace.TracerProvider
	client  *deepvue.Client
	mu      sync.Mutex
	answer  func(n int) (status int, subCode string)
	n       int
	parents []string // traceparent of each request
}

func newEnv(t *testing.T, opts ...deepvue.Option) *env {
	t.Helper()
	e := &env{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	e.answer = func(int) (int, string) { return 200, "SUCCESS" }
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	e.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(e.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.reader))
	t.Cleanup(func() { _ = e.tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
	obs := deepvueotel.NewObserver(deepvueotel.WithTracerProvider(e.tp), deepvueotel.WithMeterProvider(mp),
		deepvueotel.WithPropagators(propagation.TraceContext{}))
	c, err := deepvue.NewClient("otel-client", secret, append([]deepvue.Option{deepvue.WithBaseURL(e.srv.URL),
		deepvue.WithObserver(obs), deepvue.WithRetryWait(0, 0)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	e.client = c
	return e
}

func (e *env) serve(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.n++
	n := e.n
	e.parents = append(e.parents, r.Header.Get("traceparent"))
	status, subCode := e.answer(n)
	e.mu.Unlock()
	echo := r.URL.String() + " key=" + r.Header.Get("x-api-key") + " " + r.URL.RawQuery
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Echo", echo)
	w.WriteHeader(status)
	body := map[string]any{"code": status, "sub_code": subCode, "message": echo, "transaction_id": "tx " + echo,
		"reference_id": "29756208", "detail": echo}
	if subCode == "SUCCESS" {
		body["data"] = map[string]any{"name": "Name " + echo, "maskedNumber": echo, "photo": "aGVsbG8="}
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (e *env) generate(ctx context.Context) error {
	_, err := e.client.GenerateOTP(ctx, "2341 2341 2346", deepvue.ConsentYes, purpose)
	return err
}

func (e *env) verify(ctx context.Context) error {
	_, err := e.client.VerifyOTP(ctx, deepvue.VerifyOTPRequest{ReferenceID: "29756208", OTP: otp,
		Consent: deepvue.ConsentYes, Purpose: purpose, MobileNumber: mobile})
	return err
}

// everything renders every recorded span and metric data point as text.
func (e *env) everything(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, s := range e.spans.Ended() {
		fmt.Fprintf(&b, "span %q kind=%v status=%v %q\n", s.Name(), s.SpanKind(), s.Status().Code, s.Status().Description)
		for _, a := range s.Attributes() {
			fmt.Fprintf(&b, "  %s=%s\n", a.Key, a.Value.String())
		}
		for _, ev := range s.Events() {
			fmt.Fprintf(&b, "  event %q %v\n", ev.Name, ev.Attributes)
		}
		for _, l := range s.Links() {
			fmt.Fprintf(&b, "  link %v\n", l.Attributes)
		}
	}
	var rm metricdata.ResourceMetrics
	require.NoError(t, e.reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			fmt.Fprintf(&b, "metric %s (%s)\n", m.Name, m.Unit)
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					fmt.Fprintf(&b, "  count=%d %s\n", p.Count, kv(p.Attributes))
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					fmt.Fprintf(&b, "  value=%d %s\n", p.Value, kv(p.Attributes))
				}
			}
		}
	}
	return b.String()
}

// kv renders an attribute set as [key=value ...], sorted by key.
func kv(set attribute.Set) string {
	var parts []string
	for _, a := range set.ToSlice() {
		parts = append(parts, string(a.Key)+"="+a.Value.String())
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func assertNothingSensitive(t *testing.T, text string) {
	t.Helper()
	for _, s := range sensitive {
		assert.NotContains(t, text, s)
	}
}

func attr(attrs []attribute.KeyValue, key string) (attribute.Value, bool) {
	for _, a := range attrs {
		if string(a.Key) == key {
			return a.Value, true
		}
	}
	return attribute.Value{}, false
}

// TestSpansAndMetricsForEveryOutcome drives every outcome through a server
// that echoes the number, OTP, mobile and secret everywhere, and checks the
// shape of what is recorded and that none of those values is in it.
func TestSpansAndMetricsForEveryOutcome(t *testing.T) {
	tests := []struct {
		name     string
		answer   func(n int) (int, string)
		outcome  string
		attempts int
		state    string // deepvue.otp_state of generate-otp
	}{
		{"success", func(int) (int, string) { return 200, "SUCCESS" }, "ok", 1, "sent"},
		{"retried source failure", func(n int) (int, string) {
			if n == 1 {
				return 500, "SOURCE_FAILURE"
			}
			return 200, "SUCCESS"
		}, "ok", 2, "sent"},
		{"source failure", func(int) (int, string) { return 500, "SOURCE_FAILURE" }, "ErrSourceFailure", 3, "not_sent"},
		{"pending", func(int) (int, string) { return 409, "VERIFICATION_PENDING" }, "ErrVerificationPending", 1, "pending"},
		{"not linked", func(int) (int, string) { return 400, "AADHAAR_MOBILE_NOT_LINKED" }, "ErrMobileNotLinked", 1, "not_sent"},
		{"invalid input", func(int) (int, string) { return 422, "INVALID_INPUT" }, "ErrInvalidInput", 1, "not_sent"},
		// The echoing server's 401, 429 and 503 do not carry Deepvue's documented
		// detail ("Not authenticated", "Rate limit exceeded. ...", "Source
		// Unavailable"): they may be a proxy's after forwarding, so maybe sent.
		{"unauthorized", func(int) (int, string) { return 401, "" }, "ErrUnauthorized", 1, "maybe_sent"},
		{"rate limited", func(int) (int, string) { return 429, "" }, "ErrRateLimited", 1, "maybe_sent"},
		{"unavailable", func(int) (int, string) { return 503, "" }, "ErrServiceUnavailable", 1, "maybe_sent"},
		{"unusable success", func(int) (int, string) { return 200, "NOT_SUCCESS" }, "ErrUnexpectedResponse", 1, "maybe_sent"},
		{"undocumented", func(int) (int, string) { return 502, "GATEWAY" }, "http_502", 1, "maybe_sent"},
	}
	for _, tt := range tests {
		for _, op := range []string{"generate-otp", "verify-otp"} {
			t.Run(tt.name+"/"+op, func(t *testing.T) {
				e := newEnv(t)
				e.answer = tt.answer
				call := e.generate
				if op == "verify-otp" {
					call = e.verify
				}
				err := call(context.Background())
				assert.Equal(t, tt.outcome, deepvue.Outcome(err))

				spans := e.spans.Ended()
				require.Len(t, spans, tt.attempts+1, "one span per attempt and one for the call")
				callSpan := spans[len(spans)-1]
				assert.Equal(t, "deepvue "+op, callSpan.Name())
				assert.Equal(t, trace.SpanKindClient, callSpan.SpanKind())
				for i, s := range spans[:tt.attempts] {
					assert.Equal(t, callSpan.SpanContext().SpanID(), s.Parent().SpanID(), "attempts are children of the call")
					assert.Equal(t, trace.SpanKindClient, s.SpanKind())
					assert.Equal(t, "POST /v2/ekyc/aadhaar/"+op, s.Name())
					u, _ := attr(s.Attributes(), "url.full")
					assert.Contains(t, u.AsString(), "=REDACTED")
					assert.NotContains(t, u.AsString(), purpose[:3])
					rc, ok := attr(s.Attributes(), "http.request.resend_count")
					assert.Equal(t, i > 0, ok)
					if ok {
						assert.Equal(t, int64(i), rc.AsInt64())
					}
					_, ok = attr(s.Attributes(), "http.response.status_code")
					assert.True(t, ok)
				}
				if tt.outcome == "ok" {
					assert.Equal(t, codes.Unset, callSpan.Status().Code)
				} else {
					assert.Equal(t, codes.Error, callSpan.Status().Code)
					assert.Equal(t, tt.outcome, callSpan.Status().Description, "a fixed name, never error text")
				}
				all := e.everything(t)
				assert.Contains(t, all, "metric http.client.request.duration (s)")
				state, hasState := attr(callSpan.Attributes(), "deepvue.otp_state")
				if op == "generate-otp" {
					assert.Equal(t, tt.state, deepvue.OTPStateOf(err).String())
					assert.Equal(t, tt.state, state.AsString(), "the call span carries the OTP state")
					assert.Contains(t, all, fmt.Sprintf("metric deepvue.client.calls ({call})\n  value=1 [deepvue.operation=%s deepvue.otp_state=%s deepvue.outcome=%s]", op, tt.state, tt.outcome))
				} else {
					assert.False(t, hasState, "verify-otp has no OTP state")
					assert.Contains(t, all, fmt.Sprintf("metric deepvue.client.calls ({call})\n  value=1 [deepvue.operation=%s deepvue.outcome=%s]", op, tt.outcome))
				}
				assertNothingSensitive(t, all)
				masked := "aadhaar_number=XXXX XXXX 2346" // each call masks the values it knows
				if op == "verify-otp" {
					masked = "otp=******"
				}
				assert.Contains(t, all, masked, "echoes are recorded masked")
			})
		}
	}
}

// TestTransportFailuresAndLocalValidation: attempts without an answer, and
// calls with no attempt at all, are recorded too.
func TestTransportFailuresAndLocalValidation(t *testing.T) {
	t.Run("local validation: a call span, no attempt", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.client.GenerateOTP(context.Background(), "234123412347", deepvue.ConsentYes, purpose)
		require.ErrorIs(t, err, deepvue.ErrInvalidInput)
		spans := e.spans.Ended()
		require.Len(t, spans, 1)
		assert.Equal(t, "ErrInvalidInput", spans[0].Status().Description)
		state, _ := attr(spans[0].Attributes(), "deepvue.otp_state")
		assert.Equal(t, "not_sent", state.AsString())
		maybe, _ := attr(spans[0].Attributes(), "deepvue.maybe_sent")
		assert.False(t, maybe.AsBool())
		assertNothingSensitive(t, e.everything(t))
		assert.NotContains(t, e.everything(t), "234123412347")
	})
	t.Run("refused connection: not sent", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close()
		e := newEnv(t, deepvue.WithBaseURL("http://"+addr))
		err = e.verify(context.Background())
		require.ErrorIs(t, err, deepvue.ErrNotSent)
		spans := e.spans.Ended()
		require.Len(t, spans, 2)
		et, _ := attr(spans[0].Attributes(), "error.type")
		assert.Equal(t, "not_sent", et.AsString())
		all := e.everything(t)
		assert.Contains(t, all, "error.type=not_sent")
		assertNothingSensitive(t, all)
	})
	t.Run("no answer before the deadline: may have been sent", func(t *testing.T) {
		e := newEnv(t)
		hang := make(chan struct{})
		defer close(hang)
		e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := e.generate(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		spans := e.spans.Ended()
		require.Len(t, spans, 2)
		assert.Equal(t, "timeout", spans[1].Status().Description)
		maybe, _ := attr(spans[1].Attributes(), "deepvue.maybe_sent")
		assert.True(t, maybe.AsBool())
		assertNothingSensitive(t, e.everything(t))
	})
	t.Run("a connection reset after the request was read", func(t *testing.T) {
		e := newEnv(t)
		e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		})
		err := e.verify(context.Background())
		require.Error(t, err)
		assert.Equal(t, "transport", deepvue.Outcome(err))
		assertNothingSensitive(t, e.everything(t))
	})
}

// TestTraceContextReachesTheServer: the caller's trace id arrives in the
// traceparent header of every attempt, and the SDK's spans join the trace.
func TestTraceContextReachesTheServer(t *testing.T) {
	e := newEnv(t)
	e.answer = func(n int) (int, string) {
		if n == 1 {
			return 500, "SOURCE_FAILURE"
		}
		return 200, "SUCCESS"
	}
	ctx, parent := e.tp.Tracer("caller").Start(context.Background(), "onboarding handler")
	require.NoError(t, e.generate(ctx))
	parent.End()
	traceID := parent.SpanContext().TraceID().String()
	require.Len(t, e.parents, 2)
	spans := e.spans.Ended()
	for i, tp := range e.parents {
		parts := strings.Split(tp, "-")
		require.Len(t, parts, 4, tp)
		assert.Equal(t, traceID, parts[1], "traceparent carries the caller's trace id")
		assert.Equal(t, spans[i].SpanContext().SpanID().String(), parts[2], "and the attempt's span id")
	}
	for _, s := range spans {
		assert.Equal(t, traceID, s.SpanContext().TraceID().String())
	}
	callSpan := spans[2]
	assert.Equal(t, parent.SpanContext().SpanID(), callSpan.Parent().SpanID(), "the call span joins the caller's trace")
}

// TestRecordedExample logs a span and a metric as recorded, for the docs.
func TestRecordedExample(t *testing.T) {
	e := newEnv(t)
	e.answer = func(n int) (int, string) {
		if n == 1 {
			return 500, "SOURCE_FAILURE"
		}
		return 409, "VERIFICATION_PENDING"
	}
	_ = e.generate(context.Background())
	t.Logf("recorded:\n%s", e.everything(t))
}

// TestNewObserverSetsEveryFunction: the Observer NewObserver builds sets all
// of deepvue.Observer's functions (a nil one would silently record nothing),
// unless both providers are the no-op ones: then only StartAttempt, which
// carries the caller's trace context. A no-op tracer beside a real meter
// provider (or the reverse) keeps all four.
func TestNewObserverSetsEveryFunction(t *testing.T) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()); _ = tp.Shutdown(context.Background()) })
	for name, o := range map[string]*deepvue.Observer{
		"global":                  deepvueotel.NewObserver(),
		"no-op tracer, SDK meter": deepvueotel.NewObserver(deepvueotel.WithTracerProvider(tracenoop.NewTracerProvider()), deepvueotel.WithMeterProvider(mp)),
		"SDK tracer, no-op meter": deepvueotel.NewObserver(deepvueotel.WithTracerProvider(tp), deepvueotel.WithMeterProvider(metricnoop.NewMeterProvider())),
	} {
		require.NotNil(t, o, name)
		assert.NotNil(t, o.StartCall, name)
		assert.NotNil(t, o.StartAttempt, name)
		assert.NotNil(t, o.EndAttempt, name)
		assert.NotNil(t, o.EndCall, name)
	}
	o := deepvueotel.NewObserver(deepvueotel.WithTracerProvider(tracenoop.NewTracerProvider()),
		deepvueotel.WithMeterProvider(metricnoop.NewMeterProvider()))
	require.NotNil(t, o)
	assert.NotNil(t, o.StartAttempt, "no-op providers: the caller's trace context still goes out")
	assert.Nil(t, o.StartCall)
	assert.Nil(t, o.EndAttempt)
	assert.Nil(t, o.EndCall)
}

// TestTenantOnSpansAndMetrics: a Client made WithTenant puts deepvue.tenant
// on the call's and the attempt's spans and on every metric data point; a
// Client without one puts it nowhere.
func TestTenantOnSpansAndMetrics(t *testing.T) {
	e := newEnv(t, deepvue.WithTenant("merchant-0042"))
	require.NoError(t, e.generate(context.Background()))
	require.NoError(t, e.verify(context.Background()))
	spans := e.spans.Ended()
	require.Len(t, spans, 4) // two calls, one attempt each
	for _, s := range spans {
		v, ok := attr(s.Attributes(), string(deepvueotel.TenantKey))
		assert.True(t, ok, "span %q has no tenant", s.Name())
		assert.Equal(t, "merchant-0042", v.AsString())
	}
	var rm metricdata.ResourceMetrics
	require.NoError(t, e.reader.Collect(context.Background(), &rm))
	points := 0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var sets []attribute.Set
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			}
			for _, set := range sets {
				points++
				v, ok := set.Value(deepvueotel.TenantKey)
				assert.True(t, ok, "metric %s has no tenant", m.Name)
				assert.Equal(t, "merchant-0042", v.AsString())
			}
		}
	}
	assert.GreaterOrEqual(t, points, 6, "calls, call duration and request duration, per operation")

	plain := newEnv(t)
	require.NoError(t, plain.generate(context.Background()))
	assert.NotContains(t, plain.everything(t), "deepvue.tenant")
}

// TestJoinedCallsAreMarked: two identical calls at once on one Client share
// one request; the one that joined is counted with deepvue.joined=true and
// has no attempt span, so requests (and SMS) are the calls without it.
func TestJoinedCallsAreMarked(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	arrived := make(chan struct{})
	inner := e.srv.Config.Handler
	e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		inner.ServeHTTP(w, r)
	})
	errs := make(chan error, 2)
	go func() { errs <- e.generate(context.Background()) }()
	<-arrived
	go func() { errs <- e.generate(context.Background()) }()
	// The second call joins the first once it has checked its input: wait
	// until a goroutine waits for the first one's result, then let the
	// answer through.
	require.Eventually(t, func() bool {
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "deepvue.(*call).await")
	}, 10*time.Second, time.Millisecond)
	close(release)
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	assert.Equal(t, 1, e.n, "one request")
	joined := 0
	for _, s := range e.spans.Ended() {
		if v, ok := attr(s.Attributes(), string(deepvueotel.JoinedKey)); ok && v.AsBool() {
			joined++
			assert.Equal(t, "deepvue generate-otp", s.Name())
		}
	}
	assert.Equal(t, 1, joined)
	assert.Contains(t, e.everything(t), "value=1 [deepvue.joined=true deepvue.operation=generate-otp deepvue.otp_state=sent deepvue.outcome=ok]")
}

// TestNoopProvidersKeepTheCallersTraceContext: with trace/noop's provider
// (no span is started) and metric/noop's, the caller's trace context still
// reaches the server in every attempt's traceparent, exactly as a no-op span
// would carry it, and the caller's own span is neither ended nor given an
// attribute by the Observer.
func TestNoopProvidersKeepTheCallersTraceContext(t *testing.T) {
	var mu sync.Mutex
	var parents []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		parents = append(parents, r.Header.Get("traceparent"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, successOTP)
	}))
	defer srv.Close()
	callerSpans := tracetest.NewSpanRecorder()
	callerTP := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(callerSpans))
	defer func() { _ = callerTP.Shutdown(context.Background()) }()
	obs := deepvueotel.NewObserver(deepvueotel.WithTracerProvider(tracenoop.NewTracerProvider()),
		deepvueotel.WithMeterProvider(metricnoop.NewMeterProvider()), deepvueotel.WithPropagators(propagation.TraceContext{}))
	c, err := deepvue.NewClient("otel-client", secret, deepvue.WithBaseURL(srv.URL), deepvue.WithObserver(obs))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	ctx, caller := callerTP.Tracer("caller").Start(context.Background(), "onboarding handler")
	_, err = c.GenerateOTP(ctx, number, deepvue.ConsentYes, purpose)
	require.NoError(t, err)
	assert.True(t, caller.IsRecording(), "the caller's span is not ended by the Observer")
	caller.End()
	sc := caller.SpanContext()
	require.Len(t, parents, 1)
	assert.Equal(t, "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01", parents[0])
	ended := callerSpans.Ended()
	require.Len(t, ended, 1)
	assert.Empty(t, ended[0].Attributes(), "no attribute set on the caller's span")
}
